/**
 * The architecture description the search emits and every builder consumes: a concrete network
 * (channels and repeats already rounded), so a stored arch.json rebuilds the same model forever.
 * The zod schema is the single source of the type, the validation and the published JSON Schema.
 */
import { z } from 'zod';

export const ActivationSchema = z.enum(['swish', 'relu6', 'relu']);
export type Activation = z.infer<typeof ActivationSchema>;

/**
 * One MBConv entry. `repeats` copies of the block run in sequence; only the first uses `stride`
 * and maps to `outChannels`, the rest are stride 1 and keep the width, as in EfficientNet's
 * block arguments. Search emits one entry per position with repeats 1.
 */
export const BlockSpecSchema = z
  .object({
    expansion: z.number().int().min(1).max(16).describe('expansion ratio of the 1x1 conv; 1 omits it'),
    kernel: z.number().int().min(1).max(11).describe('depthwise kernel size (odd)'),
    stride: z.union([z.literal(1), z.literal(2)]),
    outChannels: z.number().int().min(1),
    seRatio: z.number().min(0).max(1).default(0).describe("squeeze-excitation width as a fraction of the block's input channels; 0 omits SE"),
    repeats: z.number().int().min(1).default(1),
  })
  .strict()
  .refine((b) => b.kernel % 2 === 1, { message: 'kernel must be odd so "same" padding is symmetric', path: ['kernel'] });
export type BlockSpec = z.infer<typeof BlockSpecSchema>;

export const ArchSpecSchema = z
  .object({
    name: z.string().min(1).default('custom'),
    resolution: z.number().int().min(8).describe('input height = width'),
    inputChannels: z.number().int().min(1).default(3),
    numClasses: z.number().int().min(2).default(1000),
    activation: ActivationSchema.default('swish'),
    stem: z
      .object({
        channels: z.number().int().min(1),
        kernel: z.number().int().min(1).max(11).default(3),
        stride: z.union([z.literal(1), z.literal(2)]).default(2),
      })
      .strict(),
    blocks: z.array(BlockSpecSchema).min(1),
    headChannels: z.number().int().min(1).nullable().describe('1x1 conv before pooling; null omits it'),
    dropout: z.number().min(0).lt(1).default(0).describe('dropout rate before the classifier'),
    dropConnect: z
      .number()
      .min(0)
      .lt(1)
      .default(0)
      .describe('stochastic-depth rate of the last block; block i of n drops with rate * i / n, as in the official EfficientNet'),
    batchNorm: z
      .object({ momentum: z.number().gt(0).lt(1).default(0.99), epsilon: z.number().gt(0).default(1e-3) })
      .strict()
      .default({ momentum: 0.99, epsilon: 1e-3 }),
  })
  .strict();

/** A validated architecture, every default filled in. */
export type ArchSpec = z.infer<typeof ArchSpecSchema>;
/** What a person or the search may write: defaults may be left out. */
export type ArchSpecInput = z.input<typeof ArchSpecSchema>;

/** The architecture's JSON Schema, from the same object that validates it. */
export function archJsonSchema(): unknown {
  return z.toJSONSchema(ArchSpecSchema, { io: 'input' });
}

/** One block after repeats are unrolled: what the builder actually wires. */
export interface UnrolledBlock {
  /** Entry in `blocks` it came from and its copy number. */
  entry: number;
  copy: number;
  inChannels: number;
  outChannels: number;
  expansion: number;
  kernel: number;
  stride: 1 | 2;
  seRatio: number;
}

export function unrollBlocks(arch: ArchSpec): UnrolledBlock[] {
  const out: UnrolledBlock[] = [];
  let channels = arch.stem.channels;
  arch.blocks.forEach((b, entry) => {
    for (let copy = 0; copy < b.repeats; copy++) {
      out.push({
        entry,
        copy,
        inChannels: channels,
        outChannels: b.outChannels,
        expansion: b.expansion,
        kernel: b.kernel,
        stride: copy === 0 ? b.stride : 1,
        seRatio: b.seRatio,
      });
      channels = b.outChannels;
    }
  });
  return out;
}
