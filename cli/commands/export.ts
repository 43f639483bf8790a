/**
 * `nas export RUN [--model ID | --best] DIR`: one of a run's trained models as a ready-to-ship tfjs
 * folder: its `model.json` and weights exactly as stored (checksums verified on the way out), and a
 * `model-card.json` saying what it is, how good and how fast, and what made it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { getJson, type ArtifactStore } from '../../artifacts';
import { ArchError, parseArch } from '../../engine/arch/catalog';
import { repoRoot } from '../../infra/paths';
import { parseArgs } from 'node:util';
import { validateRunId } from '../args';
import { CliError, EXIT_BAD_INPUT, EXIT_FAILURE } from '../errors';
import { locateRun, runModels, runProvenance, type RunModel } from '../run-models';
import { chanceWarning } from '../../report/chance';

const HELP = `usage: nas export RUN DIR [options]

  --model ID            the model to export (an id from \`nas compare RUN\` or the run's evaluation table)
  --best                the model with the best test accuracy (the default), reference models left out
  --force               replace DIR if it exists
  --artifacts LOCATION  the run's artifact store (default: the location the run used, from Temporal;
                        else the work folder's artifacts)
  --work-dir DIR        the embedded Temporal's folder (default .nas, or NAS_HOME)

Writes DIR/model.json and its weights (load with tf.loadLayersModel('DIR/model.json') in a browser
or Node) and DIR/model-card.json: architecture, parameters, MACs, test accuracy, latency per target,
the pipeline and the plugins (with versions) that made it.`;

/** The card's format, for readers that check what they parse. */
const CARD_FORMAT = 'hwnas-model-card/1';

interface TfjsModelJson {
  weightsManifest?: { paths: string[] }[];
}

/**
 * The trained architecture's file, checked by the engine's architecture schema (the one its
 * writers satisfy) but shipped as stored: parsing decodes block strings, and the card should say
 * what the run kept.
 */
async function storedArch(store: ArtifactStore, key: string): Promise<object> {
  const stored = await getJson<object>(store, key);
  try {
    parseArch(stored, key);
  } catch (err) {
    if (err instanceof ArchError) throw new CliError(err.message, EXIT_FAILURE);
    throw err;
  }
  return stored;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      best: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      artifacts: { type: 'string' },
      'work-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new CliError(`expected a run id and a folder\n\n${HELP}`, EXIT_BAD_INPUT);
  if (values.model && values.best) throw new CliError('--model and --best pick the model two ways: give one', EXIT_BAD_INPUT);
  const [runId, dirArg] = [validateRunId(positionals[0]), positionals[1]];
  const dir = path.resolve(dirArg);
  if (existsSync(dir) && readdirSync(dir).length > 0 && !values.force) {
    throw new CliError(`${dir} exists and is not empty: choose another folder, or --force to replace it`, EXIT_BAD_INPUT);
  }

  const located = await locateRun(runId, { artifacts: values.artifacts, workDir: values['work-dir'] });
  const models = await runModels(located);
  if (models.length === 0) throw new CliError(`run ${runId} has no trained model in ${located.location} yet`, EXIT_FAILURE);
  const model = pick(models, values.model, runId);

  const { store } = located;
  const modelJsonBytes = await store.get(model.modelKey);
  const modelJson = JSON.parse(Buffer.from(modelJsonBytes).toString('utf8')) as TfjsModelJson;
  const folder = model.modelKey.slice(0, model.modelKey.lastIndexOf('/') + 1);
  const files: Record<string, Uint8Array> = { 'model.json': modelJsonBytes };
  for (const p of (modelJson.weightsManifest ?? []).flatMap((g) => g.paths)) files[p] = await store.get(`${folder}${p}`);

  const { pipeline, plugins } = await runProvenance(located);
  const architecture = model.model?.kind === 'arch' ? { label: model.model.label, ...(await storedArch(store, model.model.archKey)) } : model.model;
  const card = {
    format: CARD_FORMAT,
    model: model.id,
    label: model.label,
    role: model.role,
    run: runId,
    pipeline: pipeline?.name,
    dataset: pipeline?.dataset.name,
    classNames: model.classNames,
    inputShape: model.inputShape,
    architecture,
    params: model.params,
    macs: model.macs,
    testAccuracy: model.testAccuracy,
    perClassAccuracy: model.perClassAccuracy,
    warning: chanceWarning(model.testAccuracy, model.classNames?.length),
    latency: model.latency,
    plugins,
    producedBy: { hwnas: packageVersion(), artifacts: `${located.location}/${folder}` },
    exportedAt: new Date().toISOString(),
    files: Object.fromEntries(Object.entries(files).map(([name, bytes]) => [name, { bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') }])),
  };

  // Assembled beside DIR and renamed into place: DIR is never half a model.
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(partial, name), bytes);
  writeFileSync(path.join(partial, 'model-card.json'), `${JSON.stringify(card, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.dirname(dir), { recursive: true });
  renameSync(partial, dir);

  const lat = Object.entries(model.latency).map(([t, l]) => `${t} ${l.medianMs.toFixed(3)} ms`);
  console.log(`exported ${model.id} (${model.label}) of run ${runId} to ${dir}`);
  console.log(`  test accuracy ${model.testAccuracy.toFixed(4)}${model.params !== undefined ? `, ${model.params.toLocaleString('en-US')} params` : ''}${lat.length ? `, ${lat.join(', ')}` : ''}`);
  if (card.warning) console.log(`  warning: ${card.warning}`);
  console.log(`  files: ${Object.keys(files).join(', ')}, model-card.json`);
  console.log(`  load it: tf.loadLayersModel('${path.relative(process.cwd(), dir) || '.'}/model.json')`);
  return 0;
}

function pick(models: RunModel[], id: string | undefined, runId: string): RunModel {
  if (id) {
    const found = models.find((m) => m.id === id);
    if (!found) throw new CliError(`run ${runId} has no model "${id}"; its models: ${models.map((m) => m.id).join(', ')}`, EXIT_BAD_INPUT);
    return found;
  }
  const own = models.filter((m) => m.role !== 'reference');
  return (own.length > 0 ? own : models).reduce((best, m) => (m.testAccuracy > best.testAccuracy ? m : best));
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
