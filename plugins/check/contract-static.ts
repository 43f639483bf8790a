/**
 * The static half of `nas plugin check`: does the module's default export declare a plugin with
 * the members its kind needs? Read from the syntax tree so the answer carries a line, and so it is
 * known (with the plugin's kind) before any of the plugin's code runs.
 */
import { Node, Project, type ObjectLiteralExpression, type SourceFile } from 'ts-morph';
import { PLUGIN_KINDS, PLUGIN_NAME_PATTERN, type PluginKind } from '../api';
import type { Finding } from './findings';

export interface DeclaredPlugin {
  kind?: PluginKind;
  mode?: string;
  name?: string;
  line: number;
}

const REQUIRED = ['kind', 'name', 'version', 'configSchema'];
const MULTI_TRIAL = ['init', 'propose', 'observe', 'best'];

function unwrap(node: Node | undefined): Node | undefined {
  let n = node;
  while (n && (Node.isParenthesizedExpression(n) || Node.isAsExpression(n) || Node.isSatisfiesExpression(n))) n = n.getExpression();
  if (n && Node.isCallExpression(n) && n.getArguments().length === 1) return unwrap(n.getArguments()[0]);
  return n;
}

/** Follows `export default x` to `const x = definePlugin({...})` in the same file. */
function resolveLocal(file: SourceFile, node: Node | undefined): Node | undefined {
  const n = unwrap(node);
  if (n && Node.isIdentifier(n)) return unwrap(file.getVariableDeclaration(n.getText())?.getInitializer());
  return n;
}

function literalText(obj: ObjectLiteralExpression, key: string): string | undefined {
  const p = obj.getProperty(key);
  if (!p || !Node.isPropertyAssignment(p)) return undefined;
  const init = p.getInitializer();
  return init && Node.isStringLiteral(init) ? init.getLiteralValue() : undefined;
}

export function checkContractStatically(path: string): { findings: Finding[]; declared: DeclaredPlugin[] } {
  const project = new Project({ skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true, compilerOptions: { allowJs: true } });
  const file = project.addSourceFileAtPath(path);
  const findings: Finding[] = [];
  const declared: DeclaredPlugin[] = [];
  const report = (node: Node, message: string, severity: Finding['severity'] = 'error') => {
    const p = file.getLineAndColumnAtPos(node.getStart());
    findings.push({ file: file.getFilePath(), line: p.line, column: p.column, severity, message });
  };

  const exported = file.getExportAssignments().find((e) => !e.isExportEquals()) ?? file.getExportAssignments()[0];
  if (!exported) {
    findings.push({ file: file.getFilePath(), line: 1, column: 1, severity: 'error', message: 'no default export: write `export default definePlugin({ ... })`' });
    return { findings, declared };
  }
  const value = resolveLocal(file, exported.getExpression());
  const objects = value && Node.isArrayLiteralExpression(value) ? value.getElements().map((e) => resolveLocal(file, e)) : [value];
  for (const obj of objects) {
    if (!obj || !Node.isObjectLiteralExpression(obj)) {
      report(obj ?? exported, 'cannot read this plugin statically (not an object literal); only the loaded module is checked', 'warning');
      continue;
    }
    const has = (k: string) => obj.getProperty(k) !== undefined || obj.getProperties().some((p) => Node.isSpreadAssignment(p));
    const missing = REQUIRED.filter((k) => !has(k));
    const kind = literalText(obj, 'kind');
    const mode = literalText(obj, 'mode');
    const name = literalText(obj, 'name');
    if (kind && !(PLUGIN_KINDS as readonly string[]).includes(kind)) report(obj.getProperty('kind')!, `kind "${kind}" is not one of ${PLUGIN_KINDS.join(', ')}`);
    if (kind === 'search-strategy') {
      if (!has('mode')) missing.push('mode');
      if (mode === 'multi-trial') missing.push(...MULTI_TRIAL.filter((k) => !has(k)));
    }
    if (kind === 'hardware-target' && !has('measureOp') && !has('measureModel')) {
      report(obj, 'a hardware target without measureOp or measureModel can be named in pipelines but measures nothing', 'warning');
    }
    if (missing.length) report(obj, `plugin is missing ${missing.join(', ')}`);
    if (name !== undefined && !PLUGIN_NAME_PATTERN.test(name)) report(obj.getProperty('name')!, `name "${name}" must be lowercase letters, digits and dashes`);
    declared.push({ kind: kind as PluginKind | undefined, mode, name, line: file.getLineAndColumnAtPos(obj.getStart()).line });
  }
  return { findings, declared };
}
