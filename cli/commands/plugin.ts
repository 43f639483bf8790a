/**
 * `nas plugin list|new|check|test`: what is registered, a typed scaffold for a new plugin, the
 * contract and determinism check a plugin must pass before a pipeline can rely on it, and its tests.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { formatProblem, PipelineValidationError, resolvePipelineFile } from '../../dsl/load';
import type { Plugin, PluginKind } from '../../plugins/api';
import { checkPlugin, formatFinding } from '../../plugins/check';
import { builtinRegistry, KIND_LABEL, type RegisteredPlugin } from '../../plugins/registry';
import { pluginApiDir, scaffoldPlugin, SCAFFOLD_KINDS } from '../../plugins/scaffold';
import { CliError, EXIT_BAD_INPUT } from '../errors';

const USAGE = `usage:
  nas plugin list [--pipeline FILE] [--json]   registered plugins, versions and config fields
                                               (--pipeline adds the plugins FILE declares)
  nas plugin new <kind> <name> [--dir D]       scaffold a typed plugin and its test in D/<name>/
                                               (kind: ${SCAFFOLD_KINDS.join(' | ')}; D defaults to .)
  nas plugin check <path>                      check a plugin module against the contract and,
                                               for strategies, for workflow determinism
  nas plugin test <dir>                        run the jest tests in D (those \`plugin new\` writes),
                                               with hwnas/plugins resolved to this installation`;

function parse<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`, EXIT_BAD_INPUT);
  }
}

const help = { type: 'boolean', short: 'h' } as const;

interface FieldInfo {
  name: string;
  type: string;
  default?: unknown;
  required: boolean;
  description?: string;
}

type JsonSchema = { type?: string; enum?: unknown[]; const?: unknown; default?: unknown; description?: string; anyOf?: JsonSchema[]; items?: JsonSchema };

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.anyOf) return s.anyOf.map(typeOf).join(' | ');
  if (s.type === 'array' && s.items) return `${typeOf(s.items)}[]`;
  return s.type ?? 'any';
}

export function configFields(plugin: Plugin): FieldInfo[] {
  let schema: { properties?: Record<string, JsonSchema>; required?: string[] };
  try {
    schema = z.toJSONSchema(plugin.configSchema, { io: 'input', unrepresentable: 'any' }) as typeof schema;
  } catch {
    return [];
  }
  return Object.entries(schema.properties ?? {}).map(([name, s]) => ({
    name,
    type: typeOf(s),
    default: s.default,
    required: (schema.required ?? []).includes(name) && s.default === undefined,
    description: s.description,
  }));
}

const KIND_PLURAL: Record<PluginKind, string> = { 'search-strategy': 'search strategies', 'hardware-target': 'hardware targets' };

function listText(entries: RegisteredPlugin[]): string {
  const lines: string[] = [];
  for (const kind of Object.keys(KIND_LABEL) as PluginKind[]) {
    const ofKind = entries.filter((e) => e.plugin.kind === kind);
    if (!ofKind.length) continue;
    lines.push(`${KIND_PLURAL[kind]}:`);
    for (const { plugin, source } of ofKind) {
      const mode = plugin.kind === 'search-strategy' ? ` ${plugin.mode}` : '';
      lines.push(`  ${plugin.name} ${plugin.version}${mode} (${source})${plugin.description ? ` - ${plugin.description}` : ''}`);
      for (const f of configFields(plugin)) {
        const value = f.required ? 'required' : f.default !== undefined ? `default ${JSON.stringify(f.default)}` : 'optional';
        lines.push(`      ${f.name}: ${f.type}, ${value}${f.description ? `. ${f.description}` : ''}`);
      }
    }
  }
  return lines.join('\n');
}

async function list(argv: string[]): Promise<number> {
  const { values } = parse({ args: argv, allowPositionals: true, options: { pipeline: { type: 'string' }, json: { type: 'boolean' }, help } });
  if (values.help) return usage();
  let entries: RegisteredPlugin[];
  if (values.pipeline !== undefined) {
    try {
      entries = resolvePipelineFile(values.pipeline).plugins.list();
    } catch (err) {
      if (!(err instanceof PipelineValidationError)) throw err;
      for (const p of err.problems) console.error(formatProblem(p));
      return EXIT_BAD_INPUT;
    }
  } else {
    entries = builtinRegistry().list();
  }
  if (values.json) {
    const json = entries.map(({ plugin, source }) => ({
      kind: plugin.kind,
      name: plugin.name,
      version: plugin.version,
      ...(plugin.kind === 'search-strategy' ? { mode: plugin.mode } : {}),
      source,
      description: plugin.description,
      config: configFields(plugin),
    }));
    console.log(JSON.stringify(json, null, 2));
  } else {
    console.log(listText(entries));
  }
  return 0;
}

async function create(argv: string[]): Promise<number> {
  const { values, positionals } = parse({ args: argv, allowPositionals: true, options: { dir: { type: 'string' }, help } });
  if (values.help) return usage();
  const [kind, name] = positionals;
  if (!kind || !name || positionals.length > 2) throw new CliError(`expected <kind> <name>\n\n${USAGE}`, EXIT_BAD_INPUT);
  let result;
  try {
    result = scaffoldPlugin(kind, name, values.dir ?? '.');
  } catch (err) {
    throw new CliError((err as Error).message, EXIT_BAD_INPUT);
  }
  for (const f of result.files) console.log(`created ${f}`);
  console.log(`next: nas plugin check ${result.files[0]}; nas plugin test ${result.dir}; then list it under plugins: in a pipeline`);
  return 0;
}

async function check(argv: string[]): Promise<number> {
  const { values, positionals } = parse({ args: argv, allowPositionals: true, options: { help } });
  if (values.help) return usage();
  if (positionals.length !== 1) throw new CliError(`expected one plugin path\n\n${USAGE}`, EXIT_BAD_INPUT);
  let result;
  try {
    result = checkPlugin(positionals[0], { trustedRoot: pluginApiDir() });
  } catch (err) {
    throw new CliError(`cannot check ${positionals[0]}: ${(err as Error).message}`, EXIT_BAD_INPUT);
  }
  for (const f of result.findings) (f.severity === 'error' ? console.error : console.warn)(formatFinding(f));
  if (!result.ok) {
    console.error(`${positionals[0]}: plugin check failed`);
    return EXIT_BAD_INPUT;
  }
  console.log(`${positionals[0]}: ok (${result.plugins.map((p) => `${KIND_LABEL[p.kind]} ${p.name} ${p.version}`).join(', ')})`);
  return 0;
}

/**
 * A plugin's own tests, with this installation's jest and ts-jest, wherever the plugin lives: a
 * user's folder needs no jest set-up of its own to run what `nas plugin new` wrote.
 */
async function test(argv: string[]): Promise<number> {
  const { values, positionals } = parse({ args: argv, allowPositionals: true, options: { help } });
  if (values.help) return usage();
  if (positionals.length !== 1) throw new CliError(`expected one plugin folder\n\n${USAGE}`, EXIT_BAD_INPUT);
  const dir = resolve(positionals[0]);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`${positionals[0]}: no such folder`, EXIT_BAD_INPUT);
  let jest: string;
  let tsJest: string;
  try {
    jest = require.resolve('jest/bin/jest');
    tsJest = require.resolve('ts-jest');
  } catch {
    throw new CliError('jest and ts-jest are not installed with this hwnas (they come with `npm install` in a clone); in your own repository, run the tests with your jest, mapping hwnas/plugins to the installed package', EXIT_BAD_INPUT);
  }
  const config = {
    rootDir: dir,
    testEnvironment: 'node',
    testMatch: ['<rootDir>/**/*.test.ts'],
    testPathIgnorePatterns: ['/node_modules/'],
    transform: { '^.+\\.ts$': [tsJest, { tsconfig: { module: 'commonjs', target: 'es2022', esModuleInterop: true, isolatedModules: true, strict: true } }] },
    // The plugin imports the API by package name: here, this installation's.
    moduleNameMapper: { '^hwnas/plugins$': require.resolve('../../plugins'), '^hwnas$': require.resolve('../../dsl') },
  };
  const child = spawn(process.execPath, [jest, '--config', JSON.stringify(config), '--ci'], { stdio: 'inherit' });
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return code ?? (signal ? 1 : 0);
}

function usage(): number {
  console.log(USAGE);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'list':
      return list(rest);
    case 'new':
      return create(rest);
    case 'check':
      return check(rest);
    case 'test':
      return test(rest);
    case undefined:
    case '--help':
    case '-h':
      return usage();
    default:
      throw new CliError(`unknown sub-command "${sub}": list, new, check or test (nas plugin --help says more)`, EXIT_BAD_INPUT);
  }
}
