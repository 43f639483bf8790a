/**
 * The search space: an MBConv network whose stages list the candidate kernels, expansion ratios,
 * squeeze-and-excitation and skip choices of their blocks. Each block position is one decision
 * (ProxylessNAS's mixed op); strategies see only how many options each decision has.
 *
 * Plain types, so the engine, the workflows and the report share one model; the pipeline's file
 * format (dsl/search-space.ts) parses to exactly these types and fills their defaults.
 */

export type Kernel = 3 | 5 | 7;

export interface MBConvStage {
  /** Output channels of every block in the stage. */
  channels: number;
  /** Blocks in the stage (the most, when `skip` is on). */
  repeats: number;
  /** Stride of the first block; 2 halves the resolution. */
  stride: 1 | 2;
  kernels: Kernel[];
  expansions: number[];
  se: boolean[];
  /** Blocks after the first may be the zero op, so the search also chooses the depth. */
  skip: boolean;
}

export interface SearchSpace {
  /** Absent: the data set's resolution (see `searchResolution`). */
  inputResolution?: number | undefined;
  /** The fixed first conv. */
  stem: { channels: number; kernel: 1 | 3 | 5 | 7; stride: 1 | 2 };
  /** Input to output. */
  stages: MBConvStage[];
  /** The fixed last conv, pooling and classifier. */
  head: { channels: number; dropout: number };
}

/**
 * The side of the images the search's nets see: the space's `inputResolution`, which the pipeline
 * fills with the data set's `resolution`. The supernet, the trials and the latency table all take
 * it from here; a table priced at one size and a supernet trained at another have no op in common.
 */
export function searchResolution(space: Pick<SearchSpace, 'inputResolution'>, dataset: { resolution: number }): number {
  return space.inputResolution ?? dataset.resolution;
}

export type BlockOption = { kernel: Kernel; expansion: number; se: boolean } | 'zero';

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
