/**
 * The supernet's side of the one-shot contract: calls into a strategy plugin, and checks of what
 * it hands back, so that a strategy's bug is reported by its name and member where it happens
 * instead of surfacing later as a tensor shape error or a NaN in a checkpoint.
 */
import type { Decision } from '../../core/space';
import type { ArchitectureState, GateSample, OneShotStrategyPlugin } from '../../core/strategy-contract';

/** A strategy plugin failed or broke the contract; retrying the same step would fail the same way. */
export class OneShotStrategyError extends Error {
  constructor(plugin: Pick<OneShotStrategyPlugin, 'name' | 'version'>, detail: string) {
    super(`one-shot strategy "${plugin.name}" ${plugin.version} ${detail}`);
    this.name = 'OneShotStrategyError';
  }
}

export function guardedCall<T>(plugin: OneShotStrategyPlugin, member: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    if (err instanceof OneShotStrategyError) throw err;
    throw new OneShotStrategyError(plugin, `failed in ${member}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Logits of the space's shape, every entry a finite number; `from` says where the state came from (a member, a checkpoint). */
export function checkedState(plugin: OneShotStrategyPlugin, from: string, state: unknown, decisions: readonly Decision[]): ArchitectureState {
  const fail = (detail: string): never => {
    throw new OneShotStrategyError(plugin, `state from ${from} does not fit the search space: ${detail}`);
  };
  if (!isObject(state) || !Array.isArray(state.logits)) return fail('no logits; a state is { logits: number[][], strategy }');
  const logits = state.logits as unknown[];
  if (logits.length !== decisions.length) fail(`logits have ${logits.length} rows; the space has ${decisions.length} decisions`);
  logits.forEach((row, d) => {
    const n = decisions[d].options.length;
    if (!Array.isArray(row) || row.length !== n) fail(`logits row ${d} (${decisions[d].id}) is not ${n} numbers, one per option`);
    const bad = (row as unknown[]).findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
    if (bad >= 0) fail(`logit [${d}][${bad}] (${decisions[d].id}) is ${String((row as unknown[])[bad])}`);
  });
  return state as unknown as ArchitectureState;
}

/** Per decision: distinct valid options, one finite gate each, and one path only where a reward is asked for. */
export function checkedSample(plugin: OneShotStrategyPlugin, sample: unknown, decisions: readonly Decision[]): GateSample {
  const fail = (detail: string): never => {
    throw new OneShotStrategyError(plugin, `sampled gates that ${detail}`);
  };
  if (!isObject(sample) || !Array.isArray(sample.paths) || !Array.isArray(sample.gates)) return fail('are not { paths: number[][], gates: number[][], signal }');
  if (sample.signal !== 'gradient' && sample.signal !== 'reward') fail(`ask for signal ${JSON.stringify(sample.signal)}; it must be "gradient" or "reward"`);
  const paths = sample.paths as unknown[];
  const gates = sample.gates as unknown[];
  if (paths.length !== decisions.length || gates.length !== decisions.length) fail(`cover ${paths.length} decisions (gates: ${gates.length}); the space has ${decisions.length}`);
  decisions.forEach((decision, d) => {
    const set = paths[d];
    const g = gates[d];
    const n = decision.options.length;
    if (!Array.isArray(set) || set.length === 0) return fail(`run no path at decision ${d} (${decision.id})`);
    if (set.some((j) => !Number.isInteger(j) || j < 0 || j >= n) || new Set(set).size !== set.length) fail(`name options [${set.join(', ')}] at decision ${d} (${decision.id}); it has options 0..${n - 1}, each at most once`);
    if (!Array.isArray(g) || g.length !== set.length || g.some((x) => typeof x !== 'number' || !Number.isFinite(x))) fail(`do not give one finite gate per path at decision ${d} (${decision.id})`);
    if (sample.signal === 'reward' && set.length !== 1) fail(`ask for a reward with ${set.length} paths at decision ${d} (${decision.id}); a reward scores one network, one path per decision`);
  });
  return sample as unknown as GateSample;
}
