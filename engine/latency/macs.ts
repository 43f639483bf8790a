/**
 * Multiply-accumulates of one forward pass, counted analytically from each layer's configuration
 * and its output shape, for batch size 1.
 *
 * Convention (the papers'): only layers that multiply by weights count: Conv2D (including the 1x1
 * convs of squeeze-excitation on a 1x1 map), DepthwiseConv2D and Dense. BatchNorm, activations,
 * pooling, the residual add and SE's gating multiply count 0. With it EfficientNet-B0 at 224 is
 * 385.8M MACs (paper: 0.39B "FLOPS", which are multiply-adds) and MobileNetV2 1.0 is 300.8M
 * (paper: 300M). `{ elementwise: true }` also counts the gating multiply as one MAC per output
 * element (H*W*C), for tools that do; it adds about 0.5% to B0 and rounds to the same 0.39B.
 * `opMacs` (./ops.ts) counts a single op without building it by the same convention, which is
 * why both live here: the `macs` target prices ops with one and models with the other.
 */
import type { LayersModel } from '@tensorflow/tfjs-node';

export interface LayerMacs {
  name: string;
  className: string;
  outputShape: number[];
  params: number;
  macs: number;
}

export interface MacsOptions {
  /** Count SE's elementwise gating multiply (H*W*C per Multiply layer). Default false. */
  elementwise?: boolean;
}

function shapeOf(layer: { outputShape: unknown }): number[] {
  const shape = layer.outputShape as (number | null)[] | (number | null)[][];
  const single = Array.isArray(shape[0]) ? (shape[0] as (number | null)[]) : (shape as (number | null)[]);
  return single.slice(1).map((d) => d ?? 1);
}

function inputChannels(layer: { input: unknown }): number {
  const input = layer.input as { shape: (number | null)[] } | { shape: (number | null)[] }[];
  const shape = Array.isArray(input) ? input[0].shape : input.shape;
  return shape[shape.length - 1] as number;
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

export function countLayerMacs(model: LayersModel, opts: MacsOptions = {}): LayerMacs[] {
  return model.layers.map((layer) => {
    const config = layer.getConfig() as Record<string, unknown>;
    const out = shapeOf(layer);
    const className = layer.getClassName();
    let macs = 0;
    if (className === 'Conv2D') {
      const [kh, kw] = config.kernelSize as number[];
      const groups = (config.groups as number | undefined) ?? 1;
      macs = product(out) * kh * kw * (inputChannels(layer) / groups);
    } else if (className === 'DepthwiseConv2D') {
      // Each output channel sees one input channel: k*k MACs per output element.
      const [kh, kw] = config.kernelSize as number[];
      macs = product(out) * kh * kw;
    } else if (className === 'Dense') {
      macs = product(out.slice(0, -1)) * inputChannels(layer) * out[out.length - 1];
    } else if (className === 'Multiply' && opts.elementwise) {
      macs = product(out);
    }
    return { name: layer.name, className, outputShape: out, params: layer.countParams(), macs };
  });
}

export function countMacs(model: LayersModel, opts: MacsOptions = {}): number {
  return countLayerMacs(model, opts).reduce((sum, l) => sum + l.macs, 0);
}

/**
 * Floating-point operations of one training step on one example: forward (2 FLOPs per MAC) plus
 * backward (about twice the forward, for gradients w.r.t. inputs and weights).
 */
export function trainingFlopsPerExample(model: LayersModel): number {
  return 3 * 2 * countMacs(model);
}
