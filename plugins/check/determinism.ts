/**
 * Static determinism check for code that runs inside Temporal workflows. A workflow is replayed
 * from its history after a crash; any decision that reads the clock, draws unseeded randomness,
 * does I/O or keeps state across calls can come out differently on replay and break the run.
 *
 * The whole strategy module is checked, not only its decision functions, because the workflow
 * bundle evaluates the module's top level too. Relative imports are followed; files of this
 * package (the plugin API) are trusted, other packages get a warning since they cannot be read.
 */
import { builtinModules } from 'node:module';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { Node, Project, SyntaxKind, type SourceFile } from 'ts-morph';
import type { Finding } from './findings';

const GLOBALS: Record<string, string> = {
  Date: 'reads the clock; pass times in as arguments',
  performance: 'reads the clock',
  setTimeout: 'timers do not replay; a strategy returns "wait" (candidate null) instead',
  setInterval: 'timers do not replay',
  setImmediate: 'timers do not replay',
  queueMicrotask: 'scheduling does not replay',
  process: 'reads the environment of whichever worker replays the workflow',
  fetch: 'network I/O belongs in activities',
  XMLHttpRequest: 'network I/O belongs in activities',
  WebSocket: 'network I/O belongs in activities',
  crypto: 'is unseeded randomness; use the rng argument',
  require: '(dynamic require) can load I/O modules; use a static import',
  eval: 'hides code from this check',
  Function: '(the constructor) hides code from this check',
};

/** Packages that exist to do I/O; anything else unknown only gets a warning. */
const IO_PACKAGES = /^(axios|node-fetch|undici|got|ws|socket\.io(-client)?|fs-extra|graceful-fs|@aws-sdk\/.*|@temporalio\/(activity|client|worker)|@tensorflow\/.*)$/;
/** The plugin API by package name is this package's own pure code, bundled into workflows with it. */
const TRUSTED_PACKAGES = new Set(['zod', 'hwnas/plugins']);
const MUTATORS = new Set(['push', 'pop', 'shift', 'unshift', 'splice', 'sort', 'reverse', 'fill', 'copyWithin', 'set', 'add', 'delete', 'clear']);

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, m.split('/')[0]]));

export interface DeterminismOptions {
  /** Imports from under this folder (the plugin API of this package) are trusted, not read. */
  trustedRoot?: string;
}

function pos(file: SourceFile, node: Node): { line: number; column: number } {
  const p = file.getLineAndColumnAtPos(node.getStart());
  return { line: p.line, column: p.column };
}

/** Names declared anywhere in the file, which shadow the globals of the same name. */
function declaredNames(file: SourceFile): Set<string> {
  const names = new Set<string>();
  file.forEachDescendant((n) => {
    if (Node.isVariableDeclaration(n) || Node.isFunctionDeclaration(n) || Node.isParameterDeclaration(n) || Node.isClassDeclaration(n)) {
      const nameNode = n.getNameNode();
      if (nameNode && Node.isIdentifier(nameNode)) names.add(nameNode.getText());
    } else if (Node.isImportSpecifier(n)) {
      names.add((n.getAliasNode() ?? n.getNameNode()).getText());
    } else if (Node.isNamespaceImport(n)) {
      names.add(n.getNameNode().getText());
    } else if (Node.isImportClause(n)) {
      const def = n.getDefaultImport();
      if (def) names.add(def.getText());
    }
  });
  return names;
}

/** Is this identifier read as a value (not a type, a property name or a declaration name)? */
function isValueReference(id: Node): boolean {
  const parent = id.getParent();
  if (!parent) return false;
  if (Node.isPropertyAccessExpression(parent) && parent.getNameNode() === id) return false;
  if ((Node.isPropertyAssignment(parent) || Node.isMethodDeclaration(parent) || Node.isPropertySignature(parent) || Node.isPropertyDeclaration(parent)) && parent.getNameNode() === id) return false;
  if (Node.isTypeReference(parent) || Node.isQualifiedName(parent) || Node.isTypeQuery(parent) || Node.isExpressionWithTypeArguments(parent)) return false;
  if (parent.getKind() === SyntaxKind.LabeledStatement) return false;
  return !Node.isTypeNode(parent);
}

function resolveRelative(fromFile: string, spec: string): string | undefined {
  const base = resolve(dirname(fromFile), spec);
  const candidates = [base, `${base}.ts`, `${base}.js`, `${base}/index.ts`, `${base}/index.js`];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

/** The identifier a chain like `a.b[c].d` starts from. */
function rootIdentifier(node: Node): Node | undefined {
  let n: Node = node;
  while (Node.isPropertyAccessExpression(n) || Node.isElementAccessExpression(n) || Node.isParenthesizedExpression(n)) n = n.getExpression();
  return Node.isIdentifier(n) ? n : undefined;
}

function checkFile(file: SourceFile, findings: Finding[], follow: (spec: string) => void): void {
  const path = file.getFilePath();
  const report = (node: Node, message: string, severity: Finding['severity'] = 'error') =>
    findings.push({ file: path, ...pos(file, node), severity, message });
  const declared = declaredNames(file);

  for (const decl of file.getImportDeclarations()) {
    if (decl.isTypeOnly()) continue;
    const spec = decl.getModuleSpecifierValue();
    if (spec.startsWith('.')) follow(spec);
    else if (spec.startsWith('node:') || NODE_BUILTINS.has(spec)) report(decl, `imports "${spec}": Node built-ins are not available in workflow code (and do I/O)`);
    else if (IO_PACKAGES.test(spec)) report(decl, `imports "${spec}", which does I/O; that belongs in an activity`);
    else if (!TRUSTED_PACKAGES.has(spec)) report(decl, `imports package "${spec}", which this check cannot read; make sure it is deterministic`, 'warning');
  }
  for (const decl of file.getExportDeclarations()) {
    const spec = decl.getModuleSpecifierValue();
    if (spec?.startsWith('.')) follow(spec);
  }

  // Module-level state: `let`/`var`, and `const` containers that something mutates.
  const moduleConsts = new Map<string, Node>();
  for (const statement of file.getVariableStatements()) {
    const keyword = statement.getDeclarationKind();
    for (const decl of statement.getDeclarations()) {
      if (keyword !== 'const') report(decl, `module-level \`${keyword} ${decl.getName()}\`: state shared across workflow runs and lost on replay; keep state in the strategy state`);
      else moduleConsts.set(decl.getName(), decl);
    }
  }

  file.forEachDescendant((node) => {
    if (Node.isIdentifier(node)) {
      const name = node.getText();
      if (GLOBALS[name] && !declared.has(name) && isValueReference(node)) report(node, `${name}: ${GLOBALS[name]}`);
      return;
    }
    if (Node.isPropertyAccessExpression(node)) {
      const target = node.getExpression();
      if (Node.isIdentifier(target) && target.getText() === 'Math' && node.getName() === 'random' && !declared.has('Math')) {
        report(node, 'Math.random() is not seeded; draw from the rng argument');
      }
      if (Node.isIdentifier(target) && target.getText() === 'globalThis') report(node, 'globalThis is shared state');
    }
    if (Node.isCallExpression(node) && node.getExpression().getKind() === SyntaxKind.ImportKeyword) {
      report(node, 'dynamic import() can load I/O modules; use a static import');
    }
    // Mutation of a module-level const container, found syntactically (no type checker needed).
    let mutated: Node | undefined;
    if (Node.isBinaryExpression(node) && node.getOperatorToken().getKind() >= SyntaxKind.FirstAssignment && node.getOperatorToken().getKind() <= SyntaxKind.LastAssignment) {
      const left = node.getLeft();
      if (Node.isPropertyAccessExpression(left) || Node.isElementAccessExpression(left)) mutated = rootIdentifier(left);
    } else if ((Node.isPrefixUnaryExpression(node) || Node.isPostfixUnaryExpression(node)) && [SyntaxKind.PlusPlusToken, SyntaxKind.MinusMinusToken].includes(node.getOperatorToken())) {
      const operand = node.getOperand();
      if (Node.isPropertyAccessExpression(operand) || Node.isElementAccessExpression(operand)) mutated = rootIdentifier(operand);
    } else if (Node.isDeleteExpression(node)) {
      mutated = rootIdentifier(node.getExpression());
    } else if (Node.isCallExpression(node)) {
      const callee = node.getExpression();
      if (Node.isPropertyAccessExpression(callee) && MUTATORS.has(callee.getName())) mutated = rootIdentifier(callee.getExpression());
    }
    if (mutated && moduleConsts.has(mutated.getText()) && !isShadowed(mutated)) {
      report(node, `mutates module-level \`${mutated.getText()}\`: state shared across workflow runs and lost on replay; keep state in the strategy state`);
    }
  });
}

/** True when the identifier resolves to a local of an enclosing function rather than the module const. */
function isShadowed(id: Node): boolean {
  const name = id.getText();
  for (let scope = id.getParent(); scope && !Node.isSourceFile(scope); scope = scope.getParent()) {
    if (Node.isFunctionLikeDeclaration(scope) || Node.isBlock(scope)) {
      const locals = Node.isFunctionLikeDeclaration(scope) ? scope.getParameters().map((p) => p.getName()) : [];
      const statements = Node.isBlock(scope) ? scope.getStatements() : [];
      for (const s of statements) if (Node.isVariableStatement(s)) locals.push(...s.getDeclarations().map((d) => d.getName()));
      if (locals.includes(name)) return true;
    }
  }
  return false;
}

export function checkDeterminism(entry: string, options: DeterminismOptions = {}): Finding[] {
  const project = new Project({
    skipAddingFilesFromTsConfig: true,
    skipFileDependencyResolution: true,
    compilerOptions: { allowJs: true },
  });
  const findings: Finding[] = [];
  const seen = new Set<string>();
  const trusted = options.trustedRoot ? resolve(options.trustedRoot) + sep : undefined;
  const visit = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    if (trusted && path.startsWith(trusted) && seen.size > 1) return;
    const file = project.addSourceFileAtPath(path);
    checkFile(file, findings, (spec) => {
      const target = resolveRelative(path, spec);
      if (target) visit(target);
      else findings.push({ file: path, line: 1, column: 1, severity: 'error', message: `cannot resolve import "${spec}"` });
    });
  };
  visit(resolve(entry));
  return findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
}
