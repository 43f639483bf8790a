/** The sentences a multi-fidelity search's budget use reads as, for `nas run` and the report alike. */
import type { BudgetUse } from '../workflows/trial-budgets';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function budgetSentences(b: BudgetUse): string[] {
  const rungs = b.rungs.map((r) => `${plural(r.trials, 'trial')} at ${plural(r.epochs, 'epoch')}`).join(', ');
  const saved = b.fullBudgetSeconds - b.trainSeconds;
  const share = b.fullBudgetSeconds > 0 ? (100 * saved) / b.fullBudgetSeconds : 0;
  return [
    `budgets: ${rungs}`,
    `training took ${b.trainSeconds.toFixed(1)} s over all trials; ${plural(b.candidates, 'candidate')} each at the full ${plural(b.fullEpochs, 'epoch')} would take ${b.fullBudgetSeconds.toFixed(1)} s (each from its own measured seconds per epoch): ${saved >= 0 ? 'saved' : 'spent'} ${Math.abs(saved).toFixed(1)} s (${Math.abs(share).toFixed(0)}%)`,
  ];
}
