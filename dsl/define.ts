/**
 * Typed pipelines in TypeScript: `export default definePipeline({ ... })`. Not generic on purpose,
 * so the editor flags unknown keys (excess property checks) and completes field names.
 */
import type { PipelineInput } from './pipeline';

/**
 * The schema's input type with number literals widened to `number`: idiomatic code such as
 * `const kernels = [3, 5]` is `number[]`, which the literal union `(3 | 5 | 7)[]` would refuse
 * although the pipeline is valid. Which numbers are allowed is the schema's to say, and `nas
 * validate` / `nas run` say it, pointing at the line. Keys and string values stay exact, so typos
 * in field names and plugin kinds are still type errors.
 */
export type PipelineSource = WidenNumbers<PipelineInput>;

type WidenNumbers<T> = T extends number
  ? number
  : T extends readonly (infer U)[]
    ? readonly WidenNumbers<U>[]
    : T extends (...args: never[]) => unknown
      ? T
      : T extends object
        ? { [K in keyof T]: WidenNumbers<T[K]> }
        : T;

export function definePipeline(pipeline: PipelineSource): PipelineSource {
  return pipeline;
}
