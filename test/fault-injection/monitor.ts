/**
 * Watches one run from Temporal alone, the way `nas status` does, but without needing a worker:
 * the pipeline workflow's pending child is the stage running now, and the stage workflow's pending
 * activities carry the attempt, the worker identity and the last heartbeat (step, checkpoint key).
 * Every observation is kept, so faults can be judged afterwards against the whole timeline.
 */
import { defaultPayloadConverter, type Client, type Connection } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';

export interface ActivityView {
  /** Unique within the run: `<stage workflow id>#<activity id>`. */
  key: string;
  type: string;
  attempt: number;
  state: 'SCHEDULED' | 'STARTED' | 'CANCEL_REQUESTED' | 'OTHER';
  worker?: string;
  details?: Record<string, unknown>;
  lastHeartbeatMs?: number;
  lastStartedMs?: number;
}

export interface Observation {
  at: number;
  /** Stage name as the pipeline names its child workflows: search, scaling, elastic-phi-1, evaluation. */
  stage?: string;
  stageWorkflowId?: string;
  activities: ActivityView[];
  /** RUNNING, COMPLETED, FAILED, ... of the pipeline workflow. */
  runStatus?: string;
  /** Set when Temporal could not be read (a restart in progress). */
  error?: string;
}

const STATES: Record<number, ActivityView['state']> = { 1: 'SCHEDULED', 2: 'STARTED', 3: 'CANCEL_REQUESTED' };

/** The heartbeat details are this attempt's own (Temporal keeps the previous attempt's until the new one beats). */
export function ownHeartbeat(a: ActivityView): boolean {
  return a.details !== undefined && a.lastHeartbeatMs !== undefined && a.lastStartedMs !== undefined && a.lastHeartbeatMs >= a.lastStartedMs;
}

/** Phases of an evaluation, in order, for a progress number that only grows within one attempt. */
const EVAL_PHASES = ['loading', 'accuracy', 'latency'];

/**
 * How far an activity's current attempt has got, from its own heartbeat: the training step for
 * the search epoch, the scaling trial and the elastic coordinator; for an evaluation a number that
 * orders (model, phase, target, done). Undefined without an own heartbeat.
 */
export function progressOf(a: ActivityView, targetOrder: string[]): number | undefined {
  if (!ownHeartbeat(a)) return undefined;
  const d = a.details!;
  switch (a.type) {
    case 'supernetEpoch':
    case 'scalingTrial':
    case 'elasticCoordinator':
      return typeof d.step === 'number' ? d.step : undefined;
    case 'evaluateModel': {
      const target = typeof d.target === 'string' ? d.target : '';
      if (target && !targetOrder.includes(target)) targetOrder.push(target);
      const phase = Math.max(0, EVAL_PHASES.indexOf(String(d.phase)));
      return Number(d.index ?? 0) * 1e7 + phase * 1e6 + (target ? targetOrder.indexOf(target) + 1 : 0) * 1e5 + Number(d.done ?? 0);
    }
    default:
      return undefined;
  }
}

export class RunMonitor {
  readonly observations: Observation[] = [];
  /** Evaluation targets in the order they were first seen, for progressOf. */
  readonly targetOrder: string[] = [];
  private timer?: NodeJS.Timeout;
  private polling?: Promise<Observation>;

  constructor(
    private readonly client: Client,
    private readonly connection: Connection,
    readonly runId: string,
  ) {}

  get latest(): Observation | undefined {
    return this.observations[this.observations.length - 1];
  }

  /** Polls in the background every `everyMs` until stop(). */
  start(everyMs = 400): void {
    const tick = async () => {
      await this.observe();
      if (this.timer) this.timer = setTimeout(tick, everyMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One fresh observation (shared with a poll already in flight), appended to the timeline. */
  observe(): Promise<Observation> {
    this.polling ??= this.read().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async read(): Promise<Observation> {
    // Stamped when the reads have returned: a call made before a restart may be answered after it.
    let at = Date.now();
    const deadline = () => Date.now() + 3000;
    let obs: Observation;
    try {
      const run = await this.connection.withDeadline(deadline(), () => this.client.workflow.getHandle(this.runId).describe());
      const child = run.raw.pendingChildren?.[0];
      const stageWorkflowId = child?.workflowId ?? undefined;
      obs = {
        at,
        runStatus: run.status.name,
        stageWorkflowId,
        stage: stageWorkflowId?.startsWith(`${this.runId}.`) ? stageWorkflowId.slice(this.runId.length + 1) : stageWorkflowId,
        activities: [],
      };
      if (stageWorkflowId) {
        const stage = await this.connection.withDeadline(deadline(), () => this.client.workflow.getHandle(stageWorkflowId).describe());
        for (const p of stage.raw.pendingActivities ?? []) {
          const payload = p.heartbeatDetails?.payloads?.[0];
          obs.activities.push({
            key: `${stageWorkflowId}#${p.activityId}`,
            type: p.activityType?.name ?? '?',
            attempt: p.attempt ?? 1,
            state: STATES[Number(p.state)] ?? 'OTHER',
            worker: p.lastWorkerIdentity || undefined,
            details: payload ? defaultPayloadConverter.fromPayload<Record<string, unknown>>(payload) : undefined,
            lastHeartbeatMs: p.lastHeartbeatTime ? tsToMs(p.lastHeartbeatTime) : undefined,
            lastStartedMs: p.lastStartedTime ? tsToMs(p.lastStartedTime) : undefined,
          });
        }
      }
      obs.at = at = Date.now();
    } catch (err) {
      at = Date.now();
      obs = { at, activities: [], error: (err as Error).message, stage: this.latest?.stage, stageWorkflowId: this.latest?.stageWorkflowId };
    }
    this.observations.push(obs);
    return obs;
  }

  /** Observations of one activity, in time order. */
  history(key: string): { obs: Observation; a: ActivityView }[] {
    const out: { obs: Observation; a: ActivityView }[] = [];
    for (const obs of this.observations) {
      const a = obs.activities.find((x) => x.key === key);
      if (a) out.push({ obs, a });
    }
    return out;
  }
}
