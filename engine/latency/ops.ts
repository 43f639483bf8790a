/**
 * One searchable op as the latency tables know it: its stable key (what a table is indexed by)
 * and its multiply-accumulates (what the `macs` target and a `lut` table's estimates price by).
 * Pure arithmetic on `OpSignature`; no TensorFlow.
 */
import type { OpSignature } from '../../core/ops';
import { SE_RATIO } from '../arch/from-choices';

/** The output side length of a 'same'-padded conv: TensorFlow's ceil(in / stride). */
export function outputSize(inputSize: number, stride: number): number {
  return Math.ceil(inputSize / stride);
}

/**
 * The stable key of an op, e.g. `mbconv_28x28x16_o24_k3_s2_e6_se1`. Every field of the signature
 * is written out (defaults too), so two signatures that build the same op get the same key and
 * a key can be parsed back (`parseOpKey`), which is what lets a table measured elsewhere (a phone)
 * be read without the op objects.
 */
export function opKey(op: OpSignature): string {
  const base = `${op.op}_${op.inputSize}x${op.inputSize}x${op.inChannels}_o${op.outChannels}_k${op.kernel}_s${op.stride}`;
  return op.op === 'mbconv' ? `${base}_e${op.expansion ?? 1}_se${op.se ? 1 : 0}` : base;
}

const KEY_PATTERN = /^(mbconv|conv|pool|dense)_(\d+)x(\d+)x(\d+)_o(\d+)_k(\d+)_s(\d+)(?:_e(\d+)_se([01]))?$/;

/** The signature a key was made from, or undefined for a key this module did not write. */
export function parseOpKey(key: string): OpSignature | undefined {
  const m = KEY_PATTERN.exec(key);
  if (!m || m[2] !== m[3]) return undefined;
  const op = m[1] as OpSignature['op'];
  if ((op === 'mbconv') !== (m[8] !== undefined)) return undefined;
  const sig: OpSignature = { op, inputSize: +m[2], inChannels: +m[4], outChannels: +m[5], kernel: +m[6], stride: +m[7] };
  if (op === 'mbconv') {
    sig.expansion = +m[8];
    sig.se = m[9] === '1';
  }
  return sig;
}

/** The tensor shape of one example entering the op (batch excluded). */
export function opInputShape(op: OpSignature): number[] {
  return op.op === 'dense' ? [op.inChannels] : [op.inputSize, op.inputSize, op.inChannels];
}

/**
 * Multiply-accumulates of one forward pass of the op for one example, by the convention of
 * ./macs.ts (convs, depthwise convs and dense layers; BN, activations, pooling, SE's gate
 * and the residual add count 0). A test checks it against `countMacs` of the built op.
 */
export function opMacs(op: OpSignature): number {
  const r = op.inputSize;
  const ro = outputSize(r, op.stride);
  switch (op.op) {
    case 'mbconv': {
      const e = op.expansion ?? 1;
      const mid = op.inChannels * e;
      const expand = e === 1 ? 0 : r * r * op.inChannels * mid;
      const depthwise = ro * ro * mid * op.kernel * op.kernel;
      // SE's two 1x1 convs act on the pooled 1x1 map; the reduction follows the block's input channels.
      const reduced = Math.max(1, Math.trunc(op.inChannels * SE_RATIO));
      const se = op.se ? 2 * mid * reduced : 0;
      const project = ro * ro * mid * op.outChannels;
      return expand + depthwise + se + project;
    }
    case 'conv':
      return ro * ro * op.outChannels * op.kernel * op.kernel * op.inChannels;
    case 'pool':
      return 0;
    case 'dense':
      return op.inChannels * op.outChannels;
  }
}
