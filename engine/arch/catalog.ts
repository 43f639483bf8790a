/**
 * Architectures by name, and arch.json values, for the CLI and the pipeline: the one place that
 * turns what a user typed into a validated ArchSpec. Reading the file a user names (possibly one
 * inside a local artifact folder) is the CLI's part: cli/arch-file.ts.
 */
import { decodeBlock } from './block-string';
import { EFFICIENTNET_VARIANTS, efficientNet, type EfficientNetVariant } from './efficientnet';
import { mobileNetV2 } from './mobilenet-v2';
import { ArchSpecSchema, type ArchSpec } from './spec';

export class ArchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchError';
  }
}

export const ARCH_NAMES = [...Object.keys(EFFICIENTNET_VARIANTS).map((v) => `efficientnet-${v}`), 'mobilenet-v2'];

export function namedArch(name: string): ArchSpec | undefined {
  const m = /^efficientnet-(b[0-7])$/.exec(name);
  if (m) return efficientNet(m[1] as EfficientNetVariant);
  if (name === 'mobilenet-v2') return mobileNetV2();
  return undefined;
}

/**
 * Validates an architecture given as a JSON value. Blocks may be objects or compact strings
 * ("e6_k5_s2_c40_se0.25"); `source` names the file in error messages.
 */
export function parseArch(value: unknown, source = 'architecture'): ArchSpec {
  let input = value;
  if (input && typeof input === 'object' && Array.isArray((input as { blocks?: unknown }).blocks)) {
    const blocks = (input as { blocks: unknown[] }).blocks.map((b, i) => {
      if (typeof b !== 'string') return b;
      try {
        return decodeBlock(b);
      } catch (err) {
        throw new ArchError(`${source}: blocks[${i}]: ${(err as Error).message}`);
      }
    });
    input = { ...(input as object), blocks };
  }
  const parsed = ArchSpecSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new ArchError(`${source} is not a valid architecture:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
