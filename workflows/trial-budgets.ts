/**
 * What a multi-fidelity search spent: trials per budget, and the training it saved against giving
 * every architecture it tried the full budget. Pure arithmetic over the trials' own measured times,
 * so the number a run prints is computed, never assumed.
 */
import type { BudgetRung, BudgetUse } from '../core/artifact-files';

/** Stored in the search summaries (core/artifact-files.ts has their schema). */
export type { BudgetRung, BudgetUse };

interface BudgetedTrial {
  choices: number[];
  epochs?: number;
  trainSeconds: number;
  /** The training loop's share of trainSeconds; absent in older results, which then count as all loop. */
  fitSeconds?: number;
}

/** Undefined when no trial had a budget of its own (a single-fidelity search). */
export function budgetUse(trials: readonly BudgetedTrial[], searchEpochs: number): BudgetUse | undefined {
  if (!trials.some((t) => t.epochs !== undefined)) return undefined;
  const epochsOf = (t: BudgetedTrial) => t.epochs ?? searchEpochs;
  const rungs = new Map<number, BudgetRung>();
  const longest = new Map<string, BudgetedTrial>();
  for (const t of trials) {
    const e = epochsOf(t);
    const rung = rungs.get(e) ?? { epochs: e, trials: 0, trainSeconds: 0 };
    rung.trials += 1;
    rung.trainSeconds += t.trainSeconds;
    rungs.set(e, rung);
    const key = t.choices.join(',');
    const before = longest.get(key);
    if (!before || epochsOf(before) < e) longest.set(key, t);
  }
  const fullEpochs = Math.max(...rungs.keys());
  let fullBudgetSeconds = 0;
  for (const t of longest.values()) {
    const fit = t.fitSeconds ?? t.trainSeconds;
    fullBudgetSeconds += t.trainSeconds - fit + (fit / epochsOf(t)) * fullEpochs;
  }
  return {
    rungs: [...rungs.values()].sort((a, b) => a.epochs - b.epochs),
    candidates: longest.size,
    fullEpochs,
    trainSeconds: trials.reduce((s, t) => s + t.trainSeconds, 0),
    fullBudgetSeconds,
  };
}
