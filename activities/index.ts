/** Every activity a worker registers. Workflows import only the *type* of this module. */
export { trainClassifier } from './train-classifier';
export { measureLatency } from './measure-latency';
export { trainTrial } from './train-trial';
export { drawBandCandidates } from './band-candidates';
export { writeJson } from './write-json';
export { buildLatencyTable } from './latency-table';
export { calibrateLatencyModel } from './latency-model';
export { supernetEpoch } from './supernet-epoch';
export { scalingTrial, scaledArchitectures } from './scaling-trial';
export { elasticCoordinator, elasticParticipant } from './elastic-training';
export { evaluateModel, summarizeEvaluation } from './evaluate-model';
