/**
 * What a fault cost, judged from the run's own timeline (heartbeats as Temporal recorded them) and
 * its artifacts (the checkpoints in the store at the moment of the fault).
 *
 * Lost work of one activity hit by a fault: the steps its attempt had done (its last own heartbeat)
 * minus the step the retry resumed from (the checkpoint key in the retry's first own heartbeat; 0
 * for activities without checkpoints, which start over), and the seconds from the moment that
 * checkpoint was written (or the attempt started, whichever is later) to the fault. The retry must
 * resume from the newest checkpoint that was in the store when the fault hit, and the steps lost
 * must not exceed one checkpoint interval. Heartbeats reach Temporal at most a second apart (see
 * infra/worker.ts), so the step at the fault is exact to within about a second of training; the
 * checkpoint rule is exact.
 *
 * Recovery: from the fault until the hit activity's progress moved past where it was (or it
 * finished, or the stage ended). A participant-only kill in elastic training rolls nothing back;
 * what it costs is the coordinator's stall, so there the coordinator's step is what is watched.
 */
import { checkpointStep } from '../../core/run-layout';
import { ownHeartbeat, progressOf, type ActivityView, type Observation, type RunMonitor } from './monitor';

export type FaultKind = 'kill worker' | 'restart Temporal' | 'pause S3';

export interface CheckpointObject {
  key: string;
  step: number;
  writtenAt: number;
}

export interface FaultRecord {
  n: number;
  kind: FaultKind;
  at: number;
  stage: string;
  victim?: string;
  /** The activities the fault hit: the victim's, or every started one for server faults. */
  hit: ActivityView[];
  /** What is watched for recovery (the hit activities with progress, else the elastic coordinator). */
  watched: ActivityView[];
  /** The watched coordinator stands in for a killed participant: it was not hit itself. */
  watchedForParticipant: boolean;
  /** Checkpoints in the store when the fault hit, per checkpoint prefix. */
  checkpoints: Record<string, CheckpointObject[]>;
  /** How long the server was away (restart, pause). */
  outageMs?: number;
  notes: string[];
  recoveredAt?: number;
  effects: ActivityEffect[];
}

export interface ActivityEffect {
  activity: string;
  type: string;
  restarted: boolean;
  stepAtFault?: number;
  resumedFrom?: number;
  newestCheckpoint?: number;
  lostSteps?: number;
  lostSeconds: number;
  /** Steps in one checkpoint interval; for activities without checkpoints, the activity's whole length. */
  intervalSteps?: number;
  intervalText: string;
  ok: boolean;
  why?: string;
}

/** Per activity type: where its checkpoints live and how long an interval is. */
export interface CheckpointPolicy {
  prefix?: (a: ActivityView) => string | undefined;
  intervalSteps?: (a: ActivityView) => number | undefined;
  intervalText: (a: ActivityView) => string;
}


/** The value an activity's progress had in one attempt, at its last own heartbeat at or before `until`. */
function lastProgress(monitor: RunMonitor, key: string, attempt: number, until: number): { value: number; at: number; a: ActivityView } | undefined {
  let found: { value: number; at: number; a: ActivityView } | undefined;
  for (const { obs, a } of monitor.history(key)) {
    if (obs.at > until) break;
    if (a.attempt !== attempt) continue;
    const value = progressOf(a, monitor.targetOrder);
    if (value !== undefined) found = { value, at: obs.at, a };
  }
  return found;
}

/**
 * When the fault's watched activities had all moved past where they were (or finished, or the stage
 * ended); undefined if not yet. Where they were:
 * - a killed attempt: the furthest its heartbeats got (the last one may reach Temporal, and be
 *   seen, only after the kill);
 * - a coordinator watched for a killed participant (not hit itself, and it may have stepped on
 *   between its last heartbeat and the kill): its first heartbeat recorded after the fault;
 * - a server fault: the furthest the work got until the server was back (work that needs no
 *   server goes on meanwhile, and stops at its next call to it); only later observations count.
 * With nothing to watch (a server fault between activities): the first heartbeat of the stage's
 * work after the outage.
 */
export function recoveredBy(monitor: RunMonitor, fault: FaultRecord): number | undefined {
  const outageEnd = fault.at + (fault.outageMs ?? 0);
  const baseline = new Map<string, number | undefined>();
  const furthest = (key: string, keep: (obs: Observation, a: ActivityView) => boolean, start: number | undefined) => {
    let best = start;
    for (const { obs, a } of monitor.history(key)) {
      const value = keep(obs, a) ? progressOf(a, monitor.targetOrder) : undefined;
      if (value !== undefined && (best === undefined || value > best)) best = value;
    }
    return best;
  };
  for (const w of fault.watched) {
    const atFault = progressOf(w, monitor.targetOrder);
    if (fault.kind !== 'kill worker') {
      baseline.set(w.key, furthest(w.key, (obs) => obs.at <= outageEnd, atFault));
    } else if (!fault.watchedForParticipant) {
      baseline.set(w.key, furthest(w.key, (_, a) => a.attempt === w.attempt, atFault));
    } else {
      const first = monitor.history(w.key).find(({ a }) => a.attempt === w.attempt && ownHeartbeat(a) && a.lastHeartbeatMs! >= fault.at);
      if (!first) return undefined;
      baseline.set(w.key, progressOf(first.a, monitor.targetOrder));
    }
  }
  for (const obs of monitor.observations) {
    if (obs.at <= outageEnd || obs.error) continue;
    if (obs.runStatus && obs.runStatus !== 'RUNNING') return obs.at;
    if (obs.stage !== fault.stage) return obs.at;
    if (fault.watched.length === 0) {
      if (obs.activities.some((a) => a.state === 'STARTED' && ownHeartbeat(a) && a.lastHeartbeatMs! > outageEnd && progressOf(a, monitor.targetOrder) !== undefined)) return obs.at;
      continue;
    }
    const all = fault.watched.every((w) => {
      const now = obs.activities.find((a) => a.key === w.key);
      if (!now) return true; // finished
      const before = baseline.get(w.key);
      const value = progressOf(now, monitor.targetOrder);
      if (before === undefined) return value !== undefined && now.state === 'STARTED';
      return value !== undefined && value > before;
    });
    if (all) return obs.at;
  }
  return undefined;
}

/**
 * A server fault also hits the attempts that started while the server was away (they hang on it,
 * time out and are retried): added to the hit list once the run is over.
 */
export function hitDuringOutage(monitor: RunMonitor, fault: FaultRecord): ActivityView[] {
  if (!fault.outageMs) return [];
  const end = fault.at + fault.outageMs;
  const seen = new Set(fault.hit.map((a) => `${a.key}@${a.attempt}`));
  const out: ActivityView[] = [];
  for (const obs of monitor.observations) {
    if (obs.at <= fault.at || obs.at > end + 1000) continue;
    for (const a of obs.activities) {
      const id = `${a.key}@${a.attempt}`;
      if (a.state === 'STARTED' && a.lastStartedMs !== undefined && a.lastStartedMs >= fault.at && a.lastStartedMs <= end && !seen.has(id)) {
        seen.add(id);
        out.push(a);
      }
    }
  }
  return out;
}

/**
 * The effect of the fault on one hit activity, from everything observed (call after the run).
 * `horizon` is when the next fault struck: a retry that starts later is that fault's doing.
 */
export function effectOn(monitor: RunMonitor, fault: FaultRecord, hit: ActivityView, policy: CheckpointPolicy, horizon = Number.POSITIVE_INFINITY): ActivityEffect {
  const intervalSteps = policy.intervalSteps?.(hit);
  const base = { activity: hit.key.split('#').pop()!, type: hit.type, intervalSteps, intervalText: policy.intervalText(hit) };
  const history = monitor.history(hit.key).filter(({ obs }) => obs.at < horizon);
  // The attempt that followed the one the fault hit, and its first own heartbeat.
  const next = history.find(({ obs, a }) => obs.at > fault.at && a.attempt > hit.attempt);
  const nextOwn = history.find(({ obs, a }) => obs.at > fault.at && a.attempt > hit.attempt && ownHeartbeat(a));
  // How far the hit attempt got: for a kill, its last heartbeat before the kill; for a server
  // fault, it may have gone on until it learnt it had been replaced.
  const until = next ? next.obs.at : fault.kind === 'kill worker' ? fault.at : horizon;
  const reached = lastProgress(monitor, hit.key, hit.attempt, until);
  const startedAt = hit.lastStartedMs ?? fault.at;
  const endedAt = fault.kind === 'kill worker' ? fault.at : (reached?.at ?? fault.at);
  const prefix = policy.prefix?.(hit);
  const stored = prefix ? (fault.checkpoints[prefix] ?? []) : [];
  const newest = stored.length ? stored[stored.length - 1] : undefined;

  if (!next) {
    return { ...base, restarted: false, stepAtFault: reached?.value, lostSteps: 0, lostSeconds: 0, ok: true };
  }
  if (!nextOwn) {
    // The retry finished without a heartbeat we saw: it found the stored result.
    return { ...base, restarted: true, stepAtFault: reached?.value, newestCheckpoint: newest?.step, lostSteps: 0, lostSeconds: 0, ok: true, why: 'retry returned the stored result' };
  }
  if (hit.type === 'evaluateModel') {
    // The suite's evaluations end before their first timed checkpoint: count the whole attempt (an upper bound).
    const lostSeconds = Math.max(0, endedAt - startedAt) / 1000;
    return { ...base, restarted: true, lostSeconds, ok: true };
  }
  const resumedFrom = prefix ? (checkpointStep(nextOwn.a.details?.checkpointKey) ?? 0) : 0;
  const stepAtFault = reached?.value ?? resumedFrom;
  const lostSteps = Math.max(0, stepAtFault - resumedFrom);
  const checkpoint = stored.find((c) => c.step === resumedFrom);
  const lostSeconds = Math.max(0, endedAt - Math.max(startedAt, checkpoint?.writtenAt ?? 0)) / 1000;
  const problems: string[] = [];
  if (newest && resumedFrom < newest.step) problems.push(`resumed from step ${resumedFrom}, but step ${newest.step} was in the store`);
  if (intervalSteps !== undefined && lostSteps > intervalSteps) problems.push(`lost ${lostSteps} steps, more than the interval of ${intervalSteps}`);
  return { ...base, restarted: true, stepAtFault, resumedFrom, newestCheckpoint: newest?.step, lostSteps, lostSeconds, ok: problems.length === 0, why: problems.join('; ') || undefined };
}

/** Attempts seen that no fault explains: an activity retried although nothing hit it. */
export function unexplainedRetries(monitor: RunMonitor, faults: FaultRecord[]): string[] {
  const explained = new Set<string>();
  for (const f of faults) for (const h of f.hit) explained.add(`${h.key}@${h.attempt + 1}`);
  const seen = new Map<string, { attempt: number; at: number; type: string }>();
  for (const obs of monitor.observations) {
    for (const a of obs.activities) {
      if (a.attempt > 1 && !seen.has(`${a.key}@${a.attempt}`)) seen.set(`${a.key}@${a.attempt}`, { attempt: a.attempt, at: obs.at, type: a.type });
    }
  }
  return [...seen.entries()].filter(([k]) => !explained.has(k)).map(([k, v]) => `${v.type} ${k.split('#').pop()} attempt ${v.attempt}`);
}

export function startedActivities(obs: Observation): ActivityView[] {
  return obs.activities.filter((a) => a.state === 'STARTED');
}
