/** The workflow bundle's entry point: every workflow type a worker can run. */
export { pipelineWorkflow, pipelineStatusQuery } from './pipeline';
export { trainStageWorkflow } from './train-stage';
