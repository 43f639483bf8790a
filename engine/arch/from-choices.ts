/**
 * A point of the search space as a concrete architecture: one choice per decision (mixed op)
 * becomes one block, the zero op becomes no block. Multi-trial trials and the one-shot derivation
 * both go through here, so a choice vector always means the same network.
 */
import { decisionsOf, decodeChoices, type SearchSpace } from '../../core/space';
import { ArchSpecSchema, type Activation, type ArchSpec, type BlockSpec } from './spec';

/** SE reduces to a quarter of the block's input channels, as in EfficientNet and the brief. */
export const SE_RATIO = 0.25;

export interface ArchDims {
  resolution: number;
  inputChannels: number;
  numClasses: number;
  name?: string;
  activation?: Activation;
}

export function archFromChoices(space: SearchSpace, choices: readonly number[], dims: ArchDims): ArchSpec {
  const blocks: BlockSpec[] = [];
  for (const { decision, option } of decodeChoices(space, choices)) {
    if (option === 'zero') continue;
    const stage = space.stages[decision.stage];
    blocks.push({
      expansion: option.expansion,
      kernel: option.kernel,
      stride: decision.block === 0 ? stage.stride : 1,
      outChannels: stage.channels,
      seRatio: option.se ? SE_RATIO : 0,
      repeats: 1,
    });
  }
  return ArchSpecSchema.parse({
    name: dims.name ?? 'searched',
    resolution: dims.resolution,
    inputChannels: dims.inputChannels,
    numClasses: dims.numClasses,
    activation: dims.activation ?? 'swish',
    stem: { channels: space.stem.channels, kernel: space.stem.kernel, stride: space.stem.stride },
    blocks,
    headChannels: space.head.channels,
    dropout: space.head.dropout,
  });
}

/**
 * The way back: a choice vector that builds `blocks`, each stage's blocks in its first positions
 * and zero ops after them; undefined when the space cannot build that list. Choice vectors with a
 * zero op earlier in a stage build the same network alone but not the same supernet path, so a
 * supernet scoring a net known only by its blocks scores this placement.
 */
export function choicesFromBlocks(space: SearchSpace, blocks: readonly BlockSpec[]): number[] | undefined {
  const choices: number[] = [];
  let next = 0;
  for (const decision of decisionsOf(space)) {
    const stage = space.stages[decision.stage];
    const b = blocks[next];
    const inStage = b !== undefined && b.outChannels === stage.channels;
    const j = inStage
      ? decision.options.findIndex(
          (o) => o !== 'zero' && o.kernel === b.kernel && o.expansion === b.expansion && (o.se ? SE_RATIO : 0) === b.seRatio && b.stride === (decision.block === 0 ? stage.stride : 1) && b.repeats === 1,
        )
      : decision.options.indexOf('zero');
    if (j < 0) return undefined;
    if (inStage) next++;
    choices.push(j);
  }
  return next === blocks.length ? choices : undefined;
}
