/**
 * Which ops a search space needs measured (ProxylessNAS section 3.3): every candidate op of every
 * decision at the input shape it sees in the network, plus the ops every architecture shares.
 * Measuring ops instead of whole networks is what keeps a table small: a space with 10^15
 * architectures has under a hundred distinct ops.
 */
import type { OpSignature } from '../../core/ops';
import { decisionsOf, type SearchSpace } from '../../core/space';
import { opKey, outputSize } from './ops';

export interface SpaceDims {
  /** Side length of the network's input images; default: the space's own `inputResolution`. */
  inputResolution?: number;
  /** Channels of the input images and classes of the classifier. With both, the fixed ops (stem, head, pool, classifier) are enumerated too. */
  inputChannels?: number;
  numClasses?: number;
}

export interface DecisionOps {
  /** The decision's id, `s2b1` = stage 2, block 1. */
  id: string;
  /** One op per option of the decision, in its order; null for the zero op (skip, costs 0). */
  options: (OpSignature | null)[];
}

export interface SpaceOps {
  inputResolution: number;
  /** In the order of `decisionsOf(space)`, one entry per decision. */
  decisions: DecisionOps[];
  /** Ops every architecture has (stem conv, head conv, global pool, classifier): a constant the search cannot change, but part of any total latency. Empty without `inputChannels` and `numClasses`. */
  fixed: OpSignature[];
}

type SpaceParts = Pick<SearchSpace, 'stages' | 'stem' | 'head'> & { inputResolution?: number };

/**
 * Every candidate op of every decision at its input shape. The shapes do not depend on which
 * options other decisions take: only a stage's first block strides or changes the channel count,
 * and it cannot be the zero op, so a skipped block leaves the next block's input unchanged.
 */
export function enumerateSpaceOps(space: SpaceParts, dims: SpaceDims = {}): SpaceOps {
  const inputResolution = dims.inputResolution ?? space.inputResolution;
  if (inputResolution === undefined) throw new Error('enumerateSpaceOps: give inputResolution (the search space does not set one)');
  let size = outputSize(inputResolution, space.stem.stride);
  let channels = space.stem.channels;
  const decisions: DecisionOps[] = [];
  for (const d of decisionsOf(space)) {
    const stage = space.stages[d.stage];
    const stride = d.block === 0 ? stage.stride : 1;
    const inChannels = d.block === 0 ? channels : stage.channels;
    decisions.push({
      id: d.id,
      options: d.options.map((o) =>
        o === 'zero'
          ? null
          : { op: 'mbconv', inputSize: size, inChannels, outChannels: stage.channels, kernel: o.kernel, stride, expansion: o.expansion, se: o.se },
      ),
    });
    size = outputSize(size, stride);
    channels = stage.channels;
  }
  const fixed: OpSignature[] = [];
  if (dims.inputChannels !== undefined && dims.numClasses !== undefined) {
    const stem = space.stem;
    fixed.push({ op: 'conv', inputSize: inputResolution, inChannels: dims.inputChannels, outChannels: stem.channels, kernel: stem.kernel, stride: stem.stride });
    fixed.push({ op: 'conv', inputSize: size, inChannels: channels, outChannels: space.head.channels, kernel: 1, stride: 1 });
    fixed.push({ op: 'pool', inputSize: size, inChannels: space.head.channels, outChannels: space.head.channels, kernel: size, stride: 1 });
    fixed.push({ op: 'dense', inputSize: 1, inChannels: space.head.channels, outChannels: dims.numClasses, kernel: 1, stride: 1 });
  }
  return { inputResolution, decisions, fixed };
}

/** The distinct ops to measure, each once, in network order (decisions first, then fixed ops). */
export function distinctOps(ops: SpaceOps): OpSignature[] {
  const seen = new Map<string, OpSignature>();
  for (const d of ops.decisions) for (const o of d.options) if (o && !seen.has(opKey(o))) seen.set(opKey(o), o);
  for (const o of ops.fixed) if (!seen.has(opKey(o))) seen.set(opKey(o), o);
  return [...seen.values()];
}
