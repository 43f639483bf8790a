/**
 * Drives a multi-trial strategy through its public contract, in workflow code: the search
 * workflow and the band trials both run their strategy here. Proposals are checked against the
 * contract, a strategy's own error becomes a search failure that names it (thrown as it is, a plain
 * error would fail the workflow task, which Temporal retries forever without a word to the user),
 * and every call gets a fresh generator from (seed, call number), so nothing random lives in the
 * strategy's state.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { Candidate, MultiTrialStrategyPlugin, SearchSpaceShape, TrialResult } from '../core/strategy-contract';
import { seededRng } from '../core/random';

// any: each strategy's config and state types are private to it; the driver only passes them back.
type AnyStrategy = MultiTrialStrategyPlugin<any, any>;

/** What a search hands to its next run when it continues as new. */
export interface DriverPosition {
  state: unknown;
  call: number;
  exhausted: boolean;
}

export class StrategyDriver {
  private readonly ctx: { config: unknown; space: SearchSpaceShape; epochs: number };
  private state: unknown;
  private call: number;
  /** True once the strategy said it proposes no more. */
  exhausted: boolean;
  private readonly used: Set<number>;

  constructor(
    private readonly strategy: AnyStrategy,
    config: unknown,
    space: SearchSpaceShape,
    epochs: number,
    private readonly seed: number,
    from?: DriverPosition & { trialsUsed: readonly number[] },
  ) {
    this.ctx = { config: this.guarded('configSchema', () => strategy.configSchema.parse(config)), space, epochs };
    this.state = from ? from.state : this.guarded('init', () => strategy.init(this.ctx));
    this.call = from?.call ?? 0;
    this.exhausted = from?.exhausted ?? false;
    this.used = new Set(from?.trialsUsed ?? []);
  }

  get name(): string {
    return this.strategy.name;
  }

  position(): DriverPosition {
    return { state: this.state, call: this.call, exhausted: this.exhausted };
  }

  /** The next candidate, checked against the contract; null when the strategy has none now. */
  propose(): Candidate | null {
    const rng = seededRng(this.seed, this.call++);
    const proposal = this.guarded('propose', () => this.strategy.propose(this.state, rng, this.ctx));
    this.state = proposal.state;
    this.exhausted = proposal.done;
    if (!proposal.candidate) return null;
    const { trial, epochs } = proposal.candidate;
    if (epochs !== undefined && !(Number.isInteger(epochs) && epochs >= 1)) {
      throw ApplicationFailure.nonRetryable(`strategy "${this.name}" gave trial ${trial} a budget of ${epochs} epochs; a budget is a whole number of epochs from 1`, 'PluginError');
    }
    // A trial's result is stored under its number: a number used twice would read back the other's.
    if (this.used.has(trial)) {
      throw ApplicationFailure.nonRetryable(`strategy "${this.name}" proposed trial number ${trial} twice; every proposal needs a number of its own`, 'PluginError');
    }
    this.used.add(trial);
    return proposal.candidate;
  }

  observe({ trial, choices, epochs }: Candidate, score: number): void {
    const result: TrialResult = epochs === undefined ? { trial, choices, score } : { trial, choices, score, epochs };
    this.state = this.guarded('observe', () => this.strategy.observe(this.state, result, this.ctx));
  }

  best(): TrialResult | null {
    return this.guarded('best', () => this.strategy.best(this.state));
  }

  nothingRunning(): never {
    throw ApplicationFailure.nonRetryable(`strategy "${this.name}" proposed nothing while no trial was running`, 'PluginError');
  }

  private guarded<T>(member: string, call: () => T): T {
    try {
      return call();
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      throw ApplicationFailure.nonRetryable(`strategy "${this.strategy.name}" ${this.strategy.version} failed in ${member}: ${err instanceof Error ? err.message : String(err)}`, 'PluginError');
    }
  }
}

/** How a run of the strategy ended: done, or stopped to hand over with the trials it had in flight. */
export type TrialOrderEnd = { ended: 'done' } | { ended: 'stopped'; inFlight: Candidate[] };

/**
 * Runs the strategy to its end, or until `stop` says to hand over, `parallel` trials at a time.
 * The strategy sees results in the order it proposed them, each proposal after a fixed number of
 * them, so a search is the same function of its seed however many workers run it, in whatever
 * order trials finish, and after any kill: a resumed run reaches the undisturbed run's trials.
 * The price: a trial that finishes before an earlier one waits to be observed, and its slot with it.
 *
 * A hand-over keeps that promise too: the trials in flight are waited for (so their results are
 * stored) but not observed; the next run starts with them in flight again (`inFlight`: their
 * activities return the stored results) and observes them where an unbroken run would have, so
 * where a search continues as new does not change what it proposes.
 */
export async function runInTrialOrder(
  driver: StrategyDriver,
  parallel: number,
  train: (candidate: Candidate) => Promise<number>,
  /** Asked before each step with the number of results observed so far. */
  stop: (observed: number) => boolean = () => false,
  /** Trials an earlier run proposed and handed over unobserved, in proposal order. */
  inFlight: readonly Candidate[] = [],
): Promise<TrialOrderEnd> {
  const pending = inFlight.map((candidate) => ({ candidate, score: train(candidate) }));
  let observed = 0;
  // The strategy proposed nothing: it waits for the next result before it can.
  let waiting = false;
  for (;;) {
    if (stop(observed)) {
      await Promise.all(pending.map((p) => p.score));
      return { ended: 'stopped', inFlight: pending.map((p) => p.candidate) };
    }
    if (!driver.exhausted && !waiting && pending.length < parallel) {
      const candidate = driver.propose();
      if (candidate) pending.push({ candidate, score: train(candidate) });
      else waiting = !driver.exhausted;
      continue;
    }
    const next = pending.shift();
    if (!next) {
      if (driver.exhausted) return { ended: 'done' };
      return driver.nothingRunning();
    }
    driver.observe(next.candidate, await next.score);
    observed += 1;
    waiting = false;
  }
}
