/**
 * TypeScript (or JavaScript) pipelines: the module's default export is the pipeline, typically
 * `export default definePipeline({...})`. Positions come from the module's syntax tree, following
 * the object literal passed to `definePipeline` (or exported directly) key by key; a value built
 * by code points at the nearest literal that contains it.
 */
import { resolve } from 'node:path';
import type { ts as TS } from 'ts-morph';
import { loadWithin, ModuleLoadTimeoutError } from '../plugins/bounded-load';
import { defaultExport } from '../core/plugin-modules';
import { ensureTypeScriptRequire } from '../plugins/ts-require';
import { PipelineValidationError, type Path, type Position, type SourceDocument } from './problems';

export const MODULE_EXTENSIONS = ['.ts', '.cts', '.js', '.cjs'];

export function loadModuleDocument(file: string, text: string): SourceDocument {
  ensureTypeScriptRequire();
  // Needed below anyway; loaded first so the module's time limit is the module's alone.
  const { ts } = require('ts-morph') as typeof import('ts-morph');
  const absolute = resolve(file);
  let value: unknown;
  try {
    // A long-lived process (tests, a server) may load an edited file again.
    delete require.cache[absolute];
    // Its top-level code runs now: bounded, so an endless loop there is a problem, not a hang.
    value = defaultExport(loadWithin(absolute, () => require(absolute)));
  } catch (err) {
    const message =
      err instanceof ModuleLoadTimeoutError
        ? err.message
        : `cannot load the module: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
    throw new PipelineValidationError([{ file, line: 1, column: 1, path: '', message }]);
  }
  if (value === undefined) {
    throw new PipelineValidationError([{ file, line: 1, column: 1, path: '', message: 'no default export: write `export default definePipeline({ ... })`' }]);
  }

  const source = ts.createSourceFile(absolute, text, ts.ScriptTarget.ES2022, true);
  const at = (node: TS.Node | undefined): Position => {
    if (!node) return { line: 1, column: 1 };
    const p = source.getLineAndCharacterOfPosition(node.getStart(source));
    return { line: p.line + 1, column: p.character + 1 };
  };

  const unwrapExpression = (node: TS.Node | undefined): TS.Node | undefined => {
    let n = node;
    for (;;) {
      if (!n) return n;
      if (ts.isParenthesizedExpression(n) || ts.isAsExpression(n) || ts.isSatisfiesExpression(n)) n = n.expression;
      else if (ts.isCallExpression(n) && n.arguments.length === 1) n = n.arguments[0];
      else return n;
    }
  };

  let root: TS.Node | undefined;
  for (const statement of source.statements) {
    if (ts.isExportAssignment(statement)) root = unwrapExpression(statement.expression);
  }

  const propertyOf = (obj: TS.Node | undefined, key: string): TS.PropertyAssignment | TS.ShorthandPropertyAssignment | undefined => {
    if (!obj || !ts.isObjectLiteralExpression(obj)) return undefined;
    return obj.properties.find(
      (p): p is TS.PropertyAssignment | TS.ShorthandPropertyAssignment =>
        (ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p)) &&
        (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name) || ts.isNumericLiteral(p.name)) &&
        p.name.text === key,
    );
  };

  const nodeAt = (path: Path): TS.Node | undefined => {
    let node = root;
    for (const key of path) {
      const current = unwrapExpression(node);
      if (current && ts.isArrayLiteralExpression(current) && typeof key === 'number' && current.elements[key]) {
        node = current.elements[key];
        continue;
      }
      const property = propertyOf(current, String(key));
      if (!property) return current ?? node;
      node = ts.isPropertyAssignment(property) ? property.initializer : property;
    }
    return node;
  };

  return {
    file,
    value,
    position: (path) => at(nodeAt(path)),
    keyPosition: (path, key) => {
      const property = propertyOf(unwrapExpression(nodeAt(path)), key);
      return at(property?.name ?? nodeAt(path));
    },
  };
}
