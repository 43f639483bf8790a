/**
 * Lets the compiled CLI `require` TypeScript pipelines and plugins. Type-only transpilation with the
 * TypeScript compiler that ts-morph already ships (no extra dependency); type errors are the
 * editor's and `nas plugin check`'s business, not the loader's. Under jest, tsx or ts-node a `.ts`
 * loader is already installed and is left alone.
 */
// The module object itself (a namespace import would be a frozen copy), written so that it needs no
// esModuleInterop: this file is type-checked under users' settings too when they import hwnas.
import Module = require('node:module');
import { readFileSync } from 'node:fs';

interface CompilableModule {
  _compile(code: string, filename: string): void;
}

type Extensions = Record<string, (module: CompilableModule, filename: string) => void>;

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;

/** What this installation answers for its own package name, from source or from dist/ alike. */
const OWN_ENTRY_POINTS: Record<string, () => string> = {
  hwnas: () => require.resolve('../dsl'),
  'hwnas/plugins': () => require.resolve('./index'),
};

let packageNameResolved = false;

/**
 * Lets a user's plugin or pipeline import `hwnas/plugins` (and `hwnas`) wherever it lives: a folder
 * with hwnas installed resolves it as usual; one without (a plugin beside a pipeline, a clone's
 * checkout) gets this installation, the one that is about to run it.
 */
function ensurePackageNameResolves(): void {
  if (packageNameResolved) return;
  // Node's CommonJS resolver is reachable only through this untyped static.
  const loader = Module as unknown as { _resolveFilename: ResolveFilename };
  const original = loader._resolveFilename;
  loader._resolveFilename = function resolveWithOwnName(request, parent, isMain, options) {
    try {
      return original.call(this, request, parent, isMain, options);
    } catch (err) {
      const own = OWN_ENTRY_POINTS[request];
      if (own) return own();
      throw err;
    }
  };
  packageNameResolved = true;
}

/** Whether the `.ts` loader is this file's (not jest's, tsx's or ts-node's). */
let ownLoader = false;

export function ensureTypeScriptRequire(): void {
  ensurePackageNameResolves();
  // Node's CommonJS loader exposes its extension table only through this untyped static.
  const extensions = (Module as unknown as { _extensions?: Extensions })._extensions;
  if (!extensions || extensions['.ts']) return;
  ownLoader = true;
  extensions['.ts'] = (module, filename) => {
    // Loaded lazily: the compiler costs a few hundred milliseconds and YAML pipelines never need it.
    const { ts } = require('ts-morph') as typeof import('ts-morph');
    const output = ts.transpileModule(readFileSync(filename, 'utf8'), {
      fileName: filename,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
        inlineSourceMap: true,
      },
    });
    module._compile(output.outputText, filename);
  };
}

/**
 * Loads the compiler our `.ts` loader uses now, so that a time-limited load of a user's module
 * (plugins/bounded-load.ts) spends its time on the module, not on starting the compiler.
 */
export function loadTypeScriptCompiler(): void {
  if (ownLoader) require('ts-morph');
}
