/**
 * The worker side of elastic training: join the coordinator, then repeatedly take an assignment
 * (current weights and a slice of sample ids), compute the mean gradient of the slice and send it
 * back with the BatchNorm statistics the forward pass updated. Stateless between steps: every
 * assignment carries the weights, so a worker can join, leave or be replaced at any step.
 *
 * A step whose loss, gradient or BatchNorm statistics come out NaN or infinite is never sent: the
 * worker tells the coordinator (/diverged), which fails the run naming it, and throws
 * TrainingDivergedError itself.
 */
import type { LayersModel, Scalar, Tensor, Variable } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';
import type { NoiseKwargs } from '../blocks/seeded-dropout';
import type { AugmentOptions } from '../data/augment';
import { makeBatch } from '../data/batches';
import type { ImageDataset } from '../data/dataset';
import { mixSeed } from '../../core/random';
import { compileTrainingStep } from '../graph/training-step';
import { contributionProblem, TrainingDivergedError } from '../train/divergence';
import { bearer } from './auth';
import { layoutSignature, readNonTrainableWeights, weightLayout, writeFlatWeights } from './flat-weights';
import type { DivergedReport, Endpoint, GradientHeader, JoinReply, NextReply, WorkHeader } from './protocol';
import { WIRE_CONTENT_TYPE, decodeMessage, encodeMessage } from './wire';
import { isDecayedKernel } from '../train/weight-decay';

export interface ParticipantOptions {
  url: string;
  /** The training's bearer token (auth.ts: derived from the installation's key and the training's salt). */
  token: string;
  /** Shown in the coordinator's log, e.g. host:pid. */
  name: string;
  model: LayersModel;
  data: ImageDataset;
  labelSmoothing?: number;
  /** L2 penalty wd/2 * sum(w^2) on kernels, as the single-process trainer applies it. */
  weightDecay?: number;
  /** Random crop and flip of training images, drawn per (step, slice): a replacement worker draws the same. */
  augment?: AugmentOptions;
  /** Aborting leaves the run gracefully: the coordinator drops this worker at once. */
  signal?: AbortSignal;
  onStep?(step: { step: number; epoch: number; samples: number; loss: number }): void;
  /** Told once, before the first step, when the model trains on the eager tape instead of the compiled graph, and why. */
  onEagerStep?(reason: string): void;
}

export interface ParticipantResult {
  steps: number;
  samples: number;
  /** 'done': the coordinator finished; 'stopped': the signal aborted. */
  outcome: 'done' | 'stopped';
}

/** The coordinator cannot be reached or answers nonsense: the caller should look it up again. */
export class CoordinatorUnreachableError extends Error {
  constructor(url: string, detail: string) {
    super(`elastic coordinator at ${url} is unreachable: ${detail}`);
    this.name = 'CoordinatorUnreachableError';
  }
}

/** The coordinator refuses this worker for good (wrong token, another model). */
export class ParticipantRejectedError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'ParticipantRejectedError';
  }
}

const NOISE_SALT = 0xe1a;
const AUGMENT_SALT = 0xe1b;

/** The seed of one slice's augmentation draws: a function of the run, the step and the slice alone. */
export function augmentSeedOf(seed: number, step: number, firstId: number): number {
  return mixSeed(seed, AUGMENT_SALT, step, firstId);
}

export async function runParticipant(o: ParticipantOptions): Promise<ParticipantResult> {
  const tf = loadTf();
  const layout = weightLayout(o.model);
  const signature = layoutSignature(layout);
  const variables = o.model.trainableWeights.map((w) => ({ name: w.originalName, v: (w as unknown as { val: Variable }).val }));
  const trainable = variables.map((x) => x.v);
  const kernels = variables.filter((x) => isDecayedKernel(x.name)).map((x) => x.v);
  const resolution = o.model.inputs[0].shape[1] as number;
  let steps = 0;
  let samples = 0;

  async function post(path: Endpoint, body: Buffer | object): Promise<Response> {
    const binary = Buffer.isBuffer(body);
    try {
      return await fetch(`${o.url}${path}`, {
        method: 'POST',
        headers: { authorization: bearer(o.token), 'content-type': binary ? WIRE_CONTENT_TYPE : 'application/json' },
        body: binary ? body : JSON.stringify(body),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CoordinatorUnreachableError(o.url, cause?.code ?? cause?.message ?? (err as Error).message);
    }
  }

  async function json<T>(res: Response): Promise<T> {
    if (res.status === 401 || res.status === 409) throw new ParticipantRejectedError(`coordinator refused this worker: ${await res.text()}`);
    if (res.status !== 200 && res.status !== 410) throw new CoordinatorUnreachableError(o.url, `HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  async function join(): Promise<string | undefined> {
    const reply = await json<JoinReply>(await post('/join', { name: o.name, signature }));
    return reply.kind === 'joined' ? reply.memberId : undefined;
  }

  // One TensorFlow graph per step where the model allows it (engine/graph/training-step.ts); the
  // eager tape otherwise. Both compute the same loss and gradient, to rounding.
  const { step: compiled, reason } = compileTrainingStep(o.model, {
    labelSmoothing: o.labelSmoothing ?? 0,
    weightDecay: o.weightDecay ?? 0,
    decays: isDecayedKernel,
  });
  if (!compiled) o.onEagerStep?.(reason ?? 'not compiled');

  function eagerGradient(xs: Tensor, ys: Tensor, noiseStep: number): { gradient: Float32Array; loss: number } {
    const { value, grads } = tf.variableGrads(() => {
      const kwargs: NoiseKwargs = { training: true, noiseStep };
      const logits = o.model.apply(xs, kwargs) as Tensor;
      let loss = tf.losses.softmaxCrossEntropy(ys, logits, undefined, o.labelSmoothing ?? 0) as Scalar;
      const wd = o.weightDecay ?? 0;
      if (wd > 0 && kernels.length > 0) loss = tf.add(loss, tf.mul(tf.addN(kernels.map((k) => tf.sum(tf.square(k)))), wd / 2)) as Scalar;
      return loss;
    }, trainable);
    const gradient = new Float32Array(layout.trainableSize);
    let at = 0;
    for (const v of trainable) {
      const g = grads[v.name].dataSync() as Float32Array;
      gradient.set(g, at);
      at += g.length;
    }
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return { gradient, loss };
  }

  function gradientOf(ids: Uint32Array, noiseStep: number, augmentSeed: number): { gradient: Float32Array; loss: number } {
    const batch = makeBatch(o.data, o.data.train, ids, { size: resolution, augment: o.augment, augmentSeed });
    try {
      if (!compiled) return eagerGradient(batch.xs, batch.ys, noiseStep);
      const { loss, gradients } = compiled.run(batch.xs, batch.ys, noiseStep, { flat: true });
      try {
        return { gradient: gradients[0].dataSync() as Float32Array, loss: loss.dataSync()[0] };
      } finally {
        tf.dispose([loss, ...gradients]);
      }
    } finally {
      tf.dispose([batch.xs, batch.ys]);
    }
  }

  try {
    let memberId = await join();
    while (memberId) {
      if (o.signal?.aborted) {
        await post('/leave', { memberId }).catch(() => undefined);
        return { steps, samples, outcome: 'stopped' };
      }
      const res = await post('/next', { memberId });
      if (res.headers.get('content-type') !== WIRE_CONTENT_TYPE) {
        const reply = await json<NextReply>(res);
        if (reply.kind === 'done') break;
        if (reply.kind === 'rejoin') memberId = await join();
        continue;
      }
      const { header, values } = decodeMessage<WorkHeader>(new Uint8Array(await res.arrayBuffer()));
      writeFlatWeights(o.model, {
        trainable: values.subarray(0, layout.trainableSize),
        nonTrainable: values.subarray(layout.trainableSize),
      });
      const ids = Uint32Array.from(header.ids);
      const { gradient, loss } = gradientOf(
        ids,
        mixSeed(header.seed, NOISE_SALT, header.step, ids[0] ?? 0),
        augmentSeedOf(header.seed, header.step, ids[0] ?? 0),
      );
      const nonTrainable = readNonTrainableWeights(o.model, layout);
      const problem = contributionProblem(loss, gradient, nonTrainable);
      if (problem) {
        // Said to the coordinator, which fails the run naming this worker; best effort, the throw is what counts here.
        await post('/diverged', { memberId, step: header.step, detail: problem } satisfies DivergedReport)
          .then((r) => r.arrayBuffer())
          .catch(() => undefined);
        throw new TrainingDivergedError(`worker ${o.name} diverged at step ${header.step} of elastic training: it computed ${problem}; lower the learning rate`);
      }
      const sent = await post(
        '/gradient',
        encodeMessage({ memberId, step: header.step, count: ids.length, loss } satisfies GradientHeader, gradient, nonTrainable),
      );
      const ack = await json<{ ok?: boolean; kind?: string }>(sent);
      if (ack.kind === 'rejoin') {
        memberId = await join();
        continue;
      }
      steps++;
      samples += ids.length;
      o.onStep?.({ step: header.step, epoch: header.epoch, samples: ids.length, loss });
    }
    return { steps, samples, outcome: 'done' };
  } finally {
    compiled?.dispose();
  }
}
