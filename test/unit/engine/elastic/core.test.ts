import { EpochCursor, ExactlyOnceViolation } from '../../../../engine/elastic/epoch-cursor';
import { globalBatchFor, initialPolicyState, rateForStep, scheduleFactor, type ElasticPolicyConfig, type PolicyState } from '../../../../engine/elastic/lr-policy';
import { MomentumSgd, weightedMean } from '../../../../engine/elastic/momentum-sgd';
import { decodeMessage, encodeMessage, WireFormatError } from '../../../../engine/elastic/wire';

const config = (policy: ElasticPolicyConfig['policy']): ElasticPolicyConfig => ({
  policy,
  learningRate: 0.1,
  perWorkerBatch: 32,
  maxWorkers: 4,
  windowIterations: 10,
});

/** Rates over a membership schedule: workers[i] is present at step i. */
function rates(cfg: ElasticPolicyConfig, workers: number[]): number[] {
  let state: PolicyState = initialPolicyState(cfg, workers[0]);
  return workers.map((k, step) => {
    const r = rateForStep(cfg, state, step, k);
    state = r.state;
    return r.rate;
  });
}

describe('learning-rate policies under churn', () => {
  const schedule = [...Array(5).fill(4), ...Array(15).fill(1), ...Array(5).fill(2)];

  it('fixed-global-batch keeps batch and rate whatever the workers', () => {
    const cfg = config('fixed-global-batch');
    expect(globalBatchFor(cfg, 1)).toBe(128);
    expect(globalBatchFor(cfg, 3)).toBe(128);
    expect(new Set(rates(cfg, schedule))).toEqual(new Set([0.4]));
  });

  it('immediate-linear jumps to k x the one-worker rate on the step of the change', () => {
    const cfg = config('immediate-linear');
    expect(globalBatchFor(cfg, 3)).toBe(96);
    const r = rates(cfg, schedule);
    expect(r[4]).toBeCloseTo(0.4);
    expect(r[5]).toBeCloseTo(0.1);
    expect(r[20]).toBeCloseTo(0.2);
  });

  it('dynamic-sgd moves linearly to the new target over the window, from where it stood', () => {
    const r = rates(config('dynamic-sgd'), schedule);
    expect(r[4]).toBeCloseTo(0.4);
    // 4 -> 1 at step 5: 0.4 towards 0.1 in 10 steps of 0.03.
    expect(r[5]).toBeCloseTo(0.37);
    expect(r[9]).toBeCloseTo(0.25);
    expect(r[14]).toBeCloseTo(0.1);
    expect(r[19]).toBeCloseTo(0.1);
    // 1 -> 2 at step 20: 0.1 towards 0.2.
    expect(r[20]).toBeCloseTo(0.11);
    expect(r[24]).toBeCloseTo(0.15);
  });

  it('a change in the middle of a ramp starts the next ramp from the rate reached', () => {
    const cfg = config('dynamic-sgd');
    const r = rates(cfg, [4, 4, 1, 1, 1, 4, 4]);
    // 0.4 -> 0.1 for three steps (0.37, 0.34, 0.31), then back up towards 0.4 from 0.31.
    expect(r[4]).toBeCloseTo(0.31);
    expect(r[5]).toBeCloseTo(0.31 + 0.009);
  });
});

describe('learning-rate schedule over the run', () => {
  it('constant keeps the rate; cosine starts at 1, halves at mid-run and ends at 0', () => {
    expect([0, 0.3, 1].map((p) => scheduleFactor('constant', p))).toEqual([1, 1, 1]);
    expect(scheduleFactor('cosine', 0)).toBe(1);
    expect(scheduleFactor('cosine', 0.5)).toBeCloseTo(0.5);
    expect(scheduleFactor('cosine', 0.25)).toBeCloseTo((1 + Math.SQRT1_2) / 2);
    expect(scheduleFactor('cosine', 1)).toBeCloseTo(0);
  });
});

describe('epoch cursor', () => {
  const samples = Uint32Array.from({ length: 50 }, (_, i) => i * 2); // a training split that is not 0..n-1

  it('applies every sample exactly once per epoch across give-backs, and detects double application', () => {
    const cursor = new EpochCursor(samples, 7);
    const applied: number[] = [];
    let round = 0;
    while (!cursor.epochComplete) {
      const a = cursor.take(8);
      const b = cursor.take(5);
      // Every third round the second worker vanishes: its samples come back.
      if (round++ % 3 === 2) cursor.giveBack(b);
      else {
        cursor.commit(b);
        applied.push(...b);
      }
      cursor.commit(a);
      applied.push(...a);
    }
    expect(applied.slice().sort((x, y) => x - y)).toEqual(Array.from(samples));
    expect(cursor.nextEpoch()).toEqual(applied);
    expect(cursor.epoch).toBe(1);
    const again = cursor.take(3);
    cursor.commit(again);
    expect(() => cursor.commit(again)).toThrow(ExactlyOnceViolation);
  });

  it('a snapshot restored continues with the same samples, and epochs differ in order', () => {
    const a = new EpochCursor(samples, 3);
    a.commit(a.take(10));
    a.giveBack(a.take(4));
    const b = new EpochCursor(samples, 3, a.snapshot());
    expect(b.take(20)).toEqual(a.take(20));
    const first = new EpochCursor(samples, 3).take(50);
    const c = new EpochCursor(samples, 3);
    c.commit(c.take(50));
    c.nextEpoch();
    expect(c.take(50)).not.toEqual(first);
  });

  it('refuses to end an epoch with samples missing', () => {
    const cursor = new EpochCursor(samples, 1);
    cursor.commit(cursor.take(49));
    expect(() => cursor.nextEpoch()).toThrow(/49 of 50/);
  });
});

describe('momentum SGD on flat vectors', () => {
  it('the weighted mean of slice gradients is the gradient of the whole batch', () => {
    // Mean gradients of slices of 3 and 1 samples; the batch mean weighs them 3:1.
    const mean = weightedMean([Float32Array.of(1, 2), Float32Array.of(5, 6)], [3, 1]);
    expect(Array.from(mean)).toEqual([2, 3]);
  });

  it('with a constant rate both forms agree; momentum correction rescales the buffer when the rate moves', () => {
    const plain = new MomentumSgd(1, 0.9);
    const corrected = new MomentumSgd(1, 0.9);
    const w1 = Float32Array.of(0);
    const w2 = Float32Array.of(0);
    for (let i = 0; i < 3; i++) {
      plain.apply(w1, Float32Array.of(1), 0.1, false);
      corrected.apply(w2, Float32Array.of(1), 0.1, true);
    }
    expect(w1[0]).toBeCloseTo(w2[0], 6);
    const v = plain.velocity[0];
    plain.apply(w1, Float32Array.of(1), 0.4, false);
    corrected.apply(w2, Float32Array.of(1), 0.4, true);
    expect(plain.velocity[0]).toBeCloseTo(0.9 * v + 0.4, 6);
    expect(corrected.velocity[0]).toBeCloseTo(0.9 * 4 * v + 0.4, 6);
  });
});

describe('data-plane wire format', () => {
  it('round-trips a header and float payloads, whatever the header length', () => {
    for (const name of ['a', 'ab', 'abc', 'abcd']) {
      const body = encodeMessage({ name, ids: [1, 2] }, Float32Array.of(1.5, -2), Float32Array.of(3));
      const { header, values } = decodeMessage<{ name: string }>(new Uint8Array(body));
      expect(header.name).toBe(name);
      expect(Array.from(values)).toEqual([1.5, -2, 3]);
    }
  });

  it('rejects truncated and non-JSON messages', () => {
    expect(() => decodeMessage(new Uint8Array([1, 0]))).toThrow(WireFormatError);
    const body = encodeMessage({ a: 1 }, Float32Array.of(1));
    expect(() => decodeMessage(new Uint8Array(body.subarray(0, body.length - 1)))).toThrow(/whole float32/);
    body[4] = 0x7b + 1;
    expect(() => decodeMessage(new Uint8Array(body))).toThrow(/not JSON/);
  });
});
