/** Drawing nets of one latency band from the per-op table (band trials, the experiment's random nets). */
import { mulberry32 } from '../../../../core/random';
import { drawInLatencyBand, randomLatencyBaseline } from '../../../../engine/supernet/latency-band';
import { decisionsOf, SearchSpaceSchema } from '../../../../dsl/search-space';

// 3 decisions: one fixed block, then 4 options, then 4 options and the zero op.
const space = SearchSpaceSchema.parse({
  inputResolution: 28,
  stem: { channels: 8, stride: 2 },
  stages: [
    { channels: 8, repeats: 1, kernels: [3], expansions: [1] },
    { channels: 16, repeats: 2, stride: 2, kernels: [3, 5], expansions: [2, 4], skip: true },
  ],
  head: { channels: 32 },
});
const decisions = decisionsOf(space);
const zero = decisions[2].options.indexOf('zero');
// Distinct latencies per option, so every net's latency says which net it is; the zero op costs 0 whatever the table says.
const table = decisions.map((d, i) => d.options.map((_, j) => (i + 1) * (j + 1) * 0.1));
const latencyOf = (c: readonly number[]) => 0.5 + c.reduce((s, j, d) => s + (d === 2 && j === zero ? 0 : table[d][j]), 0);
const allNets = decisions[1].options.flatMap((_, a) => decisions[2].options.map((_, b) => [0, a, b]));

describe('drawInLatencyBand', () => {
  const reference = [0, 3, 3];
  const referenceMs = latencyOf(reference);

  it('keeps only distinct nets inside the band, never the reference, with their latencies', () => {
    const drawn = drawInLatencyBand(decisions, table, reference, { count: 100, range: [-0.3, 0], rand: mulberry32(1), fixedMs: 0.5, maxDraws: 5000 });
    const inBand = allNets.filter((c) => c.join() !== reference.join() && latencyOf(c) >= 0.7 * referenceMs - 1e-12 && latencyOf(c) <= referenceMs);
    expect(drawn.referenceMs).toBeCloseTo(referenceMs, 12);
    // Fewer nets exist than asked for: it stops at maxDraws with every one of them.
    expect(drawn.draws).toBe(5000);
    expect(drawn.choices.map((c) => c.join()).sort()).toEqual(inBand.map((c) => c.join()).sort());
    drawn.choices.forEach((c, i) => expect(drawn.latenciesMs[i]).toBeCloseTo(latencyOf(c), 12));
    expect(inBand.length).toBeGreaterThan(1);
    expect(inBand.length).toBeLessThan(allNets.length - 1);
  });

  it('is repeatable from the seed and stops once it has count nets', () => {
    const draw = (seed: number) => drawInLatencyBand(decisions, table, reference, { count: 3, range: [-0.5, 0.5], rand: mulberry32(seed), fixedMs: 0.5 });
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7).choices).toHaveLength(3);
    expect(draw(7).choices).not.toEqual(draw(8).choices);
  });

  it('treats nets with the same identity as one, and the reference identity as taken', () => {
    // Identity by the middle decision alone: at most one net per option there, none with the reference's.
    const drawn = drawInLatencyBand(decisions, table, reference, { count: 10, range: [-1, 1], rand: mulberry32(3), identity: (c) => String(c[1]), maxDraws: 2000 });
    expect(drawn.choices.map((c) => c[1]).sort()).toEqual([0, 1, 2]);
  });
});

describe('randomLatencyBaseline', () => {
  it('places a net among uniform draws of the space: the fastest net beats nearly all, the slowest none', () => {
    const latencies = allNets.map(latencyOf).sort((a, b) => a - b);
    const fastest = allNets.find((c) => latencyOf(c) === latencies[0])!;
    const slowest = allNets.find((c) => latencyOf(c) === latencies[latencies.length - 1])!;
    const fast = randomLatencyBaseline(decisions, table, fastest, { draws: 4000, rand: mulberry32(3), fixedMs: 0.5 });
    const slow = randomLatencyBaseline(decisions, table, slowest, { draws: 4000, rand: mulberry32(3), fixedMs: 0.5 });
    expect(fast.draws).toBe(4000);
    // Uniform over the 20 nets: only draws of the fastest net itself are not slower.
    expect(fast.referenceFasterThan).toBeGreaterThan(0.9);
    expect(slow.referenceFasterThan).toBe(0);
    // The same draws whatever the reference; quantiles of the nets' own latencies, in order.
    expect({ ...fast, referenceFasterThan: 0 }).toEqual({ ...slow, referenceFasterThan: 0 });
    expect(fast.p10Ms).toBeLessThanOrEqual(fast.medianMs);
    expect(fast.medianMs).toBeLessThanOrEqual(fast.p90Ms);
    for (const q of [fast.p10Ms, fast.medianMs, fast.p90Ms]) expect(latencies.some((l) => Math.abs(l - q) < 1e-12)).toBe(true);
  });
});
