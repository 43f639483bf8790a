/** The derived net under a latency budget: the most likely net that fits, exact against brute force. */
import { mulberry32 } from '../../../../core/random';
import { mostLikelyWithinBudget } from '../../../../engine/supernet/budgeted-choice';
import { softmax, type Logits } from '../../../../engine/supernet/alpha';

const logProbability = (alpha: Logits, choices: readonly number[]) => choices.reduce((s, j, d) => s + Math.log(softmax(alpha[d])[j]), 0);
const costOf = (costs: number[][], choices: readonly number[]) => choices.reduce((s, j, d) => s + costs[d][j], 0);

/** Every net of the space, for checking the dynamic programme by enumeration. */
function allNets(sizes: readonly number[]): number[][] {
  return sizes.reduce<number[][]>((nets, n) => nets.flatMap((c) => Array.from({ length: n }, (_, j) => [...c, j])), [[]]);
}

describe('mostLikelyWithinBudget', () => {
  it('returns the argmax whenever the argmax meets the budget', () => {
    const alpha = [
      [0.1, 2, 0.3],
      [1.5, 0, 0.2],
    ];
    const costs = [
      [1, 3, 5],
      [2, 1, 4],
    ];
    expect(mostLikelyWithinBudget(alpha, costs, 5)).toEqual({ choices: [1, 0], costMs: 5, withinBudget: true });
    expect(mostLikelyWithinBudget(alpha, costs, 100)).toEqual({ choices: [1, 0], costMs: 5, withinBudget: true });
  });

  it('gives up the less certain decision first when the argmax is over budget', () => {
    // Decision 0 is nearly settled on its expensive option, decision 1 is close to undecided.
    const alpha = [
      [0, 4],
      [0.1, 0],
    ];
    const costs = [
      [1, 4],
      [3, 1],
    ];
    // Argmax [1, 0] costs 7; within 5 the choice is [1, 1] (cost 5), not [0, 0] (cost 4).
    expect(mostLikelyWithinBudget(alpha, costs, 5)).toEqual({ choices: [1, 1], costMs: 5, withinBudget: true });
  });

  it('finds the exact optimum of random spaces, as enumeration does', () => {
    const rand = mulberry32(11);
    for (let trial = 0; trial < 200; trial++) {
      const sizes = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => 1 + Math.floor(rand() * 4));
      const alpha = sizes.map((n) => Array.from({ length: n }, () => (rand() - 0.5) * 4));
      // Some zero-cost options, as the zero op is, and some ties in cost.
      const costs = sizes.map((n) => Array.from({ length: n }, () => (rand() < 0.2 ? 0 : Math.round(rand() * 8) / 2)));
      const nets = allNets(sizes);
      const cheapest = Math.min(...nets.map((c) => costOf(costs, c)));
      const budget = cheapest + rand() * (Math.max(...nets.map((c) => costOf(costs, c))) - cheapest);
      const feasible = nets.filter((c) => costOf(costs, c) <= budget);
      const best = Math.max(...feasible.map((c) => logProbability(alpha, c)));

      const got = mostLikelyWithinBudget(alpha, costs, budget);
      expect(got.withinBudget).toBe(true);
      expect(got.costMs).toBeLessThanOrEqual(budget + 1e-9);
      expect(got.costMs).toBeCloseTo(costOf(costs, got.choices), 9);
      expect(logProbability(alpha, got.choices)).toBeCloseTo(best, 9);
    }
  });

  it('counts a net exactly at the budget as within it, whatever the order of the float sums', () => {
    const alpha = [[0, 1], [0, 1], [0, 1]];
    const costs = [[0, 0.1], [0, 0.2], [0, 0.3]];
    // 0.1 + 0.2 + 0.3 is 0.6000000000000001 in doubles.
    expect(mostLikelyWithinBudget(alpha, costs, 0.6)).toMatchObject({ choices: [1, 1, 1], withinBudget: true });
  });

  it('returns the cheapest net, flagged, when no net meets the budget', () => {
    const alpha = [
      [3, 0, 0],
      [0, 1, 2],
    ];
    // Options 1 and 2 of decision 1 cost the same: the more likely one is taken.
    const costs = [
      [5, 2, 3],
      [4, 1, 1],
    ];
    expect(mostLikelyWithinBudget(alpha, costs, 2)).toEqual({ choices: [1, 2], costMs: 3, withinBudget: false });
  });

  it('rejects costs that do not match the decisions', () => {
    expect(() => mostLikelyWithinBudget([[0, 1]], [], 1)).toThrow(/0 cost rows for 1 decisions/);
  });
});
