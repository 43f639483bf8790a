/**
 * The fault-injection suite (issue 9): a small full pipeline (ProxylessNAS search, compound
 * scaling, elastic training, evaluation; test/fault-injection/pipeline.yaml) runs twice with the
 * same seed on a real Temporal dev server and a real MinIO, on loopback, with a pool of `nas worker`
 * processes: once undisturbed, once while the suite
 *   - SIGKILLs the worker running the stage's work at seeded random moments, in every stage (at
 *     least 3 per stage, at least 20 in all), starting a replacement at once;
 *   - SIGKILLs the Temporal dev server once mid-run and starts it again on the same port and
 *     database, then checks that every worker polls again and that the clients carry on;
 *   - pauses MinIO (SIGSTOP, 25 s, SIGCONT) once, so every S3 call hangs meanwhile.
 * It prints one row per fault (when, which stage, what was lost, how long recovery took; see
 * faults.ts for how each is measured), the final test accuracy of both runs, an integrity check of
 * everything the faulty run stored (integrity.ts), and exits 1 if any of these fails:
 *   both runs completed; lost work per fault at most one checkpoint interval, resumed from the
 *   newest checkpoint; workers reconnected after the restart; final accuracy within 0.5 points of
 *   the undisturbed run; the artifacts are whole, complete and without orphans.
 * Beside the undisturbed run, the faults a kill schedule cannot inject (edge-faults.ts: a full disk,
 * a corrupt epoch-boundary checkpoint, a diverging training, the dev server killed under `nas run`,
 * a stale server pid), each on a small embedded `nas run`, one row each; every one must end as designed.
 *
 *   npm run test:faults            (builds first; the workers run a copy of the compiled CLI)
 *   npx tsx test/fault-injection/run.ts   (dist/ must be current)
 * NAS_FAULT_SEED picks the fault schedule (default 1); NAS_FAULT_KEEP=1 keeps the temp folder;
 * NAS_FAULT_EDGE_ONLY=1 runs the edge faults alone (a few minutes).
 */
import { spawn } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import { getJson } from '../../artifacts';
import { checkpointStep, runLayout } from '../../core/run-layout';
import type { EvaluationSummary } from '../../activities/evaluate-model';
import { mulberry32 } from '../../core/random';
import { repoRoot } from '../../infra/paths';
import type { PipelineWorkflowResult } from '../../workflows/pipeline';
import { effectOn, hitDuringOutage, recoveredBy, startedActivities, unexplainedRetries, type CheckpointObject, type CheckpointPolicy, type FaultRecord } from './faults';
import { runEdgeFaults, type EdgeRow } from './edge-faults';
import { checkIntegrity, type IntegrityReport } from './integrity';
import { ownHeartbeat, RunMonitor, type ActivityView, type Observation } from './monitor';
import { FaultServices, sleep } from './services';
import { nasArgv, WorkerPool, type PoolWorker } from './worker-pool';

const BUCKET = 'nas-faults';
const POOL_SIZE = 3;
const PIPELINE_FILE = join(__dirname, 'pipeline.yaml');
/**
 * Kills per stage kind, and the random wait (s) before each: once the stage's work is under way and
 * the last kill's work has recovered, or, for work that ends before its first checkpoint (`fromAttemptStart`),
 * from the start of the attempt it hits.
 */
const KILLS: Record<string, { quota: number; delay: [number, number]; fromAttemptStart?: true }> = {
  search: { quota: 5, delay: [1, 4] },
  scaling: { quota: 4, delay: [1.5, 5] },
  elastic: { quota: 10, delay: [2, 7] },
  // One model's evaluation takes a few seconds, less than its checkpoint interval, so a retry
  // starts at least its accuracy pass over. Waiting for a retry to
  // pass where the last kill hit before drawing the next wait would put every kill later in its
  // attempt than the one before, until one found the stage over (a CI run got 2 of 3). So each kill
  // comes at a drawn age of the attempt it hits, and the next waits only for the retry to run.
  evaluation: { quota: 4, delay: [0.5, 2.5], fromAttemptStart: true },
};
const MIN_KILLS_PER_STAGE = 3;
const MIN_KILLS = 20;
/** The two server faults: S3 paused in the search after its 3rd kill, Temporal restarted in elastic training after its 4th. */
const S3_PAUSE = { stage: 'search', afterKill: 3, seconds: 25 };
const TEMPORAL_RESTART = { stage: 'elastic', afterKill: 4 };
const ACCURACY_TOLERANCE = 0.005;
const RUN_TIMEOUT_MS = 20 * 60_000;
const RECOVERY_TIMEOUT_MS = 240_000;

/** The activity types whose workers a stage's kills aim at. */
const WORK: Record<string, string[]> = {
  search: ['supernetEpoch'],
  scaling: ['scalingTrial'],
  elastic: ['elasticCoordinator', 'elasticParticipant'],
  evaluation: ['evaluateModel'],
};
const PROGRESS_TYPES = new Set(['supernetEpoch', 'scalingTrial', 'elasticCoordinator', 'evaluateModel']);

/** What to stop if the suite is interrupted (CI's timeout sends SIGTERM): workers and servers must not outlive it. */
const cleanups = new Set<() => Promise<void>>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`fault-injection suite: ${signal}, stopping workers and servers`);
    void Promise.allSettled([...cleanups].map((c) => c())).then(() => process.exit(1));
  });
}

const stageKind = (stage: string) => (stage.startsWith('elastic-') ? 'elastic' : stage);

interface PipelineDoc {
  seed: number;
  artifacts?: { location: string };
  stages: {
    baselineSearch: { epochs: number; checkpointEverySteps: number };
    compoundScaling: { checkpointEverySteps: number };
    elasticTraining: { epochs: number; checkpointEverySteps: number };
    evaluation: object;
  };
}

interface RunOutcome {
  name: string;
  runId: string;
  location: string;
  startedAt: number;
  seconds: number;
  status: string;
  failure?: string;
  result?: PipelineWorkflowResult;
  summary?: EvaluationSummary;
  submitterCode: number | null;
  submitterTail: string;
  faults: FaultRecord[];
  monitor: RunMonitor;
  pool: WorkerPool;
  reconnect?: { workersSeconds?: number; workers: string[]; missing: string[]; clientSeconds?: number; submitterAlive: boolean };
  driverError?: string;
}

async function main(): Promise<number> {
  const wallStart = Date.now();
  const seed = Number(process.env.NAS_FAULT_SEED ?? 1);
  const root = mkdtempSync(join(tmpdir(), 'nas-faults-'));
  const doc = parse(readFileSync(PIPELINE_FILE, 'utf8')) as PipelineDoc;
  console.log(`fault-injection suite: pipeline ${PIPELINE_FILE}, fault seed ${seed}, work folder ${root}`);
  if (process.env.NAS_FAULT_EDGE_ONLY === '1') {
    const checks = reportEdge(await runEdgeFaults(root));
    const failed = checks.some(([, ok]) => !ok);
    for (const [what, ok, detail] of checks) console.log(`- ${ok ? 'PASS' : 'FAIL'} ${what}: ${detail}`);
    console.log(`\nedge faults ${failed ? 'FAILED' : 'passed'} in ${((Date.now() - wallStart) / 1000).toFixed(0)} s; work folder ${failed ? 'kept' : 'removed'}: ${root}`);
    if (!failed) rmSync(root, { recursive: true, force: true });
    return failed ? 1 : 0;
  }
  const cliMain = snapshotBuild();
  const services = await FaultServices.start(root, BUCKET);
  const stopServices = () => services.stop();
  cleanups.add(stopServices);
  console.log(`Temporal dev server ${services.temporalAddress} (database ${services.temporalDbFile}), MinIO ${services.s3.endpoint}, bucket ${BUCKET}`);
  let failed = true;
  try {
    // The edge faults run beside the undisturbed run (each is its own embedded nas run, with its own
    // server and folders, and none of their checks is tighter than tens of seconds): the machine's
    // second core would otherwise wait for most of the undisturbed run. The faulty run starts only
    // when both have ended, so its kills, restart and pause meet a machine running nothing else.
    console.log('\n[edge] the faults outside the kill schedule, each on a small embedded nas run, beside the undisturbed run');
    const edgeRun = runEdgeFaults(root);
    const quiet = await runPipeline(services, cliMain, root, doc, 'undisturbed', undefined).finally(() => edgeRun.catch(() => undefined));
    printRunLine(quiet);
    const edge = await edgeRun;
    const faulty = await runPipeline(services, cliMain, root, doc, 'faulty', seed);
    printRunLine(faulty);
    const integrity = faulty.result ? await checkIntegrity(services.admin, services.store(faulty.location), faulty.result, expectations(doc, faulty.runId)) : undefined;
    failed = report(doc, quiet, faulty, integrity, edge, wallStart);
  } finally {
    cleanups.delete(stopServices);
    await services.stop().catch(() => undefined);
    // The copy's own folder: <.cache/fault-injection-XXXX>/dist/cli/main.js.
    rmSync(join(cliMain, '..', '..', '..'), { recursive: true, force: true });
    if (process.env.NAS_FAULT_KEEP === '1' || failed) console.log(`work folder kept: ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

/**
 * Both runs' processes run one copy of the compiled CLI, taken now: a `npm run build` in the same
 * checkout during the suite (someone at work in the tree) must not hand the faulty run's
 * replacement workers other code than the undisturbed run had. The copy sits inside the checkout,
 * so that it resolves node_modules and the project root as dist/ does.
 */
function snapshotBuild(): string {
  const dist = join(repoRoot(), 'dist');
  if (!existsSync(join(dist, 'cli', 'main.js'))) throw new Error('dist/ is not built: run `npm run build` (or `npm run test:faults`, which builds first)');
  const parent = join(repoRoot(), '.cache');
  mkdirSync(parent, { recursive: true });
  const copy = join(mkdtempSync(join(parent, 'fault-injection-')), 'dist');
  cpSync(dist, copy, { recursive: true });
  return join(copy, 'cli', 'main.js');
}

function expectations(doc: PipelineDoc, runId: string) {
  return { runId, searchEpochs: doc.stages.baselineSearch.epochs, elasticEpochs: doc.stages.elasticTraining.epochs };
}

async function runPipeline(services: FaultServices, cliMain: string, root: string, doc: PipelineDoc, name: string, faultSeed: number | undefined): Promise<RunOutcome> {
  const runId = `faults-${name}`;
  const location = `s3://${BUCKET}/${name}`;
  const file = join(root, `${name}.yaml`);
  writeFileSync(file, stringify({ ...doc, $schema: undefined, artifacts: { location } }));
  const env = services.env(`faults-${name}`);
  const pool = new WorkerPool(cliMain, env, POOL_SIZE, join(root, 'logs', name), name === 'faulty' ? 'fw' : 'uw');
  const stopPool = () => pool.stop(1000);
  cleanups.add(stopPool);
  await pool.start().catch(async (err: Error) => {
    await pool.stop(1000);
    throw err;
  });
  console.log(`\n[${name}] ${POOL_SIZE} workers ready; submitting run ${runId} (artifacts ${location})`);

  const startedAt = Date.now();
  const submitterLog = createWriteStream(join(root, 'logs', name, 'nas-run.log'));
  const submitter = spawn(process.execPath, nasArgv(cliMain, ['run', file, '--run-id', runId]), { env, cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
  let submitterOut = '';
  for (const stream of [submitter.stdout!, submitter.stderr!]) {
    stream.on('data', (d: Buffer) => {
      submitterLog.write(d);
      submitterOut = (submitterOut + d.toString()).slice(-6000);
    });
  }
  const submitterExit = new Promise<number | null>((resolve) => submitter.once('close', (code) => resolve(code)));

  const monitor = new RunMonitor(services.client, services.connection, runId);
  const outcome: RunOutcome = { name, runId, location, startedAt, seconds: 0, status: 'UNKNOWN', submitterCode: null, submitterTail: '', faults: [], monitor, pool };
  // The run must exist before it can be watched.
  await until(async () => (await monitor.observe()).runStatus !== undefined, 60_000, 'the run to start');
  monitor.start();
  const driver = faultSeed === undefined ? Promise.resolve() : driveFaults(services, outcome, doc, faultSeed).catch((err: Error) => void (outcome.driverError = err.stack ?? err.message));
  try {
    const ended = await awaitResult(services, runId, startedAt + RUN_TIMEOUT_MS);
    Object.assign(outcome, ended);
    await driver;
    outcome.submitterCode = await Promise.race([submitterExit, sleep(30_000).then(() => null)]);
  } finally {
    monitor.stop();
    outcome.seconds = (Date.now() - startedAt) / 1000;
    if (submitter.exitCode === null) submitter.kill('SIGKILL');
    submitterLog.end();
    outcome.submitterTail = submitterOut;
    cleanups.delete(stopPool);
    await pool.stop();
  }
  if (outcome.result?.evaluation) outcome.summary = await getJson<EvaluationSummary>(services.store(location), outcome.result.evaluation.summaryKey);
  return outcome;
}

/** The pipeline's result; rides out the Temporal restart (the long poll fails while it is down). */
async function awaitResult(services: FaultServices, runId: string, deadline: number): Promise<Pick<RunOutcome, 'status' | 'failure' | 'result'>> {
  for (;;) {
    try {
      const result = (await services.client.workflow.getHandle(runId).result()) as PipelineWorkflowResult;
      return { status: 'COMPLETED', result };
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        let cause: Error = err;
        while (cause.cause instanceof Error) cause = cause.cause;
        return { status: 'FAILED', failure: cause.message };
      }
      if (Date.now() > deadline) return { status: 'TIMED OUT', failure: `the run did not end within ${RUN_TIMEOUT_MS / 60_000} min` };
      await sleep(1000);
    }
  }
}

async function until(probe: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve(probe()).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

/** Where each activity type checkpoints, and what one interval is. */
function policies(doc: PipelineDoc, runId: string): Record<string, CheckpointPolicy> {
  const search = doc.stages.baselineSearch.checkpointEverySteps;
  const elastic = doc.stages.elasticTraining.checkpointEverySteps;
  const scaling = doc.stages.compoundScaling.checkpointEverySteps;
  const run = runLayout(runId);
  return {
    supernetEpoch: { prefix: () => run.search.checkpoints, intervalSteps: () => search, intervalText: () => `${search} steps` },
    elasticCoordinator: {
      prefix: (a) => run.elastic(run.elasticStage(a.key.split('#')[0].slice(`${runId}.elastic-`.length))).checkpoints,
      intervalSteps: () => elastic,
      intervalText: () => `${elastic} steps`,
    },
    scalingTrial: {
      // The trial's grid point is in its heartbeat; before the first one, its checkpoints are unknown.
      prefix: (a) => (typeof a.details?.point === 'string' ? run.scaling.trialCheckpoints(a.details.point) : undefined),
      intervalSteps: () => scaling,
      intervalText: () => `${scaling} steps`,
    },
    evaluateModel: { intervalText: () => 'one model (ends before its first timed checkpoint)' },
  };
}

const NO_POLICY: CheckpointPolicy = { intervalText: () => 'whole activity' };

async function listCheckpoints(services: FaultServices, location: string, prefixes: string[]): Promise<Record<string, CheckpointObject[]>> {
  const store = services.store(location);
  const out: Record<string, CheckpointObject[]> = {};
  for (const prefix of new Set(prefixes)) {
    const res = await services.admin.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: store.prefix + prefix }));
    out[prefix] = (res.Contents ?? [])
      .filter((o) => o.Key?.endsWith('.ckpt'))
      .map((o) => ({ key: o.Key!.slice(store.prefix.length), step: checkpointStep(o.Key) ?? -1, writtenAt: o.LastModified?.getTime() ?? 0 }))
      .sort((a, b) => a.step - b.step);
  }
  return out;
}

/** The faulty run's fault schedule; runs until the pipeline ends. */
async function driveFaults(services: FaultServices, run: RunOutcome, doc: PipelineDoc, seed: number): Promise<void> {
  // mulberry32: the fault schedule is the same for the same seed.
  const random = mulberry32(seed);
  const between = ([lo, hi]: [number, number]) => lo + (hi - lo) * random();
  const { monitor, pool } = run;
  const policy = policies(doc, run.runId);
  const killsIn = new Map<string, number>();
  let s3Paused = false;
  let restarted = false;
  const at = () => ((Date.now() - run.startedAt) / 1000).toFixed(0);

  const record = async (kind: FaultRecord['kind'], stage: string, obs: Observation, hit: ActivityView[], victim?: PoolWorker, before?: () => void): Promise<FaultRecord> => {
    // A kill: the victim's work. A server fault: all of the stage's pending work, started or not.
    let watched = (kind === 'kill worker' ? hit : obs.activities).filter((a) => PROGRESS_TYPES.has(a.type));
    const forParticipant = watched.length === 0 && stageKind(stage) === 'elastic';
    if (forParticipant) watched = obs.activities.filter((a) => a.type === 'elasticCoordinator');
    const prefixes = (kind === 'kill worker' ? hit : obs.activities).map((a) => (policy[a.type] ?? NO_POLICY).prefix?.(a)).filter((p): p is string => p !== undefined);
    // Server faults: the store is listed before it goes away; a kill: right after it, when nothing writes for the victim any more.
    const fault: FaultRecord = { n: run.faults.length + 1, kind, at: 0, stage, victim: victim?.identity, hit, watched, watchedForParticipant: forParticipant, checkpoints: {}, notes: [], effects: [] };
    if (kind !== 'kill worker') fault.checkpoints = await listCheckpoints(services, run.location, prefixes);
    fault.at = Date.now();
    before?.();
    if (kind === 'kill worker') fault.checkpoints = await listCheckpoints(services, run.location, prefixes);
    run.faults.push(fault);
    return fault;
  };

  const awaitRecovery = async (fault: FaultRecord) => {
    const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
    for (;;) {
      const when = recoveredBy(monitor, fault);
      if (when !== undefined) return;
      if (Date.now() > deadline) {
        fault.notes.push(`no recovery within ${RECOVERY_TIMEOUT_MS / 1000} s`);
        return;
      }
      await sleep(200);
    }
  };

  /** Until a later attempt of every activity the kill hit runs with its own heartbeat, or the stage is over. */
  const awaitRetry = async (fault: FaultRecord) => {
    const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
    for (;;) {
      const o = await monitor.observe();
      if ((o.runStatus && o.runStatus !== 'RUNNING') || (!o.error && o.stage !== fault.stage)) return;
      const running = fault.watched.every((w) => {
        const now = o.activities.find((a) => a.key === w.key);
        return !now || (now.state === 'STARTED' && now.attempt > w.attempt && ownHeartbeat(now));
      });
      if (!o.error && running) return;
      if (Date.now() > deadline) {
        fault.notes.push(`no retry running within ${RECOVERY_TIMEOUT_MS / 1000} s`);
        return;
      }
      await sleep(200);
    }
  };

  for (;;) {
    const obs = monitor.latest;
    if (obs?.runStatus && obs.runStatus !== 'RUNNING') return;
    const stage = obs?.stage;
    const kind = stage ? stageKind(stage) : undefined;
    if (!stage || !kind || !KILLS[kind] || (killsIn.get(stage) ?? 0) >= KILLS[kind].quota) {
      await sleep(200);
      continue;
    }
    const n = killsIn.get(stage) ?? 0;
    // Elastic kills alternate between the coordinator's worker and a participant's.
    const aim = kind === 'elastic' ? (n % 2 === 0 ? ['elasticCoordinator'] : ['elasticParticipant']) : WORK[kind];
    const working = (o: Observation) =>
      startedActivities(o).filter((a) => aim.includes(a.type) && ownHeartbeat(a) && pool.ready().some((w) => w.identity === a.worker) && (a.type !== 'elasticParticipant' || Number(a.details?.steps ?? 0) > 0));
    if (working(obs!).length === 0) {
      await sleep(200);
      continue;
    }
    const wait = between(KILLS[kind].delay) * 1000;
    const startedAt = Math.max(...working(obs!).map((a) => a.lastStartedMs ?? Date.now()));
    await sleep(KILLS[kind].fromAttemptStart ? Math.max(0, startedAt + wait - Date.now()) : wait);
    const fresh = await monitor.observe();
    if (fresh.stage !== stage) continue;
    const candidates = working(fresh);
    if (candidates.length === 0) continue;
    const target = candidates[Math.floor(random() * candidates.length)];
    const victim = pool.byIdentity(target.worker)!;
    const hit = startedActivities(fresh).filter((a) => a.worker === victim.identity);
    const fault = await record('kill worker', stage, fresh, hit, victim, () => pool.kill(victim));
    killsIn.set(stage, n + 1);
    console.log(`[faulty] +${at()}s fault ${fault.n}: SIGKILL ${victim.identity} in ${stage} (${hit.map((a) => describeHit(a)).join(', ')})`);
    await (KILLS[kind].fromAttemptStart ? awaitRetry(fault) : awaitRecovery(fault));

    if (!s3Paused && kind === S3_PAUSE.stage && n + 1 === S3_PAUSE.afterKill) {
      s3Paused = true;
      const o = await monitor.observe();
      const f = await record('pause S3', o.stage ?? stage, o, startedActivities(o), undefined, () => services.pauseS3());
      console.log(`[faulty] +${at()}s fault ${f.n}: MinIO paused (SIGSTOP) for ${S3_PAUSE.seconds} s`);
      await sleep(S3_PAUSE.seconds * 1000);
      services.resumeS3();
      f.outageMs = Date.now() - f.at;
      f.notes.push(`MinIO paused ${(f.outageMs / 1000).toFixed(0)} s: every S3 call hung meanwhile`);
      await awaitRecovery(f);
    }
    if (!restarted && kind === TEMPORAL_RESTART.stage && n + 1 === TEMPORAL_RESTART.afterKill) {
      restarted = true;
      await restartTemporal(services, run, record, awaitRecovery, at);
    }
  }
}

async function restartTemporal(
  services: FaultServices,
  run: RunOutcome,
  record: (kind: FaultRecord['kind'], stage: string, obs: Observation, hit: ActivityView[], victim?: PoolWorker, before?: () => void) => Promise<FaultRecord>,
  awaitRecovery: (f: FaultRecord) => Promise<void>,
  at: () => string,
): Promise<void> {
  const { monitor, pool } = run;
  const o = await monitor.observe();
  let restart: Promise<{ killedAt: number; upAt: number }> | undefined;
  const f = await record('restart Temporal', o.stage ?? '?', o, startedActivities(o), undefined, () => (restart = services.restartTemporal()));
  const { killedAt, upAt } = await restart!;
  f.outageMs = upAt - killedAt;
  console.log(`[faulty] +${at()}s fault ${f.n}: Temporal dev server SIGKILLed and started again on the same port and database (${(f.outageMs / 1000).toFixed(1)} s down)`);
  // Every worker alive now must poll the task queue again, and this process's client must read again.
  const queue = `faults-${run.name}`;
  const expected = pool.ready().map((w) => w.identity);
  const deadline = Date.now() + 60_000;
  let pollers: string[] = [];
  let clientSeconds: number | undefined;
  while (Date.now() < deadline) {
    const obs = await monitor.observe();
    if (!obs.error && clientSeconds === undefined) clientSeconds = Math.max(0, Date.now() - upAt) / 1000;
    try {
      const res = await services.client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: queue, kind: 1 }, taskQueueType: 1 });
      pollers = (res.pollers ?? []).map((p) => p.identity ?? '');
    } catch {
      pollers = [];
    }
    if (clientSeconds !== undefined && expected.every((id) => pollers.includes(id))) break;
    await sleep(500);
  }
  const missing = expected.filter((id) => !pollers.includes(id));
  run.reconnect = {
    workers: expected,
    missing,
    workersSeconds: missing.length === 0 ? (Date.now() - upAt) / 1000 : undefined,
    clientSeconds,
    submitterAlive: true,
  };
  f.notes.push(
    missing.length === 0
      ? `all ${expected.length} workers polling again, and the suite's client reading again, within ${Math.max(run.reconnect.workersSeconds!, clientSeconds ?? 0).toFixed(1)} s of the server answering (it answered ${(f.outageMs / 1000).toFixed(1)} s after the kill)`
      : `workers not polling 60 s after the restart: ${missing.join(', ')}`,
  );
  await awaitRecovery(f);
}

function describeHit(a: ActivityView): string {
  const d = a.details ?? {};
  // Temporal shows the previous attempt's heartbeat until the new attempt sends its own.
  if (PROGRESS_TYPES.has(a.type) && !ownHeartbeat(a)) return `${a.type} attempt ${a.attempt}, starting (no heartbeat yet)`;
  switch (a.type) {
    case 'supernetEpoch':
      return `search epoch ${Number(d.epoch) + 1} at step ${d.step}, attempt ${a.attempt}`;
    case 'scalingTrial':
      return `trial ${d.point} at step ${d.step}/${d.totalSteps}, attempt ${a.attempt}`;
    case 'elasticCoordinator':
      return `coordinator at step ${d.step}, attempt ${a.attempt}`;
    case 'elasticParticipant':
      return `participant slot ${a.key.split('#').pop()}`;
    case 'evaluateModel':
      return `evaluation of ${d.model}: ${d.phase}${d.target ? ` ${d.target}` : ''} ${d.done}/${d.total}, attempt ${a.attempt}`;
    default:
      return `${a.type}, attempt ${a.attempt}`;
  }
}

function printRunLine(r: RunOutcome): void {
  console.log(`[${r.name}] run ${r.runId}: ${r.status}${r.failure ? ` (${r.failure})` : ''} in ${r.seconds.toFixed(0)} s; \`nas run\` exited ${r.submitterCode}`);
  if (r.driverError) console.log(`[${r.name}] the fault driver failed: ${r.driverError}`);
}

/** Prints the table, the metrics and the checks; returns whether anything failed. */
function report(doc: PipelineDoc, quiet: RunOutcome, faulty: RunOutcome, integrity: IntegrityReport | undefined, edge: EdgeRow[], wallStart: number): boolean {
  const policy = policies(doc, faulty.runId);
  for (const [i, f] of faulty.faults.entries()) {
    const horizon = faulty.faults[i + 1]?.at ?? Number.POSITIVE_INFINITY;
    f.hit.push(...hitDuringOutage(faulty.monitor, f));
    f.effects = f.hit.filter((a) => a.type !== 'elasticParticipant').map((a) => effectOn(faulty.monitor, f, a, policy[a.type] ?? NO_POLICY, horizon));
    f.recoveredAt = recoveredBy(faulty.monitor, f);
    const again = faulty.faults.slice(i + 1).find((g) => g.kind === 'kill worker' && g.at < (f.recoveredAt ?? Infinity) && g.hit.some((a) => f.hit.some((b) => b.key === a.key)));
    if (again) f.notes.push(`its retry was killed too (fault ${again.n}) before it got back to where this one hit; the recovery time spans both`);
  }

  console.log('\n## Faults injected into the faulty run\n');
  console.log(
    `Checkpoint intervals: search ${doc.stages.baselineSearch.checkpointEverySteps} steps, scaling trials ${doc.stages.compoundScaling.checkpointEverySteps} steps, ` +
      `elastic training ${doc.stages.elasticTraining.checkpointEverySteps} steps; model evaluations checkpoint after their accuracy pass, after each target and every checkpointEverySeconds of the pass (60 s by default, longer than these take), so the table counts the whole attempt as lost, an upper bound. ` +
      'Lost steps: steps the hit attempt had done (its last heartbeat) past the checkpoint its retry resumed from. ' +
      'Lost s: wall time from that checkpoint (or the attempt start, if later) to the fault, an upper bound on the work lost. ' +
      'Recovery: from the fault until the hit work moved past where it was (for a killed participant: until the coordinator stepped again).\n',
  );
  const rows = faulty.faults.map((f) => {
    const lostSteps = f.effects.filter((e) => e.lostSteps !== undefined).map((e) => e.lostSteps!);
    const lostSeconds = f.effects.map((e) => e.lostSeconds);
    const main = f.effects.find((e) => e.restarted) ?? f.effects[0];
    const participant = f.hit.some((a) => a.type === 'elasticParticipant');
    const what =
      f.hit.length === 0
        ? 'nothing running'
        : [...f.hit.map(describeHit)].join('; ');
    const resumed = [
      ...new Set(f.effects.filter((e) => e.restarted && e.resumedFrom !== undefined && policy[e.type]?.prefix).map((e) => `step ${e.resumedFrom} (newest ${e.newestCheckpoint ?? 'none'})`)),
    ].join('; ');
    const restartedNote = f.effects.some((e) => e.restarted) ? '' : participant ? 'slice re-assigned, no step rolled back' : f.hit.length ? 'no attempt lost' : '';
    const ok = f.effects.every((e) => e.ok) && f.recoveredAt !== undefined;
    return [
      String(f.n),
      f.kind + (f.victim ? ` ${f.victim}` : '') + (f.outageMs ? ` (${(f.outageMs / 1000).toFixed(1)} s)` : ''),
      `+${((f.at - faulty.startedAt) / 1000).toFixed(0)} s`,
      f.stage,
      what,
      lostSteps.length ? String(Math.max(...lostSteps)) : main?.type === 'evaluateModel' ? 'n/a' : '0',
      (lostSeconds.length ? Math.max(...lostSeconds) : 0).toFixed(1),
      main?.intervalText ?? (participant ? `${doc.stages.elasticTraining.checkpointEverySteps} steps` : '-'),
      resumed || restartedNote || (main?.why ?? '-'),
      f.recoveredAt !== undefined ? ((f.recoveredAt - f.at) / 1000).toFixed(1) : 'never',
      ok ? 'yes' : `NO: ${[...f.effects.filter((e) => !e.ok).map((e) => e.why), f.recoveredAt === undefined ? 'no recovery' : ''].filter(Boolean).join('; ')}`,
    ];
  });
  printTable(['#', 'fault', 'at', 'stage', 'hit', 'lost steps', 'lost s', 'checkpoint interval', 'resumed from', 'recovery s', 'ok'], rows);
  const notes = faulty.faults.flatMap((f) => f.notes.map((n) => `fault ${f.n}: ${n}`));
  const spurious = unexplainedRetries(faulty.monitor, faulty.faults);
  if (notes.length) console.log('\n' + notes.map((n) => `- ${n}`).join('\n'));
  if (spurious.length) console.log(`- retries no injected fault explains (heartbeat timeouts): ${spurious.join(', ')}`);
  const exits = faulty.pool.unexpectedExits();
  if (exits.length) console.log(`- workers that exited on their own: ${exits.map((w) => `${w.identity} (code ${w.exited?.code}, see ${w.logFile})`).join(', ')}`);

  console.log('\n## Final metrics (same seed)\n');
  const byId = (r: RunOutcome) => new Map((r.summary?.models ?? []).map((m) => [m.id, m]));
  const q = byId(quiet);
  const z = byId(faulty);
  const ids = [...new Set([...q.keys(), ...z.keys()])];
  printTable(
    ['model', 'undisturbed test acc', 'faulty test acc', 'difference (points)'],
    ids.map((id) => {
      const a = q.get(id)?.testAccuracy;
      const b = z.get(id)?.testAccuracy;
      return [q.get(id)?.label ?? z.get(id)?.label ?? id, a?.toFixed(4) ?? '-', b?.toFixed(4) ?? '-', a !== undefined && b !== undefined ? ((b - a) * 100).toFixed(2) : '-'];
    }),
  );
  const context = (r: RunOutcome) => {
    const s = r.result?.search?.mode === 'one-shot' ? r.result.search.result : undefined;
    const c = r.result?.scaling;
    const e = r.result?.elastic?.[0];
    return [
      r.name,
      `${r.seconds.toFixed(0)} s`,
      (r.result?.stages ?? []).map((st) => `${st.stage} ${st.seconds.toFixed(0)}`).join(', '),
      s ? s.blocks.join(' ') : '-',
      c ? `${c.alpha}/${c.beta}/${c.gamma}` : '-',
      e ? `${e.steps} steps, ${e.workersSeen} workers, coordinator attempt ${e.attempt}` : '-',
    ];
  };
  console.log('');
  printTable(['run', 'wall', 'stage seconds', 'searched architecture', 'scaling alpha/beta/gamma', 'elastic training'], [context(quiet), context(faulty)]);

  if (integrity) {
    console.log(`\n## Integrity of s3://${BUCKET}/${faulty.name}/ after the faulty run\n`);
    console.log(
      `${integrity.objects} objects (${(integrity.bytes / 1e6).toFixed(1)} MB): ${integrity.verified} read back with a matching SHA-256; ` +
        `${integrity.corrupt.length} corrupt, ${integrity.partial.length} partial or leftover, ${integrity.multipartUploads} incomplete multipart uploads, ` +
        `${integrity.orphans.length} orphans, ${integrity.missing.length} missing outputs`,
    );
    for (const [what, list] of [['corrupt', integrity.corrupt], ['partial', integrity.partial], ['orphan', integrity.orphans], ['missing', integrity.missing]] as const) {
      for (const item of list) console.log(`- ${what}: ${item}`);
    }
  }

  const edgeChecks = reportEdge(edge);

  // The checks.
  const checks: [string, boolean, string][] = [];
  const kills = faulty.faults.filter((f) => f.kind === 'kill worker');
  const perStage = new Map<string, number>();
  for (const f of kills) perStage.set(stageKind(f.stage), (perStage.get(stageKind(f.stage)) ?? 0) + 1);
  checks.push(['undisturbed run completed', quiet.status === 'COMPLETED' && quiet.submitterCode === 0, `${quiet.status}${quiet.failure ? `: ${quiet.failure}` : ''}, nas run exit ${quiet.submitterCode}`]);
  checks.push(['faulty run completed', faulty.status === 'COMPLETED' && faulty.submitterCode === 0, `${faulty.status}${faulty.failure ? `: ${faulty.failure}` : ''}, nas run exit ${faulty.submitterCode}`]);
  checks.push([
    `at least ${MIN_KILLS} worker kills, at least ${MIN_KILLS_PER_STAGE} in every stage`,
    kills.length >= MIN_KILLS && Object.keys(KILLS).every((k) => (perStage.get(k) ?? 0) >= MIN_KILLS_PER_STAGE),
    `${kills.length} kills: ${Object.keys(KILLS).map((k) => `${k} ${perStage.get(k) ?? 0}`).join(', ')}`,
  ]);
  checks.push(['Temporal restarted and S3 paused once each', faulty.faults.some((f) => f.kind === 'restart Temporal') && faulty.faults.some((f) => f.kind === 'pause S3'), faulty.faults.filter((f) => f.kind !== 'kill worker').map((f) => f.kind).join(', ') || 'neither']);
  const bad = faulty.faults.filter((f) => !f.effects.every((e) => e.ok) || f.recoveredAt === undefined);
  checks.push(['every fault lost at most one checkpoint interval, resumed from the newest checkpoint, and recovered', bad.length === 0, bad.length ? `faults ${bad.map((f) => f.n).join(', ')}` : `${faulty.faults.length} faults`]);
  const rc = faulty.reconnect;
  checks.push([
    'workers and clients reconnected after the Temporal restart',
    !!rc && rc.missing.length === 0 && rc.clientSeconds !== undefined && faulty.submitterCode === 0,
    rc ? `${rc.workers.length - rc.missing.length}/${rc.workers.length} workers polling again; suite client after ${rc.clientSeconds?.toFixed(1)} s; nas run exit ${faulty.submitterCode}` : 'no restart happened',
  ]);
  checks.push(['no worker exited on its own', exits.length === 0, exits.length ? exits.map((w) => w.identity).join(', ') : `${faulty.pool.workers.length} worker processes`]);
  const diffs = ids.map((id) => (q.get(id) && z.get(id) ? Math.abs(z.get(id)!.testAccuracy - q.get(id)!.testAccuracy) : Number.POSITIVE_INFINITY));
  checks.push([
    `final test accuracy within ${ACCURACY_TOLERANCE * 100} points of the undisturbed run`,
    ids.length > 0 && diffs.every((d) => d <= ACCURACY_TOLERANCE),
    ids.length ? ids.map((id, i) => `${id}: ${Number.isFinite(diffs[i]) ? (diffs[i] * 100).toFixed(2) : 'missing'}`).join(', ') : 'no evaluation summary',
  ]);
  checks.push(['artifacts whole, complete, no orphans', integrity?.ok === true, integrity ? `${integrity.verified}/${integrity.objects} verified` : 'not checked (no result)']);
  if (faulty.driverError) checks.push(['the fault driver ran to the end', false, faulty.driverError.split('\n')[0]]);
  checks.push(...edgeChecks);

  console.log('\n## Checks\n');
  for (const [what, ok, detail] of checks) console.log(`- ${ok ? 'PASS' : 'FAIL'} ${what}: ${detail}`);
  const failed = checks.filter(([, ok]) => !ok);
  console.log(`\ntotal wall time ${((Date.now() - wallStart) / 1000).toFixed(0)} s`);
  if (failed.length) {
    console.log(`\nfault-injection suite FAILED: ${failed.map(([w]) => w).join('; ')}`);
    if (faulty.status !== 'COMPLETED') console.log(`\nlast output of the faulty run's \`nas run\`:\n${faulty.submitterTail}`);
  } else {
    console.log('\nfault-injection suite passed');
  }
  return failed.length > 0;
}

/** Prints the edge faults' table; returns one check per fault. */
function reportEdge(edge: EdgeRow[]): [string, boolean, string][] {
  console.log('\n## Faults outside the kill schedule (each on a small embedded `nas run`; edge-faults.ts)\n');
  printTable(
    ['fault', 'stage', 'outcome', 's', 'ok', 'checked'],
    edge.map((r) => [r.fault, r.stage, r.outcome, r.seconds !== undefined ? r.seconds.toFixed(1) : '-', r.ok ? 'yes' : 'NO', r.checked]),
  );
  return edge.map((r) => [`${r.fault}: ends as designed`, r.ok, r.ok ? r.outcome : r.checked]);
}

function printTable(header: string[], rows: string[][]): void {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => ' --- ').join('|')}|`);
  for (const r of rows) console.log(`| ${r.map(esc).join(' | ')} |`);
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`fault-injection suite could not run: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
