/**
 * Typed pipelines in TypeScript: `export default definePipeline({ ... })`. Not generic on purpose,
 * so the editor flags unknown keys (excess property checks) and completes field names.
 */
import type { PipelineInput } from './pipeline';

export function definePipeline(pipeline: PipelineInput): PipelineInput {
  return pipeline;
}
