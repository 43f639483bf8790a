/** The pipeline DSL: schema and types, loading and validation, and `definePipeline` for TypeScript pipelines. */
export * from './pipeline';
export { definePipeline, type PipelineSource } from './define';
export {
  loadPipelineFile,
  resolvePipelineFile,
  parsePipelineText,
  validateDocument,
  PipelineValidationError,
  formatProblem,
  type PipelineProblem,
  type LoadedPipeline,
} from './load';
export { MAX_PIPELINE_BYTES } from './read-source';
