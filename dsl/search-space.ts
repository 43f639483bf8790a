/**
 * The search space: an MBConv network whose stages list the candidate kernels, expansion ratios,
 * squeeze-and-excitation and skip choices of their blocks. Each block position is one decision
 * (ProxylessNAS's mixed op); strategies see only how many options each decision has.
 */
import { z } from 'zod';

const channels = z.number().int().min(1).max(4096);

const uniqueList = <T extends z.ZodType>(item: T) =>
  z.array(item).min(1).refine((xs) => new Set(xs).size === xs.length, 'list each candidate once');

export const MBConvStageSchema = z
  .object({
    channels: channels.describe('Output channels of every block in the stage.'),
    repeats: z.number().int().min(1).max(16).describe('Blocks in the stage (the most, when `skip` is on).'),
    stride: z.literal([1, 2]).default(1).describe('Stride of the first block; 2 halves the resolution.'),
    kernels: uniqueList(z.literal([3, 5, 7])).default([3, 5, 7]).describe('Candidate depthwise kernel sizes.'),
    expansions: uniqueList(z.number().int().min(1).max(8)).default([3, 6]).describe('Candidate expansion ratios of the 1x1 expansion conv (1 omits it).'),
    se: uniqueList(z.boolean()).default([true]).describe('Candidate squeeze-and-excitation choices: [true], [false] or both.'),
    skip: z.boolean().default(false).describe('Blocks after the first may be the zero op, so the search also chooses the depth.'),
  })
  .strict();

/** EfficientNet-B0's seven stages, widened into a search space: the paper's kernels stay candidates. */
const B0_STAGES: z.input<typeof MBConvStageSchema>[] = [
  { channels: 16, repeats: 1, stride: 1, kernels: [3], expansions: [1] },
  { channels: 24, repeats: 2, stride: 2, skip: true },
  { channels: 40, repeats: 2, stride: 2, skip: true },
  { channels: 80, repeats: 3, stride: 2, skip: true },
  { channels: 112, repeats: 3, stride: 1, skip: true },
  { channels: 192, repeats: 4, stride: 2, skip: true },
  { channels: 320, repeats: 1, stride: 1 },
];

export const SearchSpaceSchema = z
  .object({
    inputResolution: z
      .number()
      .int()
      .min(8)
      .max(1024)
      .optional()
      .describe('Input size of the searched network; default: dataset.resolution.'),
    stem: z
      .object({
        channels: channels.default(32).describe('Output channels of the stem conv.'),
        kernel: z.literal([1, 3, 5, 7]).default(3),
        stride: z.literal([1, 2]).default(2).describe('Use 1 for small images (28-32 px) to keep resolution for the stages.'),
      })
      .strict()
      .prefault({})
      .describe('The fixed first conv.'),
    stages: z.array(MBConvStageSchema).min(1).max(16).default(B0_STAGES.map((s) => MBConvStageSchema.parse(s))).describe('MBConv stages, input to output.'),
    head: z
      .object({
        channels: channels.default(1280).describe('Channels of the 1x1 conv before pooling.'),
        dropout: z.number().min(0).max(0.9).default(0.2).describe('Dropout before the classifier.'),
      })
      .strict()
      .prefault({})
      .describe('The fixed last conv, pooling and classifier.'),
  })
  .strict()
  .describe('What the baseline search may choose; defaults to an EfficientNet-B0-shaped space.');

export type SearchSpace = z.output<typeof SearchSpaceSchema>;

/**
 * The side of the images the search's nets see: the space's `inputResolution`, which the pipeline
 * fills with the data set's `resolution`. The supernet, the trials and the latency table all take
 * it from here; a table priced at one size and a supernet trained at another have no op in common.
 */
export function searchResolution(space: Pick<SearchSpace, 'inputResolution'>, dataset: { resolution: number }): number {
  return space.inputResolution ?? dataset.resolution;
}
export type MBConvStage = z.output<typeof MBConvStageSchema>;

export type BlockOption = { kernel: 3 | 5 | 7; expansion: number; se: boolean } | 'zero';

export interface Decision {
  /** `s2b1` is stage 2, block 1 (both from 1). */
  id: string;
  stage: number;
  block: number;
  options: BlockOption[];
}

/** One decision per block position; the first block of a stage cannot be skipped (it may stride). */
export function decisionsOf(space: Pick<SearchSpace, 'stages'>): Decision[] {
  return space.stages.flatMap((stage, s) =>
    Array.from({ length: stage.repeats }, (_, b) => {
      const options: BlockOption[] = stage.kernels.flatMap((kernel) =>
        stage.expansions.flatMap((expansion) => stage.se.map((se) => ({ kernel, expansion, se }))),
      );
      if (stage.skip && b > 0) options.push('zero');
      return { id: `s${s + 1}b${b + 1}`, stage: s, block: b, options };
    }),
  );
}

/** What strategies see: the option count of each decision. */
export function spaceShape(space: Pick<SearchSpace, 'stages'>): { options: number[] } {
  return { options: decisionsOf(space).map((d) => d.options.length) };
}

/** log10 of the number of architectures, since the count itself overflows quickly. */
export function log10SpaceSize(space: Pick<SearchSpace, 'stages'>): number {
  return decisionsOf(space).reduce((sum, d) => sum + Math.log10(d.options.length), 0);
}

/** The chosen option of every decision; throws on choices that do not fit the space. */
export function decodeChoices(space: Pick<SearchSpace, 'stages'>, choices: readonly number[]): { decision: Decision; option: BlockOption }[] {
  const decisions = decisionsOf(space);
  if (choices.length !== decisions.length) throw new Error(`expected ${decisions.length} choices, got ${choices.length}`);
  return decisions.map((decision, i) => {
    const option = decision.options[choices[i]];
    if (option === undefined) throw new Error(`${decision.id}: choice ${choices[i]} out of range 0..${decision.options.length - 1}`);
    return { decision, option };
  });
}
