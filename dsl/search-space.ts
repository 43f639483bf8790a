/**
 * The search space as a pipeline writes it: the zod schema with its bounds and defaults. The model
 * itself (decisions, options, the space's shape) is core/space.ts; this file parses to exactly its
 * types and re-exports it, so a pipeline author imports one module.
 */
import { z } from 'zod';
import type { MBConvStage as CoreMBConvStage, SearchSpace as CoreSearchSpace } from '../core/space';

export { decisionsOf, decodeChoices, log10SpaceSize, searchResolution, spaceShape, type BlockOption, type Decision } from '../core/space';

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
export type MBConvStage = z.output<typeof MBConvStageSchema>;

/** True only when A and B accept the same values. */
type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// A field added to the file format or to the core model alone is a type error here, not a silent drift.
true satisfies SameShape<SearchSpace, CoreSearchSpace>;
true satisfies SameShape<MBConvStage, CoreMBConvStage>;
