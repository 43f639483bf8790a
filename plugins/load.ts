/**
 * Loads the user plugins a pipeline declares under `plugins:`: paths (relative to the pipeline
 * file) or package names resolved from the pipeline's folder. Nothing is discovered implicitly.
 *
 * Loading a plugin runs its code, so a pipeline may only name code it plausibly owns: a file in
 * its own folder or below, or an installed package. Anything else (`/etc/hostname`, `../../x.js`)
 * is refused unless `NAS_ALLOW_PLUGINS_OUTSIDE=1` says so, and only JavaScript or TypeScript
 * files are loaded at all. Loads are time-limited (plugins/bounded-load.ts).
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Plugin } from './api';
import { loadWithin, ModuleLoadTimeoutError } from './bounded-load';
import { builtinRegistry, PluginRegistrationError, type PluginRegistry } from './registry';
import { pluginsOfModule } from '../core/plugin-modules';
import { ensureTypeScriptRequire, loadTypeScriptCompiler } from './ts-require';

export class PluginLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PluginLoadError';
  }
}

/** Tried after the name as given: `./x` finds `./x.ts`, `./x/index.js`. */
const EXTENSIONS = ['.ts', '.js', '.cjs'];
/** What a plugin module may be; anything else (a data file, `/etc/hostname`, a `.node` addon) is not run. */
export const PLUGIN_MODULE_EXTENSIONS = ['.ts', '.js', '.mjs', '.cjs'];
/** Set to 1, a pipeline may name plugin files outside its own folder. */
export const ALLOW_PLUGINS_OUTSIDE_ENV = 'NAS_ALLOW_PLUGINS_OUTSIDE';
/** An npm package name (scoped or not), optionally a path inside it: no `..`, no drive, no scheme. */
const PACKAGE_SPEC = /^(?:@[A-Za-z0-9][A-Za-z0-9._~-]*\/)?[A-Za-z0-9][A-Za-z0-9._~-]*(?:\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*$/;

function isPathSpec(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..' || isAbsolute(spec);
}

function checkModuleExtension(file: string): string {
  if (!PLUGIN_MODULE_EXTENSIONS.includes(extname(file).toLowerCase())) {
    throw new PluginLoadError(`${file} is not a plugin module: plugin code is a ${PLUGIN_MODULE_EXTENSIONS.join(', ')} file`);
  }
  return file;
}

/** Where a declared plugin lives: a file, a folder's index, or a package's main. */
export function resolvePluginSpec(spec: string, baseDir: string): string {
  if (spec.includes('\0')) throw new PluginLoadError('a plugin path must not contain NUL characters');
  if (isPathSpec(spec)) {
    const base = resolve(baseDir, spec);
    const candidates = [base, ...EXTENSIONS.map((e) => base + e), ...EXTENSIONS.map((e) => join(base, 'index' + e))];
    const found = candidates.find((c) => existsSync(c) && statSync(c).isFile());
    if (!found) throw new PluginLoadError(`no plugin file at ${spec} (looked for ${spec}, ${spec}.ts, ${spec}/index.ts and .js)`);
    return checkModuleExtension(found);
  }
  if (!PACKAGE_SPEC.test(spec)) {
    throw new PluginLoadError('neither a path (start it with ./, ../ or /) nor an npm package name');
  }
  let found: string;
  try {
    found = require.resolve(spec, { paths: [baseDir] });
  } catch {
    throw new PluginLoadError(`package "${spec}" not found from ${baseDir}; install it or give a path starting with ./`);
  }
  // `fs`, `child_process`: require.resolve answers Node's own modules with their bare name.
  if (!isAbsolute(found)) throw new PluginLoadError(`"${spec}" is a module of Node itself, not a plugin package`);
  return checkModuleExtension(found);
}

const inside = (dir: string, file: string): boolean => {
  const rel = relative(dir, file);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
};

function realpathOr(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/**
 * The file a pipeline's `plugins:` entry names, as resolvePluginSpec finds it; refused when the
 * entry is a path outside the pipeline's folder (by its real path too, so a symlink in the folder
 * does not lead out of it), unless NAS_ALLOW_PLUGINS_OUTSIDE=1. Packages are not paths. Nothing
 * is read from a refused file, let alone executed.
 */
export function resolveDeclaredPlugin(spec: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!isPathSpec(spec) || env[ALLOW_PLUGINS_OUTSIDE_ENV] === '1') return resolvePluginSpec(spec, baseDir);
  const refuse = (file: string) =>
    new PluginLoadError(
      `${file} is outside the pipeline's folder ${baseDir}: a pipeline's plugins load from its folder (and below) or from installed packages; ` +
        `${ALLOW_PLUGINS_OUTSIDE_ENV}=1 allows others`,
    );
  const lexical = resolve(baseDir, spec);
  if (!inside(baseDir, lexical)) throw refuse(lexical);
  const file = resolvePluginSpec(spec, baseDir);
  const real = realpathOr(file);
  if (!inside(realpathOr(baseDir), real)) throw refuse(real === file ? file : `${file} (a link to ${real})`);
  return file;
}

export function loadPluginModule(file: string): unknown[] {
  ensureTypeScriptRequire();
  if (/\.[cm]?ts$/i.test(file)) loadTypeScriptCompiler();
  let mod: unknown;
  try {
    // Loaded before (a worker rebuilds its registry per activity): nothing of it runs again.
    mod = require.cache[file] ? require(file) : loadWithin(file, () => require(file));
  } catch (err) {
    if (err instanceof ModuleLoadTimeoutError) throw new PluginLoadError(err.message);
    throw new PluginLoadError(`loading failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  return pluginsOfModule(mod);
}

/** Loads one declared plugin module into the registry; returns what it registered. */
export function loadDeclaredPlugin(spec: string, pipelineFile: string, registry: PluginRegistry): Plugin[] {
  const file = resolveDeclaredPlugin(spec, dirname(resolve(pipelineFile)));
  const values = loadPluginModule(file);
  const registered: Plugin[] = [];
  for (const value of values) {
    try {
      registered.push(registry.register(value, file));
    } catch (err) {
      if (err instanceof PluginRegistrationError) throw new PluginLoadError(`${file}: ${err.problems.join('; ')}`);
      throw err;
    }
  }
  return registered;
}

/** The built-ins plus the user plugin modules a pipeline declared, as workers rebuild it per activity. */
export function registryWithPluginFiles(files: readonly string[]): PluginRegistry {
  const registry = builtinRegistry();
  for (const file of files) for (const plugin of loadPluginModule(file)) registry.register(plugin, file);
  return registry;
}
