/**
 * Multiply-accumulates of one forward pass, counted analytically from each layer's configuration
 * and its output shape. Only layers that multiply weights count (conv, depthwise conv, dense);
 * BatchNorm, activations and pooling are the conventional omissions in the papers' MAC figures.
 */
import type { LayersModel } from '@tensorflow/tfjs-node';

export interface LayerMacs {
  name: string;
  className: string;
  outputShape: number[];
  params: number;
  macs: number;
}

function shapeOf(layer: { outputShape: unknown }): number[] {
  const shape = layer.outputShape as (number | null)[] | (number | null)[][];
  const single = Array.isArray(shape[0]) ? (shape[0] as (number | null)[]) : (shape as (number | null)[]);
  return single.slice(1).map((d) => d ?? 1);
}

export function countLayerMacs(model: LayersModel): LayerMacs[] {
  return model.layers.map((layer) => {
    const config = layer.getConfig() as Record<string, unknown>;
    const out = shapeOf(layer);
    const className = layer.getClassName();
    let macs = 0;
    if (className === 'Conv2D') {
      const [kh, kw] = config.kernelSize as number[];
      const inputShape = (layer.input as { shape: (number | null)[] }).shape;
      const cin = inputShape[3] as number;
      const groups = (config.groups as number | undefined) ?? 1;
      macs = out[0] * out[1] * out[2] * kh * kw * (cin / groups);
    } else if (className === 'DepthwiseConv2D') {
      const [kh, kw] = config.kernelSize as number[];
      macs = out[0] * out[1] * out[2] * kh * kw;
    } else if (className === 'Dense') {
      const inputShape = (layer.input as { shape: (number | null)[] }).shape;
      const positions = out.slice(0, -1).reduce((a, b) => a * b, 1);
      macs = positions * (inputShape[inputShape.length - 1] as number) * out[out.length - 1];
    }
    return { name: layer.name, className, outputShape: out, params: layer.countParams(), macs };
  });
}

export function countMacs(model: LayersModel): number {
  return countLayerMacs(model).reduce((sum, l) => sum + l.macs, 0);
}

/**
 * Floating-point operations of one training step on one example: forward (2 FLOPs per MAC) plus
 * backward (about twice the forward, for gradients w.r.t. inputs and weights).
 */
export function trainingFlopsPerExample(model: LayersModel): number {
  return 3 * 2 * countMacs(model);
}
