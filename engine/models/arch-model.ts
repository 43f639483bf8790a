/**
 * The one builder: an ArchSpec in, a tfjs LayersModel out (logits, no softmax). Stem, MBConv
 * blocks, head; every family (EfficientNet, MobileNetV2, searched networks) goes through it.
 * The model is one flat functional graph of built-in layers (plus SeededDropout when training),
 * so per-layer MACs and parameter counts read straight off `model.layers`.
 */
import type { LayersModel } from '@tensorflow/tfjs-node';
import { ArchSpecSchema, unrollBlocks, type ArchSpec, type ArchSpecInput } from '../arch/spec';
import { convBnAct } from '../blocks/conv-bn-act';
import { blockContext, denseInit, nameHash, type Sym } from '../blocks/context';
import { mbconv } from '../blocks/mbconv';
import { seededDropout } from '../blocks/seeded-dropout';

export interface BuildOptions {
  /**
   * Seeds the initial weights; the same seed builds the same model. Dropout masks do not depend on
   * it (they come from the trainer's seed, the step and the layer name), so a checkpoint restored
   * into a model built with any seed continues exactly.
   */
  seed?: number;
  /** Leave out dropout and drop-connect: a model of built-in layers only, for export and inference. */
  inferenceOnly?: boolean;
  /** Zero weights instead of random ones: shape inference only, e.g. for `nas arch describe`. */
  zeroInit?: boolean;
}

function blockName(entry: number, copy: number): string {
  const suffix = copy < 26 ? String.fromCharCode(97 + copy) : `_${copy}`;
  return `block${entry + 1}${suffix}`;
}

export function buildArchModel(spec: ArchSpec | ArchSpecInput, opts: BuildOptions = {}): LayersModel {
  const arch = ArchSpecSchema.parse(spec);
  const ctx = blockContext({ seed: opts.seed ?? 1, bn: arch.batchNorm, zeroInit: opts.zeroInit ?? false, inferenceOnly: opts.inferenceOnly ?? false });
  const { tf } = ctx;
  const input = tf.input({ shape: [arch.resolution, arch.resolution, arch.inputChannels], name: 'image' });
  let x: Sym = convBnAct(ctx, input, { filters: arch.stem.channels, kernel: arch.stem.kernel, stride: arch.stem.stride, activation: arch.activation, name: 'stem' });
  const blocks = unrollBlocks(arch);
  blocks.forEach((b, i) => {
    x = mbconv(ctx, x, {
      ...b,
      activation: arch.activation,
      // Official EfficientNet: the drop rate grows linearly with depth, 0 for the first block.
      dropConnect: (arch.dropConnect * i) / blocks.length,
      name: blockName(b.entry, b.copy),
    });
  });
  if (arch.headChannels !== null) x = convBnAct(ctx, x, { filters: arch.headChannels, kernel: 1, activation: arch.activation, name: 'head' });
  x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as Sym;
  if (arch.dropout > 0 && !ctx.inferenceOnly) {
    x = seededDropout({ rate: arch.dropout, perExample: false, seed: nameHash('top_dropout'), name: 'top_dropout' }).apply(x) as Sym;
  }
  const logits = tf.layers
    .dense({ units: arch.numClasses, kernelInitializer: denseInit(ctx, 'predictions'), name: 'predictions' })
    .apply(x) as Sym;
  return tf.model({ inputs: input, outputs: logits, name: arch.name.replace(/[^A-Za-z0-9_]/g, '_') });
}

/**
 * The same network without its stochastic layers, carrying the trained weights: what to export
 * for browsers and plain @tensorflow/tfjs, which do not know SeededDropout.
 */
export function toInferenceModel(spec: ArchSpec | ArchSpecInput, trained: LayersModel): LayersModel {
  const model = buildArchModel(spec, { inferenceOnly: true, zeroInit: true });
  const byName = new Map(trained.weights.map((w) => [w.originalName, w]));
  model.setWeights(
    model.weights.map((w) => {
      const source = byName.get(w.originalName);
      if (!source) throw new Error(`trained model has no weight ${w.originalName}; was it built from this architecture?`);
      return source.read();
    }),
  );
  return model;
}
