/** The workflow bundle's entry point: every workflow type a worker can run. */
export { pipelineWorkflow, pipelineStatusQuery } from './pipeline';
export { trainStageWorkflow } from './train-stage';
export { multiTrialSearchWorkflow, searchProgressQuery } from './multi-trial-search';
export { oneShotSearchWorkflow, oneShotProgressQuery } from './one-shot-search';
export { compoundScalingWorkflow, scalingProgressQuery } from './compound-scaling';
export { elasticTrainingWorkflow } from './elastic-training';
export { evaluationWorkflow, evaluationProgressQuery } from './evaluation';
