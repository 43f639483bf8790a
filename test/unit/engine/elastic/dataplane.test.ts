/**
 * The coordinator and its workers talking over loopback HTTP in one process: synchronous
 * data-parallel SGD must equal single-process SGD on the same batches, and churn must neither lose
 * nor repeat a sample.
 */
import { request as httpRequest } from 'node:http';
import type { LayersModel, Scalar, Tensor, Variable } from '@tensorflow/tfjs-node';
import { loadTf } from '../../../../engine/backend';
import { makeBatch } from '../../../../engine/data/batches';
import { ElasticCoordinator, GRADIENT_HEADER_ROOM, JSON_BODY_LIMIT, type CoordinatorConfig, type EpochSummary, type StepLogEntry } from '../../../../engine/elastic/coordinator';
import { layoutSignature, readFlatWeights, weightLayout, type WeightLayout } from '../../../../engine/elastic/flat-weights';
import { augmentSeedOf, runParticipant, ParticipantRejectedError } from '../../../../engine/elastic/participant';
import type { WorkHeader } from '../../../../engine/elastic/protocol';
import { NonFiniteHeaderError, WIRE_CONTENT_TYPE, decodeMessage, encodeMessage, floatBytes } from '../../../../engine/elastic/wire';
import { TrainingDivergedError } from '../../../../engine/train/divergence';
import { buildSmallCnn } from '../../../../engine/models/small-cnn';
import { quadrants } from '../../../support/quadrants';

const tf = loadTf();


/** No BatchNorm: per-slice batch statistics would make data-parallel differ from one big batch. */
function denseNet(seed: number): LayersModel {
  const input = tf.input({ shape: [8, 8, 1] });
  const flat = tf.layers.flatten().apply(input);
  const hidden = tf.layers.dense({ units: 12, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }), name: 'hidden' }).apply(flat);
  const out = tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), name: 'out' }).apply(hidden) as ReturnType<typeof tf.input>;
  return tf.model({ inputs: input, outputs: out, name: 'dense_net' });
}

const base: Omit<CoordinatorConfig, 'token'> = {
  policy: 'immediate-linear',
  learningRate: 0.05,
  perWorkerBatch: 8,
  maxWorkers: 4,
  windowIterations: 4,
  momentum: 0.9,
  minWorkers: 1,
  epochs: 2,
  seed: 11,
  checkpointEverySteps: 3,
  stepTimeoutMs: 5000,
  pollHoldMs: 500,
};

/** Workers played by hand over the data plane's HTTP, so that a test can stage a death at an exact moment. */
function byHand(url: string, token: string, layout: WeightLayout) {
  const call = (path: string, body: object | Buffer, signal?: AbortSignal) =>
    fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: Buffer.isBuffer(body) ? body : JSON.stringify(body), signal });
  const join = async (name: string) => ((await (await call('/join', { name, signature: layoutSignature(layout) })).json()) as { memberId: string }).memberId;
  /** The member's next assignment and the weights it came with; a held poll that runs out is asked again. */
  const work = async (memberId: string) => {
    for (;;) {
      const res = await call('/next', { memberId });
      if (res.headers.get('content-type') !== WIRE_CONTENT_TYPE) {
        await res.text();
        continue;
      }
      const message = decodeMessage<WorkHeader>(new Uint8Array(await res.arrayBuffer()));
      return { header: message.header, weights: Array.from(message.values.subarray(0, layout.trainableSize)) };
    }
  };
  /** A constant gradient for the slice, so that an applied update shows which slices it averaged. */
  const gradient = (memberId: string, h: WorkHeader, value = 0) =>
    call('/gradient', encodeMessage({ memberId, step: h.step, count: h.ids.length, loss: 1 }, new Float32Array(layout.trainableSize).fill(value), new Float32Array(layout.nonTrainableSize)));
  /** The member works alone until the coordinator has nothing more to hand out. */
  const finish = async (memberId: string, coordinator: ElasticCoordinator) => {
    for (;;) {
      const res = await call('/next', { memberId });
      if (res.headers.get('content-type') !== WIRE_CONTENT_TYPE) break;
      await gradient(memberId, decodeMessage<WorkHeader>(new Uint8Array(await res.arrayBuffer())).header);
      if (coordinator.done) break;
    }
  };
  return { call, join, work, gradient, finish };
}

describe('elastic data plane (loopback)', () => {
  const data = quadrants(64);

  it.each([
    ['', undefined],
    [', each slice augmented with its own draws', { padding: 2, flip: true }],
  ])('two workers give exactly the weights of single-process momentum SGD on the same global batches%s', async (_, augment) => {
    const model = denseNet(3);
    const initial = readFlatWeights(model);
    const coordinator = new ElasticCoordinator(weightLayout(model), initial, Uint32Array.from({ length: 64 }, (_, i) => i), {
      ...base,
      token: 'secret',
      minWorkers: 2,
      maxWorkers: 2,
    });
    const url = await coordinator.listen('127.0.0.1');
    const log: StepLogEntry[] = [];
    const epochs: EpochSummary[] = [];
    const orders: number[][] = [];
    const running = coordinator.run({
      onCheckpoint: async (_bytes, _step, entries) => void log.push(...entries),
      onEpoch: (e) => void epochs.push(e),
    });
    const workers = [denseNet(100), denseNet(200)].map((m, i) => runParticipant({ url, token: 'secret', name: `w${i}`, model: m, data, augment }));
    // Record the global batches in the order applied, to replay them in one process.
    await running;
    await coordinator.close();
    await Promise.all(workers);
    for (const e of epochs) orders.push(e.appliedOrder);
    expect(epochs.map((e) => e.samples)).toEqual([64, 64]);
    expect(log.every((e) => e.workers.length === 2 && e.globalBatch === 16)).toBe(true);

    // The same updates in one process: v = mu v + lr g, w -= v on each 16-sample global batch.
    const ref = denseNet(3);
    const vars = ref.trainableWeights.map((w) => (w as unknown as { val: Variable }).val);
    const velocity: Tensor[] = vars.map((v) => tf.zerosLike(v as Tensor));
    const applied = orders.flat();
    for (let step = 0; step < applied.length / 16; step++) {
      // The two workers' slices, contiguous in the applied order, each augmented with its own seed.
      const slices = [applied.slice(step * 16, step * 16 + 8), applied.slice(step * 16 + 8, step * 16 + 16)];
      const parts = slices.map((ids) => makeBatch(data, data.train, Uint32Array.from(ids), { augment, augmentSeed: augmentSeedOf(base.seed, step, ids[0]) }));
      const batch = { xs: tf.concat(parts.map((p) => p.xs)), ys: tf.concat(parts.map((p) => p.ys)) };
      const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(batch.ys, ref.apply(batch.xs) as Tensor) as Scalar, vars);
      vars.forEach((v, i) => {
        const next = tf.add(tf.mul(velocity[i], 0.9), tf.mul(grads[v.name], 0.1));
        velocity[i].dispose();
        velocity[i] = next;
        v.assign(tf.sub(v, next));
      });
    }
    const expected = readFlatWeights(ref).trainable;
    const got = coordinator.weights.trainable;
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - expected[i]));
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it('a worker holds no more tensors after its last step than before its first (it is sent the weights every step)', async () => {
    // BatchNorm, so non-trainable weights are written too.
    const model = buildSmallCnn({ height: 8, width: 8, channels: 1, numClasses: 4, filters: 4, seed: 2 });
    const coordinator = new ElasticCoordinator(weightLayout(model), readFlatWeights(model), Uint32Array.from({ length: 64 }, (_, i) => i), {
      ...base,
      token: 'secret',
      minWorkers: 1,
      maxWorkers: 1,
    });
    const url = await coordinator.listen('127.0.0.1');
    const worker = buildSmallCnn({ height: 8, width: 8, channels: 1, numClasses: 4, filters: 4, seed: 3 });
    const before = tf.memory().numTensors;
    const running = coordinator.run({ onCheckpoint: async () => undefined });
    const working = runParticipant({ url, token: 'secret', name: 'w0', model: worker, data });
    await running;
    await coordinator.close();
    const result = await working;
    expect(result.steps).toBe((base.epochs * 64) / base.perWorkerBatch);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a cosine schedule scales the policy rate by the share of samples already applied', async () => {
    const model = denseNet(3);
    const coordinator = new ElasticCoordinator(weightLayout(model), readFlatWeights(model), Uint32Array.from({ length: 64 }, (_, i) => i), {
      ...base,
      schedule: 'cosine',
      token: 'secret',
      minWorkers: 1,
      maxWorkers: 1,
    });
    const url = await coordinator.listen('127.0.0.1');
    const log: StepLogEntry[] = [];
    const running = coordinator.run({ onCheckpoint: async (_bytes, _step, entries) => void log.push(...entries) });
    const worker = runParticipant({ url, token: 'secret', name: 'w0', model: denseNet(100), data });
    await running;
    await coordinator.close();
    await worker;
    const total = base.epochs * 64;
    const expected = log.map((e, i) => base.learningRate * 0.5 * (1 + Math.cos((Math.PI * i * base.perWorkerBatch) / total)));
    expect(log.length).toBe(total / base.perWorkerBatch);
    log.forEach((e, i) => expect(e.learningRate).toBeCloseTo(expected[i], 10));
  });

  it('workers that leave and join mid-epoch: every epoch applies every sample once, and joiners get the current weights', async () => {
    const model = buildSmallCnn({ height: 8, width: 8, channels: 1, numClasses: 4, filters: 4, seed: 1 });
    const coordinator = new ElasticCoordinator(weightLayout(model), readFlatWeights(model), Uint32Array.from({ length: 64 }, (_, i) => i), {
      ...base,
      policy: 'dynamic-sgd',
      token: 't',
      epochs: 3,
    });
    const url = await coordinator.listen('127.0.0.1');
    const epochs: EpochSummary[] = [];
    const log: StepLogEntry[] = [];
    const stops = [new AbortController(), new AbortController(), new AbortController()];
    const start = (i: number) =>
      runParticipant({
        url,
        token: 't',
        name: `w${i}`,
        model: buildSmallCnn({ height: 8, width: 8, channels: 1, numClasses: 4, filters: 4, seed: 50 + i }),
        data,
        signal: stops[i].signal,
      });
    const late: Promise<unknown>[] = [];
    const running = coordinator.run({
      onCheckpoint: async () => {},
      onStep: (e) => {
        log.push(e);
        if (e.step === 2) stops[0].abort(); // leaves gracefully
        if (e.step === 4) late.push(start(2)); // joins late
        if (e.step === 6) stops[1].abort();
      },
      onEpoch: (e) => void epochs.push(e),
    });
    const first = [start(0), start(1)];
    expect(await running).toBe(true);
    await coordinator.close();
    await Promise.all([...first, ...late]);
    expect(epochs).toHaveLength(3);
    for (const e of epochs) expect(e.appliedOrder.slice().sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    const sizes = new Set(log.map((e) => e.workers.length));
    expect(sizes.has(1)).toBe(true);
    expect(sizes.has(2)).toBe(true);
    expect(log.some((e) => e.workers.includes('w2'))).toBe(true);
    expect(log.every((e) => Number.isFinite(e.loss))).toBe(true);
  });

  it('refuses a worker with the wrong token or another model, and resumes from a checkpoint', async () => {
    const model = denseNet(3);
    const coordinator = new ElasticCoordinator(weightLayout(model), readFlatWeights(model), Uint32Array.from({ length: 64 }, (_, i) => i), {
      ...base,
      token: 'right',
      epochs: 1,
      checkpointEverySteps: 2,
    });
    const url = await coordinator.listen('127.0.0.1');
    await expect(runParticipant({ url, token: 'wrong', name: 'x', model: denseNet(1), data })).rejects.toThrow(ParticipantRejectedError);
    const other = buildSmallCnn({ height: 8, width: 8, channels: 1, numClasses: 4, filters: 4 });
    await expect(runParticipant({ url, token: 'right', name: 'y', model: other, data })).rejects.toThrow(/weight layout/);

    let saved: Uint8Array | undefined;
    const stop = { now: false };
    const running = coordinator.run({
      onCheckpoint: async (bytes, step) => {
        saved = bytes;
        if (step >= 2) stop.now = true;
      },
      shouldStop: () => stop.now,
    });
    const worker = runParticipant({ url, token: 'right', name: 'z', model: denseNet(9), data });
    expect(await running).toBe(false);
    await coordinator.close();
    await worker;
    const resumed = new ElasticCoordinator(weightLayout(model), readFlatWeights(denseNet(42)), Uint32Array.from({ length: 64 }, (_, i) => i), {
      ...base,
      token: 'right',
      epochs: 1,
    });
    resumed.restore(saved!);
    expect(resumed.step).toBe(coordinator.step);
    expect(Array.from(resumed.weights.trainable)).toEqual(Array.from(coordinator.weights.trainable));
    expect(resumed.samplesDone).toBe(coordinator.samplesDone);
  });

  it('a gradient delivered by a worker that dies right after still counts, and its samples are not handed out again', async () => {
    jest.setTimeout(30_000);
    const model = denseNet(3);
    const layout = weightLayout(model);
    const samples = 8;
    const coordinator = new ElasticCoordinator(layout, readFlatWeights(model), Uint32Array.from({ length: samples }, (_, i) => i), {
      ...base,
      token: 'k',
      perWorkerBatch: 2,
      maxWorkers: 2,
      // Both join before either asks for work, so the first step has both.
      minWorkers: 1,
      epochs: 1,
    });
    const { call, join, work, gradient, finish } = byHand(await coordinator.listen('127.0.0.1'), 'k', layout);

    const entries: StepLogEntry[] = [];
    const epochs: EpochSummary[] = [];
    const running = coordinator.run({ onCheckpoint: async () => {}, onStep: (e) => void entries.push(e), onEpoch: (e) => void epochs.push(e) });
    const [a, b] = [await join('a'), await join('b')];
    const [workA, workB] = await Promise.all([work(a), work(b)]);
    expect((await gradient(a, workA.header)).status).toBe(200);
    // a asks for the next step, then its process dies: the poll's connection closes.
    const dying = new AbortController();
    const poll = call('/next', { memberId: a }, dying.signal).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    dying.abort();
    await poll;
    await new Promise((r) => setTimeout(r, 100));
    expect((await gradient(b, workB.header)).status).toBe(200);
    // b alone finishes the epoch: 2 samples per step.
    await finish(b, coordinator);
    await running;
    await coordinator.close(0);
    expect(entries[0].workers).toEqual(['a', 'b']);
    expect(entries[0].dropped).toEqual(['a (connection closed)']);
    expect(entries.slice(1).every((e) => e.workers.join() === 'b')).toBe(true);
    expect(epochs[0].appliedOrder.slice().sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
  it('a worker that dies mid-step: survivors compute its slice on the same weights, so the step applies the whole global batch', async () => {
    const model = denseNet(3);
    const layout = weightLayout(model);
    const initial = readFlatWeights(model);
    const coordinator = new ElasticCoordinator(layout, initial, Uint32Array.from({ length: 8 }, (_, i) => i), {
      ...base,
      policy: 'fixed-global-batch',
      token: 'k',
      perWorkerBatch: 2,
      maxWorkers: 2,
      minWorkers: 1,
      epochs: 1,
      // A worker silent this long is taken for dead.
      stepTimeoutMs: 400,
    });
    const { join, work, gradient, finish } = byHand(await coordinator.listen('127.0.0.1'), 'k', layout);

    const entries: StepLogEntry[] = [];
    const running = coordinator.run({ onCheckpoint: async () => {}, onStep: (e) => void entries.push(e) });
    const [a, b] = [await join('a'), await join('b')];
    const [workA, workB] = await Promise.all([work(a), work(b)]);
    expect(workA.header.ids.length + workB.header.ids.length).toBe(4);
    // a dies holding its slice; b delivers its own, then is handed a's slice for the same step.
    expect((await gradient(b, workB.header, 1)).status).toBe(200);
    const retry = await work(b);
    expect(retry.header.step).toBe(workB.header.step);
    expect(retry.header.ids).toEqual(workA.header.ids);
    expect(retry.weights).toEqual(workB.weights);
    expect(entries).toHaveLength(0);
    expect((await gradient(b, retry.header, 3)).status).toBe(200);
    while (entries.length === 0) await new Promise((r) => setTimeout(r, 10));
    const step = entries[0];
    expect(step.globalBatch).toBe(4);
    expect(step.workers).toEqual(['b']);
    expect(step.dropped).toEqual([expect.stringMatching(/^a \(silent for \d+ s\)$/)]);
    // First step: v = lr g, with g the mean over the 4 samples (2 at 1, 2 at 3) and lr 0.05 x 4 / 2.
    const expected = initial.trainable.map((w) => w - 0.1 * 2);
    for (let i = 0; i < expected.length; i++) expect(coordinator.weights.trainable[i]).toBeCloseTo(expected[i], 6);
    // b finishes the epoch alone; every sample is applied exactly once.
    await finish(b, coordinator);
    expect(await running).toBe(true);
    await coordinator.close(0);
    expect(entries.map((e) => e.globalBatch)).toEqual([4, 4]);
  });
});

/** Identity forward; NaN backward (d sqrt(u)/du at u = 0 is infinite, times 0): a finite loss with a NaN gradient. */
class NanGradient extends tf.layers.Layer {
  static className = 'NanGradient';
  override call(inputs: Tensor | Tensor[]): Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => tf.add(x, tf.sqrt(tf.mul(x, 0))));
  }
}

/** denseNet's layout, with a layer between hidden and out that makes every gradient NaN. */
function poisonedNet(seed: number): LayersModel {
  const input = tf.input({ shape: [8, 8, 1] });
  const flat = tf.layers.flatten().apply(input);
  const hidden = tf.layers.dense({ units: 12, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }), name: 'hidden' }).apply(flat);
  const nan = new NanGradient({ name: 'nan_gradient' }).apply(hidden);
  const out = tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), name: 'out' }).apply(nan) as ReturnType<typeof tf.input>;
  return tf.model({ inputs: input, outputs: out, name: 'dense_net' });
}

const allFinite = (values: Float32Array) => values.every((v) => Number.isFinite(v));

describe('non-finite losses and gradients on the data plane', () => {
  const data = quadrants(64);

  it('a header number that is NaN or infinite is refused when encoding, never sent as null', () => {
    expect(() => encodeMessage({ memberId: 'm', step: 0, count: 8, loss: NaN })).toThrow(NonFiniteHeaderError);
    expect(() => encodeMessage({ memberId: 'm', step: 0, count: 8, loss: Infinity })).toThrow(/field loss is Infinity: non-finite numbers are not sent/);
    expect(decodeMessage<{ loss: number }>(encodeMessage({ loss: 0.5 })).header.loss).toBe(0.5);
  });

  it('a real worker whose gradient is NaN: the run fails naming it and the step, and the weights keep their last finite values', async () => {
    const model = denseNet(3);
    const coordinator = new ElasticCoordinator(weightLayout(model), readFlatWeights(model), Uint32Array.from({ length: 64 }, (_, i) => i), {
      ...base,
      token: 'secret',
      minWorkers: 2,
      maxWorkers: 2,
    });
    const url = await coordinator.listen('127.0.0.1');
    const before = coordinator.weights.trainable.slice();
    const checkpoints: number[] = [];
    const running = coordinator.run({ onCheckpoint: async (_b, step) => void checkpoints.push(step) });
    const good = runParticipant({ url, token: 'secret', name: 'good', model: denseNet(100), data });
    const bad = runParticipant({ url, token: 'secret', name: 'bad', model: poisonedNet(200), data });
    await expect(running).rejects.toThrow(TrainingDivergedError);
    await expect(running).rejects.toThrow(/^elastic training diverged at step 0: worker bad computed a gradient in which 780 of 832 values are not finite, the first \(index 0\) is NaN; lower the learning rate$/);
    await expect(bad).rejects.toThrow(/^worker bad diverged at step 0 of elastic training: it computed a gradient in which/);
    await coordinator.close(0);
    await good.catch(() => undefined);
    expect(coordinator.step).toBe(0);
    expect(Array.from(coordinator.weights.trainable)).toEqual(Array.from(before));
    expect(checkpoints).toEqual([]);
  });

  it('a token holder that sends a NaN gradient, or a loss that JSON made null, is refused and named; nothing of it is applied', async () => {
    for (const poison of ['gradient', 'null loss'] as const) {
      const model = denseNet(3);
      const layout = weightLayout(model);
      const coordinator = new ElasticCoordinator(layout, readFlatWeights(model), Uint32Array.from({ length: 16 }, (_, i) => i), { ...base, token: 'k', perWorkerBatch: 4, epochs: 1 });
      const { call, join, work, gradient } = byHand(await coordinator.listen('127.0.0.1'), 'k', layout);
      const running = coordinator.run({ onCheckpoint: async () => {} });
      running.catch(() => undefined);
      const honest = await join('honest');
      const first = await work(honest);
      expect((await gradient(honest, first.header, 0.5)).status).toBe(200);
      const applied = await work(honest); // the first step is applied before the second's work goes out
      const weightsAfterFirst = coordinator.weights.trainable.slice();
      expect(allFinite(weightsAfterFirst)).toBe(true);
      expect((await gradient(honest, applied.header, 0.5)).status).toBe(200);
      const mallory = await join('mallory');
      const [h, m] = await Promise.all([work(honest), work(mallory)]);
      expect((await gradient(honest, h.header, 0.5)).status).toBe(200);
      const weightsBefore = coordinator.weights.trainable.slice();
      let sent: Response;
      if (poison === 'gradient') {
        const values = new Float32Array(layout.trainableSize).fill(0.5);
        values[7] = NaN;
        sent = await call('/gradient', encodeMessage({ memberId: mallory, step: m.header.step, count: m.header.ids.length, loss: 1 }, values, new Float32Array(layout.nonTrainableSize)));
      } else {
        // What an unpatched worker sent for a NaN loss: JSON.stringify wrote it as null.
        const header = Buffer.from(`{"memberId":"${mallory}","step":${m.header.step},"count":${m.header.ids.length},"loss":null}`);
        const prefix = Buffer.alloc(Math.ceil((4 + header.length) / 4) * 4);
        prefix.writeUInt32LE(header.length, 0);
        header.copy(prefix, 4);
        sent = await call('/gradient', Buffer.concat([prefix, floatBytes(new Float32Array(layout.trainableSize).fill(0.5), new Float32Array(layout.nonTrainableSize))]));
      }
      expect(sent.status).toBe(422);
      const expected =
        poison === 'gradient'
          ? new RegExp(`^elastic training diverged at step ${m.header.step}: worker mallory sent a gradient in which 1 of ${layout.trainableSize} values are not finite, the first \\(index 7\\) is NaN; the contribution was refused`)
          : new RegExp(`^elastic training diverged at step ${m.header.step}: worker mallory sent loss null \\(a NaN or infinite loss that JSON encoded as null\\); the contribution was refused`);
      await expect(running).rejects.toThrow(expected);
      expect(Array.from(coordinator.weights.trainable)).toEqual(Array.from(weightsBefore));
      expect(allFinite(coordinator.weights.trainable)).toBe(true);
      await coordinator.close(0);
    }
  });
});

describe('data-plane request bodies are bounded', () => {
  const data = quadrants(64);

  /** POSTs `total` bytes in 256 KiB chunks as fast as the socket takes them, until the server answers or cuts the connection. */
  function stream(url: string, path: string, token: string, total: number, declare: boolean): Promise<{ status?: number; sent: number }> {
    return new Promise((resolve) => {
      let sent = 0;
      let settled = false;
      const done = (status?: number) => {
        if (settled) return;
        settled = true;
        resolve({ status, sent });
        req.destroy();
      };
      const req = httpRequest(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, ...(declare ? { 'content-length': String(total) } : {}) } }, (res) => {
        res.resume();
        done(res.statusCode);
      });
      req.on('error', () => done(undefined));
      const chunk = Buffer.alloc(256 * 1024, 1);
      const pump = () => {
        while (!settled && sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!settled) req.end();
      };
      if (declare) req.flushHeaders();
      else pump();
    });
  }

  it('a gradient over the model size and a JSON body over a few KiB get 413 at once, without the rest being read; training goes on', async () => {
    const model = denseNet(3);
    const layout = weightLayout(model);
    const coordinator = new ElasticCoordinator(layout, readFlatWeights(model), Uint32Array.from({ length: 64 }, (_, i) => i), { ...base, token: 't', minWorkers: 1, maxWorkers: 1, epochs: 1 });
    const url = await coordinator.listen('127.0.0.1');
    const limit = 4 * (layout.trainableSize + layout.nonTrainableSize) + GRADIENT_HEADER_ROOM;
    const big = 400 * 1024 * 1024;
    // Declared too long: refused before a byte of the body is sent.
    expect(await stream(url, '/gradient', 't', big, true)).toEqual({ status: 413, sent: 0 });
    // Streamed without a length: refused once the limit is passed, long before the 400 MB are through.
    const streamed = await stream(url, '/gradient', 't', big, false);
    expect(streamed.status === 413 || streamed.status === undefined).toBe(true);
    expect(streamed.sent).toBeLessThan(limit + 64 * 1024 * 1024);
    const json = await fetch(`${url}/join`, { method: 'POST', headers: { authorization: 'Bearer t' }, body: JSON.stringify({ name: 'x'.repeat(JSON_BODY_LIMIT), signature: 's' }) });
    expect(json.status).toBe(413);
    // Without the token nothing is read at all.
    expect((await stream(url, '/gradient', 'wrong', big, true)).status).toBe(401);
    const running = coordinator.run({ onCheckpoint: async () => {} });
    const worker = runParticipant({ url, token: 't', name: 'w', model: denseNet(9), data });
    expect(await running).toBe(true);
    await coordinator.close();
    expect((await worker).steps).toBe(64 / base.perWorkerBatch);
  });
});

describe('a participant that joins and then stays silent', () => {
  const data = quadrants(64);

  it('that never asks for work: the steps start without it after the idle grace, not after stepTimeoutMs', async () => {
    const model = denseNet(3);
    const layout = weightLayout(model);
    const coordinator = new ElasticCoordinator(layout, readFlatWeights(model), Uint32Array.from({ length: 64 }, (_, i) => i), {
      ...base,
      token: 'k',
      minWorkers: 1,
      maxWorkers: 2,
      epochs: 1,
      stepTimeoutMs: 30_000,
    });
    const url = await coordinator.listen('127.0.0.1');
    const { join } = byHand(url, 'k', layout);
    const log: StepLogEntry[] = [];
    const running = coordinator.run({ onCheckpoint: async () => {}, onStep: (e) => void log.push(e) });
    const started = Date.now();
    await join('silent'); // and nothing more
    const worker = runParticipant({ url, token: 'k', name: 'w', model: denseNet(9), data });
    expect(await running).toBe(true);
    const took = Date.now() - started;
    await coordinator.close();
    await worker;
    expect(coordinator.idleGraceMs()).toBeLessThan(3000);
    // One grace (2 s floor) at most, not the 30 s step timeout, and not once per step.
    expect(took).toBeLessThan(6000);
    expect(log.every((e) => e.workers.join() === 'w')).toBe(true);
    expect(log.length).toBe(64 / base.perWorkerBatch);
  });

  it('that takes its first assignment and never answers: dropped after a few times the slowest answer seen, its slice handed on', async () => {
    const model = denseNet(3);
    const layout = weightLayout(model);
    const coordinator = new ElasticCoordinator(layout, readFlatWeights(model), Uint32Array.from({ length: 64 }, (_, i) => i), {
      ...base,
      token: 'k',
      minWorkers: 1,
      maxWorkers: 2,
      epochs: 1,
      stepTimeoutMs: 30_000,
      newcomerDeadlineFloorMs: 1000,
    });
    const url = await coordinator.listen('127.0.0.1');
    const { join, work } = byHand(url, 'k', layout);
    const log: StepLogEntry[] = [];
    const epochs: EpochSummary[] = [];
    const joined = { done: false };
    const running = coordinator.run({
      onCheckpoint: async () => {},
      onEpoch: (e) => void epochs.push(e),
      onStep: async (e) => {
        log.push(e);
        if (e.step === 1 && !joined.done) {
          joined.done = true;
          // Joins, takes the next step's work, and goes silent.
          const silent = await join('silent');
          void work(silent).catch(() => undefined);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
    });
    const worker = runParticipant({ url, token: 'k', name: 'w', model: denseNet(9), data });
    const started = Date.now();
    expect(await running).toBe(true);
    const took = Date.now() - started;
    await coordinator.close();
    await worker;
    expect(took).toBeLessThan(8000);
    const stalled = log.find((e) => e.dropped.length > 0)!;
    expect(stalled.dropped).toEqual([expect.stringMatching(/^silent \(silent for \d+ s\)$/)]);
    expect(stalled.workers).toEqual(['w']);
    expect(stalled.globalBatch).toBeGreaterThan(0);
    // Nothing lost or repeated: its slice went to w on the same step.
    expect(epochs[0].appliedOrder.slice().sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });

  it('a slow but working newcomer is not held to the newcomer deadline twice: its late answer raises it, and it takes part from then on', async () => {
    const model = denseNet(3);
    const layout = weightLayout(model);
    const coordinator = new ElasticCoordinator(layout, readFlatWeights(model), Uint32Array.from({ length: 64 }, (_, i) => i), {
      ...base,
      token: 'k',
      minWorkers: 2,
      maxWorkers: 2,
      epochs: 1,
      stepTimeoutMs: 30_000,
      newcomerDeadlineFloorMs: 200,
    });
    const url = await coordinator.listen('127.0.0.1');
    const { call, join, gradient } = byHand(url, 'k', layout);
    const log: StepLogEntry[] = [];
    const running = coordinator.run({ onCheckpoint: async () => {}, onStep: (e) => void log.push(e) });
    const fast = runParticipant({ url, token: 'k', name: 'fast', model: denseNet(9), data });
    // The slow one answers every assignment after 600 ms, and rejoins when it is dropped.
    const slow = (async () => {
      let id = await join('slow');
      for (;;) {
        const res = await call('/next', { memberId: id });
        if (res.headers.get('content-type') !== WIRE_CONTENT_TYPE) {
          const reply = (await res.json()) as { kind: string };
          if (reply.kind === 'done') return;
          if (reply.kind === 'rejoin') id = await join('slow');
          continue;
        }
        const { header } = decodeMessage<WorkHeader>(new Uint8Array(await res.arrayBuffer()));
        await new Promise((r) => setTimeout(r, 600));
        if ((await gradient(id, header, 0)).status === 410) id = await join('slow');
      }
    })();
    expect(await running).toBe(true);
    await coordinator.close();
    await Promise.all([fast, slow]);
    const drops = log.flatMap((e) => e.dropped);
    // The first steps' answers come from the fast worker; the slow newcomer overruns 4 x that once at most.
    expect(drops.filter((d) => d.startsWith('slow')).length).toBeLessThanOrEqual(1);
    const lastSteps = log.slice(-3);
    expect(lastSteps.every((e) => e.workers.includes('slow'))).toBe(true);
    expect(coordinator.newcomerDeadlineMs()).toBeGreaterThanOrEqual(4 * 600);
  });
});
