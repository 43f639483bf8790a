/**
 * The most likely architecture that meets a latency budget: argmax over sum_d log p_d(c_d)
 * subject to sum_d cost_d(c_d) <= budget, a multiple-choice knapsack solved exactly by dynamic
 * programming over Pareto frontiers of (latency, log-probability).
 *
 * Why the search needs it: with a latency target (TuNAS's absolute penalty) the supernet meets
 * the target in expectation, E[LAT] under softmax(alpha), not at the argmax. Until alpha has
 * settled the per-op argmax follows whichever option accuracy nudged most, which is usually the
 * largest one, and the argmax net can be far slower than the target the user set (a browser
 * search with an 8.6 ms target derived a net measured at 15.8 ms). The net returned here is the
 * argmax whenever the argmax meets the budget, so a settled search derives what it always did.
 */
import { softmax, type Logits } from './alpha';

export interface BudgetedChoice {
  /** Option index per decision. */
  choices: number[];
  /** Sum of the chosen options' costs. */
  costMs: number;
  /** False when no architecture meets the budget: `choices` is then the cheapest one. */
  withinBudget: boolean;
}

interface PartialNet {
  costMs: number;
  logP: number;
  choices: number[];
}

/** Keeps the partial nets no other beats on both cost and log-probability, cheapest first. */
function paretoFrontier(candidates: PartialNet[]): PartialNet[] {
  // Cheapest first; at equal cost the more likely one first, so it is the one kept.
  candidates.sort((a, b) => a.costMs - b.costMs || b.logP - a.logP);
  const kept: PartialNet[] = [];
  for (const c of candidates) {
    if (kept.length === 0 || c.logP > kept[kept.length - 1].logP) kept.push(c);
  }
  return kept;
}

/**
 * `costs[d][j]` is option j's latency at decision d (the zero op's 0), in the unit of `budgetMs`.
 * Exact: every frontier keeps only nets no other partial net dominates, and a dominated prefix
 * can never complete to a better net than its dominator does.
 */
export function mostLikelyWithinBudget(alpha: Logits, costs: readonly (readonly number[])[], budgetMs: number): BudgetedChoice {
  if (costs.length !== alpha.length) throw new Error(`mostLikelyWithinBudget: ${costs.length} cost rows for ${alpha.length} decisions`);
  // Sums of floats in a different order differ in the last bits; a net exactly at the budget meets it.
  const limit = budgetMs + 1e-9 * Math.max(1, Math.abs(budgetMs));
  let frontier: PartialNet[] = [{ costMs: 0, logP: 0, choices: [] }];
  alpha.forEach((logits, d) => {
    const logP = softmax(logits).map((p) => Math.log(p));
    const next: PartialNet[] = [];
    for (const f of frontier) {
      costs[d].forEach((ms, j) => {
        const costMs = f.costMs + ms;
        if (costMs <= limit) next.push({ costMs, logP: f.logP + logP[j], choices: [...f.choices, j] });
      });
    }
    frontier = paretoFrontier(next);
  });
  if (frontier.length > 0) {
    const best = frontier[frontier.length - 1];
    return { choices: best.choices, costMs: best.costMs, withinBudget: true };
  }
  // Nothing fits: the cheapest net, the most likely among equally cheap options.
  const choices = alpha.map((logits, d) => {
    const p = softmax(logits);
    return costs[d].reduce((best, ms, j) => (ms < costs[d][best] || (ms === costs[d][best] && p[j] > p[best]) ? j : best), 0);
  });
  return { choices, costMs: choices.reduce((s, j, d) => s + costs[d][j], 0), withinBudget: false };
}
