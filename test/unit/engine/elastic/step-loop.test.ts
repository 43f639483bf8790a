/**
 * The elastic step loop with its membership and workers played in this process, without HTTP or
 * a model: the applied update is the count-weighted mean at the policy's rate with momentum, a
 * dropped member's slice is computed within the same step, and nothing non-finite is applied.
 */
import type { WeightLayout } from '../../../../engine/elastic/flat-weights';
import { Membership, type MembershipConfig } from '../../../../engine/elastic/membership';
import type { WorkHeader } from '../../../../engine/elastic/protocol';
import { StepLoop, splitEvenly, type EpochSummary, type StepLogEntry, type StepLoopConfig } from '../../../../engine/elastic/step-loop';
import { TrainingDivergedError } from '../../../../engine/train/divergence';
import { FakePoll } from './fake-poll';

/** Three trainable values and one BatchNorm statistic: enough to see every average. */
const layout: WeightLayout = {
  trainable: [{ name: 'w', shape: [3], size: 3 }],
  nonTrainable: [{ name: 'bn', shape: [1], size: 1 }],
  trainableSize: 3,
  nonTrainableSize: 1,
};

const base: StepLoopConfig & MembershipConfig = {
  policy: 'fixed-global-batch',
  learningRate: 0.05,
  perWorkerBatch: 3,
  maxWorkers: 2,
  windowIterations: 1,
  momentum: 0.9,
  minWorkers: 1,
  epochs: 1,
  seed: 1,
  checkpointEverySteps: 100,
  stepTimeoutMs: 5000,
  pollHoldMs: 200,
};

function rig(samples: number, config: Partial<StepLoopConfig & MembershipConfig> = {}) {
  const cfg = { ...base, ...config };
  const membership: Membership = new Membership(cfg, 'sig', { changed: () => loop.wake(), giveBack: (ids) => loop.giveBack(ids) });
  const loop: StepLoop = new StepLoop(layout, 'sig', { trainable: Float32Array.of(1, 2, 3), nonTrainable: Float32Array.of(0) }, Uint32Array.from({ length: samples }, (_, i) => i), cfg, membership);
  return { membership, loop };
}

type Reply = { values: Float32Array; loss?: number } | 'silent';

/** A contribution whose every value is `v`. */
const filled = (v: number, size = layout.trainableSize + layout.nonTrainableSize) => ({ values: new Float32Array(size).fill(v) });

/**
 * A worker in this process: joins, asks for work and answers each assignment with `reply(header)`
 * on the next turn of the event loop ('silent': never), until it is told done or to rejoin.
 */
function worker(membership: Membership, loop: StepLoop, name: string, reply: (h: WorkHeader) => Reply) {
  const memberId = (membership.join({ name, signature: 'sig' }).body as { memberId: string }).memberId;
  const work: WorkHeader[] = [];
  const statuses: number[] = [];
  const ask = (): void => {
    const poll = new FakePoll(
      (header) => {
        work.push(header);
        const r = reply(header);
        if (r === 'silent') return;
        setImmediate(() => {
          statuses.push(loop.contribute({ memberId, step: header.step, count: header.ids.length, loss: r.loss ?? 1 }, r.values).status);
          ask();
        });
      },
      (_status, body) => {
        if (body.kind === 'wait') ask();
      },
    );
    membership.next({ memberId }, poll);
  };
  ask();
  return { memberId, work, statuses };
}

function hooks() {
  const log: StepLogEntry[] = [];
  const epochs: EpochSummary[] = [];
  const checkpoints: { step: number; entries: number }[] = [];
  return {
    log,
    epochs,
    checkpoints,
    onCheckpoint: async (_bytes: Uint8Array, step: number, entries: StepLogEntry[]) => void checkpoints.push({ step, entries: entries.length }),
    onStep: (e: StepLogEntry) => void log.push(e),
    onEpoch: (e: EpochSummary) => void epochs.push(e),
  };
}

describe('the elastic step loop', () => {
  it('applies the count-weighted mean of the gradients and BatchNorm statistics, with momentum, at the policy rate', async () => {
    // 11 samples, global batch 6: a step of 3 + 3, then one of 3 + 2.
    const { membership, loop } = rig(11, { minWorkers: 2 });
    // Each slice's gradient, statistic and loss equal its size, so a plain mean would differ.
    for (const name of ['a', 'b']) worker(membership, loop, name, (h) => ({ ...filled(h.ids.length), loss: h.ids.length }));
    const h = hooks();
    expect(await loop.run(h)).toBe(true);
    membership.finish();
    expect(h.log.map((e) => e.globalBatch)).toEqual([6, 5]);
    // fixed-global-batch: lr x 6 / 3 throughout.
    expect(h.log.map((e) => e.learningRate)).toEqual([(0.05 * 6) / 3, (0.05 * 6) / 3]);
    expect(h.log[1].loss).toBeCloseTo(13 / 5, 6);
    // v0 = 0.1 x 3; v1 = 0.9 v0 + 0.1 x (3 x 3 + 2 x 2) / 5.
    const moved = 0.1 * 3 + (0.9 * 0.1 * 3 + (0.1 * 13) / 5);
    [1, 2, 3].forEach((w, i) => expect(loop.weights.trainable[i]).toBeCloseTo(w - moved, 5));
    expect(loop.weights.nonTrainable[0]).toBeCloseTo(13 / 5, 6);
    expect(h.epochs).toHaveLength(1);
    expect(h.epochs[0].appliedOrder.slice().sort((x, y) => x - y)).toEqual([...Array(11).keys()]);
    expect(h.checkpoints).toEqual([{ step: 2, entries: 2 }]);
    expect(loop.samplesDone).toBe(11);
  });

  it('hands the slice of a member that falls silent to one still present, within the same step and on the same weights', async () => {
    const { membership, loop } = rig(6, { stepTimeoutMs: 300 });
    const a = worker(membership, loop, 'a', () => 'silent');
    const b = worker(membership, loop, 'b', () => filled(1));
    const h = hooks();
    expect(await loop.run(h)).toBe(true);
    membership.finish();
    expect(h.log).toHaveLength(1);
    expect(h.log[0]).toMatchObject({ step: 0, globalBatch: 6, workers: ['b'], dropped: [expect.stringMatching(/^a \(silent for \d+ s\)$/)] });
    expect(b.work.map((w) => w.step)).toEqual([0, 0]);
    expect(b.work[1].ids).toEqual(a.work[0].ids);
    [1, 2, 3].forEach((w, i) => expect(loop.weights.trainable[i]).toBeCloseTo(w - 0.1, 6));
  });

  it('drops a member that sends a gradient of the wrong size, and covers its slice with the others', async () => {
    const { membership, loop } = rig(6);
    const a = worker(membership, loop, 'a', () => filled(1, 2));
    worker(membership, loop, 'b', () => filled(1));
    const h = hooks();
    expect(await loop.run(h)).toBe(true);
    membership.finish();
    expect(a.statuses).toEqual([400]);
    expect(h.log[0]).toMatchObject({ globalBatch: 6, workers: ['b'], dropped: ['a (sent a malformed gradient)'] });
  });

  it('refuses a non-finite contribution and fails the run naming the worker and the step; nothing of it is applied', async () => {
    const { membership, loop } = rig(6);
    const bad = worker(membership, loop, 'bad', () => ({ values: Float32Array.of(0, NaN, 0, 0) }));
    worker(membership, loop, 'good', () => filled(1));
    const h = hooks();
    await expect(loop.run(h)).rejects.toThrow(
      new TrainingDivergedError('elastic training diverged at step 0: worker bad sent a gradient in which 1 of 3 values are not finite, the first (index 1) is NaN; the contribution was refused and nothing of it applied; lower the learning rate'),
    );
    membership.finish();
    expect(bad.statuses).toEqual([422]);
    expect(Array.from(loop.weights.trainable)).toEqual([1, 2, 3]);
    expect(h.checkpoints).toEqual([]);
  });

  it("fails the run on a worker's own report that its step diverged, only for the step it holds", async () => {
    const { membership, loop } = rig(6);
    const reporter = worker(membership, loop, 'w', () => 'silent');
    const running = loop.run(hooks());
    running.catch(() => undefined);
    while (reporter.work.length === 0) await new Promise((r) => setImmediate(r));
    expect(loop.reported({ memberId: reporter.memberId, step: 1, detail: 'loss NaN' })).toEqual({ status: 410, body: { kind: 'rejoin' } });
    expect(loop.reported({ memberId: reporter.memberId, step: 0, detail: 'loss NaN' })).toEqual({ status: 200, body: { ok: true } });
    await expect(running).rejects.toThrow(/^elastic training diverged at step 0: worker w computed loss NaN; lower the learning rate$/);
    membership.finish();
  });

  it('fails the run, before any checkpoint, when finite gradients make the weights overflow', async () => {
    const { membership, loop } = rig(6, { learningRate: 100 });
    worker(membership, loop, 'w', () => filled(3e38));
    const h = hooks();
    await expect(loop.run(h)).rejects.toThrow(
      'elastic training diverged at step 0: applying the update at rate 200 made the weights non-finite (3 of 3 values are not finite, the first (index 0) is -Infinity); lower the learning rate',
    );
    membership.finish();
    expect(h.checkpoints).toEqual([]);
  });

  it('asked to stop mid-step: every sample of the step is due again, so the state between steps can be checkpointed', async () => {
    const { membership, loop } = rig(6, { stepTimeoutMs: 300 });
    worker(membership, loop, 'a', () => 'silent');
    const b = worker(membership, loop, 'b', () => filled(1));
    const h = hooks();
    expect(await loop.run({ ...h, shouldStop: () => b.statuses.length > 0 })).toBe(false);
    membership.finish();
    expect(h.log).toEqual([]);
    expect(loop.step).toBe(0);
    expect(loop.samplesDone).toBe(0);
    // Throws if any sample were still out with a worker.
    await expect(loop.checkpoint()).resolves.toBeInstanceOf(Uint8Array);
  });
});

describe('elastic step slices (splitEvenly)', () => {
  it('gives contiguous slices, as even as possible, larger first', () => {
    const slices = splitEvenly([10, 11, 12, 13, 14], ['a', 'b']);
    expect([...slices]).toEqual([
      ['a', [10, 11, 12]],
      ['b', [13, 14]],
    ]);
  });

  it('leaves members without a slice when there are fewer samples than members', () => {
    expect([...splitEvenly([7], ['a', 'b', 'c'])]).toEqual([['a', [7]]]);
    expect(splitEvenly([], ['a']).size).toBe(0);
  });
});
