/**
 * The stage settings that Temporal payloads carry from the pipeline workflow down to activities.
 * They belong to the workflows, not to the pipeline file format (dsl/), so that the file and the
 * payloads can change independently: workflows/plan.ts maps the one onto the other, field by
 * field, and fails to compile where they part. Fields are listed in the order runs recorded them.
 */

/** Which data a run trains and evaluates on, as its pipeline declared it. */
export type DatasetRef =
  | { name: 'fashion-mnist'; path?: string; resolution: number; validationFraction: number }
  | { name: 'image-folder' | 'cifar10'; path: string; resolution: number; validationFraction: number };

/** The data one stage trains on: a seeded sample of `trainSubset` training images where set (the test split is never cut). */
export type StageDataRef = DatasetRef & { trainSubset?: number };

/** How the fixed-model training stage trains (`trainClassifier`). */
export interface TrainSettings {
  model: { kind: 'small-cnn'; filters: number };
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'adam' | 'momentum';
  momentum: number;
  checkpointEverySteps: number;
  heartbeatTimeoutSeconds: number;
}

/** How elastic training trains each model (the workflow, `elasticCoordinator`, `elasticParticipant`). */
export interface ElasticSettings {
  policy: 'fixed-global-batch' | 'immediate-linear' | 'dynamic-sgd';
  windowIterations: number;
  perWorkerBatch: number;
  workers: { min: number; max: number };
  epochs: number;
  schedule: 'constant' | 'cosine';
  /** Kept because runs recorded it; nothing reads it here: the stage's data set is what is cut to it. */
  trainSubset?: number;
  learningRate: number;
  momentum: number;
  weightDecay: number;
  labelSmoothing: number;
  augment?: { padding: number; flip: boolean };
  /** Kept because runs recorded it; nothing reads it here: the model trained travels as the input's `model`. */
  model: { kind: 'small-cnn' | 'efficientnet-b0' | 'mobilenet-v2'; filters: number };
  stepTimeoutSeconds: number;
  checkpointEverySteps: number;
  heartbeatTimeoutSeconds: number;
}

/**
 * Nets a one-shot search on a timed target times whole to check and calibrate its latency table
 * (activities/latency-model.ts). nn-Meter checks on hundreds; 40 keeps a CPU calibration near a
 * minute and every check above 30 nets.
 */
export const DEFAULT_CALIBRATION_NETS = 40;

/**
 * Passes over the calibration nets, each net's latency the median of its passes
 * (engine/latency/calibration.ts says why passes). Three keeps a CPU calibration near two minutes.
 */
export const DEFAULT_CALIBRATION_PASSES = 3;
