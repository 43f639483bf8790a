/**
 * `nas plugin new`: writes a typed plugin and its jest test with ts-morph. Both import the plugin
 * API by package name, `hwnas/plugins`, as code in a user's own repository does: `nas` resolves it
 * to itself wherever the plugin lives, and a repository with hwnas installed resolves it as usual.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { IndentationText, Project, QuoteKind } from 'ts-morph';
import { PLUGIN_NAME_PATTERN, type PluginKind } from './api';

export const SCAFFOLD_KINDS: PluginKind[] = ['search-strategy', 'hardware-target'];

/** This package's root: where package.json names it, from source or from dist/. */
export function packageRoot(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'hwnas') return dir;
    if (dirname(dir) === dir) throw new Error('cannot find the nas package root');
  }
}

/** The plugin API folder to import: the TypeScript sources when present, else the build. */
export function pluginApiDir(): string {
  const root = packageRoot();
  return existsSync(join(root, 'plugins', 'index.ts')) ? join(root, 'plugins') : join(root, 'dist', 'plugins');
}

/** What plugin code imports the API by. */
export const PLUGIN_API_PACKAGE = 'hwnas/plugins';

const STRATEGY_BODY = (name: string) => `
/** Small and JSON-only: it is stored in workflow history after every call. */
export interface State {
  proposed: number;
  best: TrialResult | null;
}

/**
 * Local search: random architectures until one result is in, then one-decision changes of the best
 * so far. Everything below runs inside Temporal workflow code: keep it pure and draw randomness
 * from \`rng\` only (\`nas plugin check\` rejects clocks, Math.random, I/O and module-level state).
 */
export default definePlugin({
  kind: 'search-strategy',
  mode: 'multi-trial',
  name: '${name}',
  version: '0.1.0',
  description: 'local search around the best architecture so far',
  configSchema: z
    .object({
      trials: z.number().int().min(1).max(10_000).default(20).describe('Architectures to train in total.'),
    })
    .strict(),
  init: (): State => ({ proposed: 0, best: null }),
  propose(state, rng, { config, space }) {
    if (state.proposed >= config.trials) return { state, candidate: null, done: true };
    const choices = state.best
      ? mutateOne(state.best.choices, space.options, rng)
      : space.options.map((n) => Math.floor(rng.next() * n));
    return { state: { ...state, proposed: state.proposed + 1 }, candidate: { trial: state.proposed, choices }, done: false };
  },
  observe(state, result) {
    return state.best && state.best.score >= result.score ? state : { ...state, best: result };
  },
  best: (state) => state.best,
});

function mutateOne(choices: Choices, options: readonly number[], rng: Rng): Choices {
  const next = [...choices];
  const at = Math.floor(rng.next() * options.length);
  next[at] = Math.floor(rng.next() * options[at]);
  return next;
}
`;

const STRATEGY_TEST = (name: string) => `
const space = { options: [3, 4, 2, 5, 6] };
const score = (choices: number[]) => choices.reduce((sum, c, i) => sum + c * (i + 1), 0);

describe('${name}', () => {
  it('makes the same decisions from the same seed', () => {
    expect(simulateStrategy(plugin, { space, seed: 7, score })).toEqual(simulateStrategy(plugin, { space, seed: 7, score }));
  });

  it('spends exactly its trial budget', () => {
    expect(simulateStrategy(plugin, { space, seed: 7, score, config: { trials: 12 } }).trials).toHaveLength(12);
  });

  it('proposes architectures that fit the space', () => {
    for (const trial of simulateStrategy(plugin, { space, seed: 3, score }).trials) {
      trial.choices.forEach((c, i) => expect(c).toBeLessThan(space.options[i]));
    }
  });
});
`;

const TARGET_BODY = (name: string) => `
/**
 * A hardware target. Its functions run in activities, where clocks, I/O and native code are fine.
 * Replace the estimates below with measurements on your device: measureOp prices one op of the
 * search space (for latency tables), measureModel a whole trained model in tfjs format. Once they
 * time real runs, add \`timed: true\`: a one-shot search then checks the table against nets timed
 * whole and calibrates a predictor (README, "The latency model").
 */
export default definePlugin({
  kind: 'hardware-target',
  name: '${name}',
  version: '0.1.0',
  description: 'latency estimated from multiply-adds (replace with a measurement)',
  configSchema: z
    .object({
      msPerMegaMac: z.number().positive().default(0.01).describe('Milliseconds per million multiply-adds.'),
      msPerMegabyte: z.number().positive().default(0.5).describe('Milliseconds per megabyte of weights read, for whole models.'),
    })
    .strict(),
  async measureOp(op, { config }) {
    const outputSize = Math.ceil(op.inputSize / op.stride);
    const expanded = op.inChannels * (op.expansion ?? 1);
    const macs = outputSize * outputSize * (expanded * op.kernel * op.kernel + expanded * op.outChannels);
    return { medianMs: (macs / 1e6) * config.msPerMegaMac, repeats: 1 };
  },
  async measureModel(modelDir, _inputShape, { config }) {
    // A memory-bound device pays for every weight it streams: charge by the weight files' size.
    const manifest = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
    const bytes = manifest.weightsManifest.flatMap((group) => group.paths).reduce((sum, file) => sum + statSync(join(modelDir, file)).size, 0);
    return { medianMs: (bytes / 1e6) * config.msPerMegabyte, repeats: 1 };
  },
});
`;

const TARGET_TEST = (name: string) => `
describe('${name}', () => {
  it('charges more for a bigger op', async () => {
    const ctx = { config: plugin.configSchema.parse({}), heartbeat: () => undefined };
    const op = { op: 'mbconv' as const, inputSize: 32, inChannels: 16, outChannels: 24, kernel: 3, stride: 1, expansion: 6 };
    const small = await plugin.measureOp!(op, ctx);
    const big = await plugin.measureOp!({ ...op, kernel: 5 }, ctx);
    expect(big.medianMs).toBeGreaterThan(small.medianMs);
  });
});
`;

export interface ScaffoldResult {
  dir: string;
  files: string[];
}

export function scaffoldPlugin(kind: string, name: string, parentDir: string): ScaffoldResult {
  if (!SCAFFOLD_KINDS.includes(kind as PluginKind)) throw new Error(`unknown plugin kind "${kind}"; use one of ${SCAFFOLD_KINDS.join(', ')}`);
  if (!PLUGIN_NAME_PATTERN.test(name)) throw new Error(`plugin name "${name}" must be lowercase letters, digits and dashes, starting with a letter`);
  const dir = resolve(parentDir, name);
  const pluginFile = join(dir, 'index.ts');
  const testFile = join(dir, `${name}.test.ts`);
  for (const f of [pluginFile, testFile]) if (existsSync(f)) throw new Error(`${f} exists; not overwriting it`);
  mkdirSync(dir, { recursive: true });

  const api = PLUGIN_API_PACKAGE;
  const project = new Project({
    skipAddingFilesFromTsConfig: true,
    manipulationSettings: { indentationText: IndentationText.TwoSpaces, quoteKind: QuoteKind.Single },
  });
  const strategy = kind === 'search-strategy';

  const plugin = project.createSourceFile(pluginFile, '');
  if (!strategy) {
    plugin.addImportDeclaration({ moduleSpecifier: 'node:fs', namedImports: ['readFileSync', 'statSync'] });
    plugin.addImportDeclaration({ moduleSpecifier: 'node:path', namedImports: ['join'] });
  }
  plugin.addImportDeclaration({
    moduleSpecifier: api,
    namedImports: strategy ? ['definePlugin', 'z', { name: 'Choices', isTypeOnly: true }, { name: 'Rng', isTypeOnly: true }, { name: 'TrialResult', isTypeOnly: true }] : ['definePlugin', 'z'],
  });
  plugin.addStatements(strategy ? STRATEGY_BODY(name) : TARGET_BODY(name));

  const test = project.createSourceFile(testFile, '');
  if (strategy) test.addImportDeclaration({ moduleSpecifier: api, namedImports: ['simulateStrategy'] });
  test.addImportDeclaration({ moduleSpecifier: './index', defaultImport: 'plugin' });
  test.addStatements(strategy ? STRATEGY_TEST(name) : TARGET_TEST(name));

  project.saveSync();
  return { dir, files: [pluginFile, testFile] };
}
