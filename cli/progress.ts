/**
 * Live progress of a pipeline run, read from Temporal itself (the pipeline's status query and the
 * running activity's last heartbeat), so it works the same for an embedded run and a cluster.
 */
import { defaultPayloadConverter, type WorkflowClient } from '@temporalio/client';
import type { ElasticProgress, ProgressAccuracy } from '../activities/elastic-training';
import type { EvaluationProgress } from '../activities/evaluate-model';
import type { TrainProgress } from '../activities/train-classifier';
import type { ScalingProgress } from '../workflows/compound-scaling';
import type { EvaluationStatus } from '../workflows/evaluation';
import type { SearchProgress } from '../workflows/multi-trial-search';
import type { OneShotProgress } from '../workflows/one-shot-search';
import type { PipelineStatus } from '../workflows/pipeline';

export interface ProgressSnapshot {
  stage?: string;
  search?: SearchProgress;
  scaling?: ScalingProgress;
  elastic?: ElasticProgress;
  /** Which model the evaluation is at (workflow query) and how far into it (activity heartbeat). */
  evaluation?: { status: EvaluationStatus; activity?: EvaluationProgress };
  activity?: TrainProgress;
  /** The stage's latest accuracy when the workflow, not the activity, knows it (one-shot search). */
  accuracy?: ProgressAccuracy;
  attempt?: number;
}

type Description = Awaited<ReturnType<ReturnType<WorkflowClient['getHandle']>['describe']>>;

/** The running activity's last heartbeat (of the named type, else the first), decoded, and its attempt number. */
function pendingHeartbeat<T = TrainProgress>(description: Description, activityType?: string): { activity?: T; attempt?: number } {
  const all = description.raw.pendingActivities ?? [];
  const pending = activityType ? all.find((a) => a.activityType?.name === activityType) : all[0];
  const payload = pending?.heartbeatDetails?.payloads?.[0];
  return {
    activity: payload ? defaultPayloadConverter.fromPayload<T>(payload) : undefined,
    attempt: pending?.attempt ?? undefined,
  };
}

export async function readProgress(client: WorkflowClient, runId: string): Promise<ProgressSnapshot> {
  const status = await client.getHandle(runId).query<PipelineStatus>('status');
  if (!status.current) return {};
  const stage = status.current.stage;
  const handle = client.getHandle(status.current.workflowId);
  const description = await handle.describe();
  if (description.type === 'elasticTrainingWorkflow') {
    const { activity, attempt } = pendingHeartbeat<ElasticProgress>(description, 'elasticCoordinator');
    return { stage, elastic: activity, attempt };
  }
  if (description.type === 'evaluationWorkflow') {
    const { activity, attempt } = pendingHeartbeat<EvaluationProgress>(description, 'evaluateModel');
    return { stage, evaluation: { status: await handle.query<EvaluationStatus>('evaluationProgress'), activity }, attempt };
  }
  const { activity, attempt } = pendingHeartbeat(description);
  switch (description.type) {
    case 'oneShotSearchWorkflow': {
      const oneShot = await handle.query<OneShotProgress>('oneShotProgress');
      if (oneShot.band) return { stage, search: oneShot.band };
      const accuracy = oneShot.last && { value: oneShot.last.validationAccuracy, on: 'validation sample, derived architecture' };
      return { stage, activity: activity && { ...activity, epochs: oneShot.epochs }, accuracy, attempt };
    }
    case 'multiTrialSearchWorkflow':
      return { stage, search: await handle.query<SearchProgress>('searchProgress') };
    case 'compoundScalingWorkflow':
      return { stage, scaling: await handle.query<ScalingProgress>('scalingProgress') };
    default:
      return { stage, activity, attempt };
  }
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

export function formatProgress(p: ProgressSnapshot): string | undefined {
  if (!p.stage) return undefined;
  if (p.scaling) {
    const b = p.scaling.best;
    const best = b ? `; best ${b.point}: accuracy ${b.validationAccuracy.toFixed(4)}` : '';
    return `[${p.stage}] ${p.scaling.done}/${p.scaling.planned} grid points done, ${p.scaling.running} running${best}`;
  }
  if (p.search) {
    const b = p.search.best;
    const best = b ? `; best trial ${b.trial}: accuracy ${b.validationAccuracy.toFixed(4)}${b.latencyMs !== undefined ? `, ${b.latencyMs.toFixed(3)} ms` : ''}` : '';
    return `[${p.stage}] ${p.search.trialsDone} trials done, ${p.search.trialsRunning} running${best}`;
  }
  if (p.elastic) {
    const e = p.elastic;
    const parts = [
      `[${p.stage}] epoch ${Math.min(e.epoch + 1, e.epochs)}/${e.epochs}`,
      `${((100 * e.samplesDone) / Math.max(1, e.samplesTotal)).toFixed(1)}% of samples`,
      `step ${e.step}`,
      `${e.workers} worker${e.workers === 1 ? '' : 's'}`,
    ];
    if (e.learningRate !== undefined) parts.push(`lr ${e.learningRate.toFixed(4)}`);
    if (e.loss !== undefined) parts.push(`loss ${e.loss.toFixed(4)}`);
    parts.push(...rateAndEta(e));
    parts.push(...accuracyPart(e.accuracy));
    if (p.attempt && p.attempt > 1) parts.push(`coordinator attempt ${p.attempt}`);
    return parts.join('  ');
  }
  if (p.evaluation) {
    const { status, activity: a } = p.evaluation;
    if (!status.model) return `[${p.stage}] writing the summary`;
    const head = `[${p.stage}] model ${status.index}/${status.count}: ${status.model.label}`;
    // The heartbeat may still be the previous model's until the new activity's first one.
    const current = a && a.model === status.model.id ? a : undefined;
    let what = 'starting';
    if (current?.phase === 'loading') what = 'loading';
    if (current?.phase === 'accuracy') what = `test accuracy ${current.done}/${current.total} images`;
    if (current?.phase === 'latency') what = `latency on ${current.target}${current.total ? ` ${current.done}/${current.total} runs` : ''}`;
    return `${head}  ${what}${p.attempt && p.attempt > 1 ? `  attempt ${p.attempt}` : ''}`;
  }
  const a = p.activity;
  if (!a) return `[${p.stage}] starting${p.attempt && p.attempt > 1 ? ` (attempt ${p.attempt})` : ''}`;
  const parts = [`[${p.stage}] epoch ${Math.min(a.epoch + 1, a.epochs)}/${a.epochs}`, `step ${a.step}/${a.totalSteps}`];
  if (a.loss !== undefined) parts.push(`loss ${a.loss.toFixed(4)}`);
  parts.push(...rateAndEta(a));
  parts.push(...accuracyPart(p.accuracy));
  if (p.attempt && p.attempt > 1) parts.push(`attempt ${p.attempt}`);
  return parts.join('  ');
}

function accuracyPart(a: ProgressAccuracy | undefined): string[] {
  return a ? [`acc ${a.value.toFixed(4)} (${a.on})`] : [];
}

function rateAndEta(p: { imagesPerSecond?: number; etaSeconds?: number }): string[] {
  const parts: string[] = [];
  if (p.imagesPerSecond) parts.push(`${p.imagesPerSecond} img/s`);
  if (p.etaSeconds !== undefined) parts.push(`ETA ${duration(p.etaSeconds)}`);
  return parts;
}

/** How long `stop` lets the poll in flight finish before aborting it. */
const STOP_GRACE_MS = 5000;

/**
 * Polls and prints progress until the returned `stop` is awaited; rewrites one line on a terminal.
 * `stop` waits for the poll in flight to settle (aborting it after a grace period) before the
 * caller may close its connection: the client's gRPC retry interceptor schedules retries on timers
 * that `Connection.close()` does not clear, so a poll left retrying fires on a shut channel and
 * throws outside any await. That crashed `nas run` with "Channel has been shut down" when a run
 * was cancelled. Aborting at once would not do either: the worker, still up, would then answer a
 * query the server has dropped, and log a warning about it.
 */
export function followProgress(client: WorkflowClient, runId: string): () => Promise<void> {
  const tty = process.stdout.isTTY;
  let last = '';
  let lastPrinted = 0;
  let stopped = false;
  // One controller per poll: the client adds a listener to the signal on every call.
  let abort = new AbortController();
  let inFlight: Promise<void> = Promise.resolve();
  const tick = async (): Promise<void> => {
    try {
      abort = new AbortController();
      const line = formatProgress(await client.withAbortSignal(abort.signal, () => readProgress(client, runId)));
      if (line && line !== last && !stopped) {
        if (tty) process.stdout.write(`\r\x1b[2K${line}`);
        else if (Date.now() - lastPrinted > 10_000) {
          console.log(line);
          lastPrinted = Date.now();
        }
        last = line;
      }
    } catch {
      // The workflow may not have started its first task yet; the next tick will tell.
    }
    if (!stopped) timer = setTimeout(poll, 1000);
  };
  const poll = (): void => {
    inFlight = tick();
  };
  let timer = setTimeout(poll, 1000);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    const grace = setTimeout(() => abort.abort(), STOP_GRACE_MS);
    await inFlight;
    clearTimeout(grace);
    if (tty && last) process.stdout.write('\n');
  };
}
