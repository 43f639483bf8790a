/**
 * A tfjs LayersModel's training step as one TensorFlow graph: forward pass in training mode, the
 * trainer's loss (softmax cross-entropy with label smoothing, L2 on the chosen kernels), the
 * backward pass, and BatchNorm's moved statistics, run by one session call instead of hundreds of
 * eager op dispatches through tfjs's JavaScript gradient tape.
 *
 * Why this shape: on tfjs-node each eager op costs a round trip through N-API and the JS tape,
 * and an MBConv step is ~1,500 of them; Keras runs the same kernels of the same libtensorflow as
 * one graph and trains twice as fast (benchmarks/peers.ts). tfjs-node's binding has no graph
 * builder, but it loads SavedModels into TensorFlow sessions and runs any tensor of them by name,
 * so the step is written as a GraphDef (proto.ts) and loaded that way. The graph is stateless:
 * weights and moving statistics are fed from the model's variables on every run and the results
 * come back as tensors, so checkpoints, optimizers and the elastic data plane keep working on the
 * model exactly as before, and a step compiled in one process equals one compiled in another.
 *
 * The gradients are written per layer class (layers.ts), not derived by TensorFlow: the C API's
 * TF_AddGradients is not reachable through the binding. Models with a layer outside that set
 * raise UnsupportedLayerError and train eagerly (see `compileTrainingStep`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LayersModel, Scalar, Tensor } from '@tensorflow/tfjs-node';
import { mixSeed } from '../../core/random';
import { loadTf } from '../backend';
import { GraphBuilder, type T } from './builder';
import { EMITTERS, UnsupportedLayerError, type Emitted, type LayerConfig, type LayerWeights } from './layers';
import { DT, encodeSavedModel, type NodeDef } from './proto';

export { UnsupportedLayerError } from './layers';

export interface TrainingLoss {
  /** Label smoothing of the one-hot targets, as tf.losses.softmaxCrossEntropy applies it. */
  labelSmoothing: number;
  /** L2 penalty wd/2 * sum(w^2) over the weights `decays` picks. */
  weightDecay: number;
  /** Which trainable weights (by original name) the L2 penalty covers. */
  decays(name: string): boolean;
}

interface SymLike {
  id: number;
  shape: (number | null)[];
}
interface NodeLike {
  inputTensors: SymLike[];
  outputTensors: SymLike[];
}
interface WeightLike {
  originalName: string;
  shape: (number | null)[];
  read(): Tensor;
  write(t: Tensor): void;
}
/** The parts of a tfjs-layers Layer read here; tfjs does not export these as types. */
interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): LayerConfig;
  inboundNodes: NodeLike[];
  weights: WeightLike[];
  trainable: boolean;
  /** SeededDropout's per-layer salt. */
  seed?: number;
}

/** tfjs-node's NodeJSKernelBackend, the SavedModel part. */
interface SessionBackend {
  loadSavedModelMetaGraph(path: string, tags: string): number;
  deleteSavedModel(id: number): void;
  runSavedModel(id: number, inputs: Tensor[], infos: { name: string }[], outputs: string[]): Tensor[];
}

export interface StepResult {
  /** The loss, L2 term included, as a scalar tensor (the caller disposes it). */
  loss: Scalar;
  /** One gradient per trainable weight, in model.trainableWeights order, or their concatenation. */
  gradients: Tensor[];
}

interface Compiled {
  nodes: NodeDef[];
  dropoutSeeds: number[];
  trainable: WeightLike[];
  nonTrainable: WeightLike[];
}

function suffixOf(layer: LayerLike, weight: WeightLike): string {
  const prefix = `${layer.name}/`;
  return weight.originalName.startsWith(prefix) ? weight.originalName.slice(prefix.length) : weight.originalName;
}

/** Builds the step's graph; throws UnsupportedLayerError for a model it cannot express. */
export function buildTrainingGraph(model: LayersModel, loss: TrainingLoss): Compiled {
  const g = new GraphBuilder();
  const trainable = model.trainableWeights as unknown as WeightLike[];
  const nonTrainable = model.nonTrainableWeights as unknown as WeightLike[];
  const layers = model.layers as unknown as LayerLike[];
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new UnsupportedLayerError(model.name, 'Model', 'one input and one output are compiled');
  const input = model.inputs[0] as unknown as SymLike;
  const output = model.outputs[0] as unknown as SymLike;
  const numClasses = output.shape[output.shape.length - 1];
  if (output.shape.length !== 2 || numClasses == null) throw new UnsupportedLayerError(model.name, 'Model', 'logits must be [batch, classes]');

  const images = g.placeholder('images', DT.float, input.shape.map((d) => d ?? -1));
  const labels = g.placeholder('labels', DT.float, [-1, numClasses]);
  const dropoutLayers = layers.filter((l) => l.getClassName() === 'SeededDropout' && (l.getConfig().rate ?? 0) > 0);
  const seeds = dropoutLayers.length > 0 ? g.placeholder('noise_seeds', DT.int32, [dropoutLayers.length, 2]) : null;
  const weightTensor = new Map<WeightLike, T>();
  trainable.forEach((w, i) => weightTensor.set(w, g.placeholder(`w_${i}`, DT.float, w.shape.map((d) => d ?? -1))));
  nonTrainable.forEach((w, i) => weightTensor.set(w, g.placeholder(`s_${i}`, DT.float, w.shape.map((d) => d ?? -1))));

  const tensorOf = new Map<number, T>([[input.id, images]]);
  const emitted: { layer: LayerLike; node: NodeLike; out: Emitted; weights: Map<string, WeightLike> }[] = [];
  const updated = new Map<WeightLike, T>();
  for (const layer of layers) {
    const className = layer.getClassName();
    if (className === 'InputLayer') continue;
    const fail = (why: string): never => {
      throw new UnsupportedLayerError(layer.name, className, why);
    };
    const emit = EMITTERS[className];
    if (!emit) fail('no graph emitter for this layer class');
    if (layer.inboundNodes.length !== 1) fail('a layer applied more than once is not compiled');
    if (!layer.trainable && layer.weights.length > 0) fail('frozen layers are not compiled');
    const node = layer.inboundNodes[0];
    const inputs = node.inputTensors.map((s) => tensorOf.get(s.id) ?? fail('an input that is not computed before it'));
    const weights = new Map(layer.weights.map((w) => [suffixOf(layer, w), w]));
    const w: LayerWeights = Object.fromEntries([...weights].map(([suffix, v]) => [suffix, weightTensor.get(v)!]));
    const dropoutIndex = dropoutLayers.indexOf(layer);
    const out = g.within(layer.name, () =>
      emit(
        {
          g,
          inputShapes: node.inputTensors.map((s) => s.shape),
          noiseSeed: () => g.one('GatherV2', [seeds!, g.intScalar(dropoutIndex), g.intScalar(0)], { Tparams: { type: DT.int32 }, Tindices: { type: DT.int32 }, Taxis: { type: DT.int32 } }),
        },
        inputs,
        w,
        layer.getConfig(),
        fail,
      ),
    );
    if (out.outputs.length !== node.outputTensors.length) fail('output count differs from the layer');
    node.outputTensors.forEach((s, i) => tensorOf.set(s.id, out.outputs[i]));
    for (const [suffix, value] of Object.entries(out.updates ?? {})) {
      const v = weights.get(suffix) ?? fail(`no weight ${suffix} to update`);
      updated.set(v, value);
    }
    emitted.push({ layer, node, out, weights });
  }

  const logits = tensorOf.get(output.id);
  if (!logits) throw new UnsupportedLayerError(model.name, 'Model', 'the output is not computed');
  const { lossValue, dLogits } = g.within('loss', () => {
    const ls = loss.labelSmoothing;
    const targets = ls > 0 ? g.binary('AddV2', g.binary('Mul', labels, g.scalar(1 - ls)), g.scalar(ls / numClasses)) : labels;
    const [perExample, backprop] = g.op('SoftmaxCrossEntropyWithLogits', [logits, targets], { T: { type: DT.float } }, 'xent', 2);
    const ce = g.reduce('Mean', perExample, [0], false);
    const batch = g.one('Cast', [g.one('Size', [perExample], { T: { type: DT.float }, out_type: { type: DT.int32 } })], { SrcT: { type: DT.int32 }, DstT: { type: DT.float } });
    const dLogits = g.binary('RealDiv', backprop, batch);
    const decayed = trainable.filter((w) => loss.weightDecay > 0 && loss.decays(w.originalName));
    if (decayed.length === 0) return { lossValue: ce, dLogits };
    const squares = decayed.map((w) => g.reduce('Sum', g.unary('Square', weightTensor.get(w)!), w.shape.map((_, i) => i), false));
    return { lossValue: g.binary('AddV2', ce, g.binary('Mul', g.addN(squares), g.scalar(loss.weightDecay / 2))), dLogits };
  });
  g.output(lossValue, 'loss');

  // Reverse pass: each tensor's gradient is the sum over its consumers.
  const pending = new Map<number, T[]>([[output.id, [dLogits]]]);
  const weightGrads = new Map<WeightLike, T>();
  for (const { layer, node, out, weights } of [...emitted].reverse()) {
    const dOutputs = node.outputTensors.map((s) => {
      const parts = pending.get(s.id);
      return parts ? g.within(`${layer.name}/grad`, () => g.addN(parts)) : null;
    });
    if (dOutputs.every((d) => d === null)) continue;
    if (dOutputs.some((d) => d === null)) throw new UnsupportedLayerError(layer.name, layer.getClassName(), 'an output that does not reach the loss');
    const needs = node.inputTensors.map((s) => s.id !== input.id);
    const { dInputs, dWeights } = g.within(`${layer.name}/grad`, () => out.backward(dOutputs, needs));
    node.inputTensors.forEach((s, i) => {
      const d = dInputs[i];
      if (d && needs[i]) pending.set(s.id, [...(pending.get(s.id) ?? []), d]);
    });
    for (const [suffix, d] of Object.entries(dWeights)) {
      const v = weights.get(suffix);
      if (!v) throw new UnsupportedLayerError(layer.name, layer.getClassName(), `a gradient for unknown weight ${suffix}`);
      weightGrads.set(v, d);
    }
  }

  const flat: T[] = [];
  trainable.forEach((w, i) => {
    const placeholder = weightTensor.get(w)!;
    let d = weightGrads.get(w) ?? g.one('ZerosLike', [placeholder], { T: { type: DT.float } });
    if (loss.weightDecay > 0 && loss.decays(w.originalName)) d = g.binary('AddV2', d, g.binary('Mul', placeholder, g.scalar(loss.weightDecay)));
    flat.push(g.reshape(g.output(d, `grad_${i}`), [-1]));
  });
  g.output(flat.length === 1 ? flat[0] : g.concat(flat), 'gradient');
  nonTrainable.forEach((w, i) => g.output(updated.get(w) ?? weightTensor.get(w)!, `stat_${i}`));
  return { nodes: g.nodes, dropoutSeeds: dropoutLayers.map((l) => (l.seed ?? 0) >>> 0), trainable, nonTrainable };
}

/** The compiled step of one model, loaded into its own TensorFlow session. */
export class CompiledTrainingStep {
  private disposed = false;
  private readonly feedNames: { name: string }[];

  private constructor(
    private readonly backend: SessionBackend,
    private readonly sessionId: number,
    private readonly graph: Compiled,
  ) {
    this.feedNames = [
      { name: 'images' },
      { name: 'labels' },
      ...(graph.dropoutSeeds.length > 0 ? [{ name: 'noise_seeds' }] : []),
      ...graph.trainable.map((_, i) => ({ name: `w_${i}` })),
      ...graph.nonTrainable.map((_, i) => ({ name: `s_${i}` })),
    ];
  }

  /** Compiles and loads `model`'s training step; throws UnsupportedLayerError if it cannot. */
  static compile(model: LayersModel, loss: TrainingLoss): CompiledTrainingStep {
    const tf = loadTf();
    if (tf.getBackend() !== 'tensorflow') throw new UnsupportedLayerError(model.name, 'Model', `backend ${tf.getBackend()} has no TensorFlow session`);
    const graph = buildTrainingGraph(model, loss);
    const backend = tf.backend() as unknown as SessionBackend;
    const dir = mkdtempSync(join(tmpdir(), 'hwnas-step-'));
    try {
      writeFileSync(join(dir, 'saved_model.pb'), encodeSavedModel(graph.nodes));
      // The session holds the graph once loaded; the folder is only the loader's way in.
      return new CompiledTrainingStep(backend, backend.loadSavedModelMetaGraph(dir, 'serve'), graph);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * One forward and backward pass on (images, one-hot labels) with the model's current weights.
   * The moved BatchNorm statistics are written into the model's variables, as a training-mode
   * `model.apply` does; `flat` returns the gradient as one vector (the elastic data plane's form).
   */
  run(xs: Tensor, ys: Tensor, noiseStep: number, o: { flat?: boolean } = {}): StepResult {
    if (this.disposed) throw new Error('compiled training step used after dispose()');
    const tf = loadTf();
    const { trainable, nonTrainable, dropoutSeeds } = this.graph;
    const seeds =
      dropoutSeeds.length > 0 ? tf.tensor2d(dropoutSeeds.flatMap((salt, i) => [mixSeed(salt, noiseStep) | 0, i]), [dropoutSeeds.length, 2], 'int32') : null;
    const feeds = [xs, ys, ...(seeds ? [seeds] : []), ...trainable.map((w) => w.read()), ...nonTrainable.map((w) => w.read())];
    const fetches = ['loss:0', ...(o.flat ? ['gradient:0'] : trainable.map((_, i) => `grad_${i}:0`)), ...nonTrainable.map((_, i) => `stat_${i}:0`)];
    let outputs: Tensor[];
    try {
      outputs = this.backend.runSavedModel(this.sessionId, feeds, this.feedNames, fetches);
    } finally {
      seeds?.dispose();
    }
    const gradientCount = o.flat ? 1 : trainable.length;
    const statistics = outputs.slice(1 + gradientCount);
    nonTrainable.forEach((w, i) => {
      w.write(statistics[i]);
      // write() shares the tensor's buffer; the variable keeps it alive.
      statistics[i].dispose();
    });
    return { loss: outputs[0] as Scalar, gradients: outputs.slice(1, 1 + gradientCount) };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backend.deleteSavedModel(this.sessionId);
  }
}

/**
 * The compiled step where the model and backend allow it, else null with the reason (the caller
 * trains eagerly then). `NAS_GRAPH_STEP=0` turns compilation off.
 */
export function compileTrainingStep(model: LayersModel, loss: TrainingLoss): { step: CompiledTrainingStep | null; reason?: string } {
  if (process.env.NAS_GRAPH_STEP === '0') return { step: null, reason: 'NAS_GRAPH_STEP=0' };
  try {
    return { step: CompiledTrainingStep.compile(model, loss) };
  } catch (err) {
    if (err instanceof UnsupportedLayerError) return { step: null, reason: err.message };
    throw err;
  }
}
