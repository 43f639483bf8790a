/**
 * The files of a run that code other than their writer reads (the report, `nas export` and
 * `nas compare`), one zod schema each. A writer builds its object `satisfies` the inferred type,
 * and a reader parses the stored file with the same schema (artifacts/read-file.ts), so a file
 * that drifted from its reader fails with its key and the first field that is wrong instead of
 * showing up as `undefined` in a report. Keys are core/run-layout.ts's; this file says what is
 * under them.
 *
 * Plain `z.object`s: a field the schema does not know is accepted and dropped from what the reader
 * gets, so a newer writer's file still loads in an older reader, and no reader knows such a field
 * anyway. Loose objects (`z.looseObject`, once `.passthrough()`) would also keep it, but type every
 * file `[key: string]: unknown`: a writer's misspelt field would `satisfies` silently and a reader's
 * misspelt one would read as `unknown` rather than fail to compile. A field that stores written
 * before it existed lack is `.optional()`; stores from the first version of each writer load.
 *
 * What the types describe is the file; a workflow's input that a file copies (the band-trials
 * config, the strategy's config) keeps its own type, so payloads and files can change apart, and
 * the writer's `satisfies` keeps the two compatible.
 */
import { z } from 'zod';
import type { ModelRole } from './refs';

/**
 * A measured or computed number: JSON has no NaN, and `JSON.stringify` writes one (a diverged
 * step's loss, a latency the table lacked) as null. Read back as NaN, what the writer had.
 */
const measured = z.union([z.number(), z.null().transform(() => Number.NaN)], {
  error: (issue) => `expected number, received ${issue.input === undefined ? 'undefined' : Array.isArray(issue.input) ? 'array' : typeof issue.input}`,
});

const MODEL_ROLES = { trained: 'trained', searched: 'searched', scaled: 'scaled', reference: 'reference' } as const satisfies { [R in ModelRole]: R };

// --- search -----------------------------------------------------------------------------------

/** What a brief training (a search or scaling trial) measured of its net. */
export const briefTrainingResultSchema = z.object({
  /** Compact per-entry strings, e.g. `e6_k5_s2_c40_se0.25`, for logs and tables. */
  blocks: z.array(z.string()),
  validationAccuracy: measured,
  params: z.number(),
  macs: z.number(),
  latencyMs: measured.optional(),
  /** This attempt's seconds in all: training, validation, export, latency. */
  trainSeconds: z.number(),
  /** Of those, the seconds in the training loop alone (absent in results stored before it was). */
  fitSeconds: z.number().optional(),
});
export type BriefTrainingResult = z.infer<typeof briefTrainingResultSchema>;

/** `search/trials/trial-NNNNN.json`: one multi-trial or band trial, as its activity stored it. */
export const trialFileSchema = briefTrainingResultSchema
  .extend({
    trial: z.number().int(),
    choices: z.array(z.number().int()),
    archKey: z.string(),
  })
  .describe('a search trial record');
export type TrialFile = z.infer<typeof trialFileSchema>;

const budgetRungSchema = z.object({
  epochs: z.number(),
  trials: z.number().int(),
  /** Training seconds summed over this budget's trials. */
  trainSeconds: z.number(),
});
export type BudgetRung = z.infer<typeof budgetRungSchema>;

/** What a multi-fidelity search spent (workflows/trial-budgets.ts computes it). */
export const budgetUseSchema = z.object({
  /** Smallest budget first. */
  rungs: z.array(budgetRungSchema),
  /** Distinct architectures trained. */
  candidates: z.number().int(),
  /** The largest budget any trial had: what "the full budget" means here. */
  fullEpochs: z.number(),
  /** Training seconds summed over every trial. */
  trainSeconds: z.number(),
  /**
   * Every candidate trained once at the full budget, from its own longest trial: that trial's
   * seconds outside the training loop (validation, export, latency) once, plus its training loop's
   * seconds per epoch times the full budget.
   */
  fullBudgetSeconds: z.number(),
});
export type BudgetUse = z.infer<typeof budgetUseSchema>;

/** A multi-trial search's trial once scored: a row of its summary, and the search's carried state. */
export const searchTrialSchema = trialFileSchema.extend({
  score: measured,
  /** The epochs it was trained for, where its strategy gave it a budget of its own (multi-fidelity). */
  epochs: z.number().optional(),
});
export type SearchTrial = z.infer<typeof searchTrialSchema>;

/** `search/summary.json`, written when a multi-trial search finishes. */
export const multiTrialSearchSummarySchema = z
  .object({
    strategy: z.object({ plugin: z.string(), config: z.unknown() }),
    best: searchTrialSchema,
    /** In trial order. */
    trials: z.array(searchTrialSchema),
    /** Multi-fidelity searches: trials per budget and the training saved. */
    budgets: budgetUseSchema.optional(),
  })
  .describe('a multi-trial search summary');
export type MultiTrialSearchSummary = z.infer<typeof multiTrialSearchSummarySchema>;

/** `search/epochs/epoch-NNNN.json`: one finished supernet epoch; written last, it marks the epoch done. */
export const supernetEpochMetricsSchema = z
  .object({
    epoch: z.number().int(),
    steps: z.number().int(),
    /**
     * Mean training loss over the weight steps the finishing attempt ran (a retry resumes mid-epoch).
     * Absent when it ran none: a retry that found the epoch trained to its end in the last checkpoint.
     */
    meanLoss: measured.optional(),
    /** Mean entropy (nats) of the decisions' path distributions: falls as the search settles. */
    meanEntropy: measured,
    /** E[LAT] of the net under softmax(alpha), in ms: the stem and head every net shares plus the mixed ops' expectation (the mixed ops alone with a table measured before tables held the stem and head). */
    expectedLatencyMs: measured.optional(),
    /** The derived net's latency by the same prices (stem and head included); with a latency target it meets the target wherever a net of the space does. */
    derivedLatencyMs: measured.optional(),
    /** Validation accuracy of the derived architecture (a sample of the split). */
    validationAccuracy: measured,
    blocks: z.array(z.string()),
    choices: z.array(z.number().int()),
    resumedFromStep: z.number().int(),
    checkpointKey: z.string(),
  })
  .describe('a supernet epoch record');
export type SupernetEpochMetrics = z.infer<typeof supernetEpochMetricsSchema>;

/** The derived net's table latency against random nets of the whole space. */
export const randomLatencyBaselineSchema = z.object({
  /** Nets drawn uniformly from the space (one option per decision). */
  draws: z.number().int(),
  medianMs: measured,
  p10Ms: measured,
  p90Ms: measured,
  /** The share of the random nets slower than the reference: 0.9 means it beats 90% of them. */
  referenceFasterThan: measured,
});
export type RandomLatencyBaseline = z.infer<typeof randomLatencyBaselineSchema>;

/** One band trial: a trial record with the table latency its candidate was drawn at. */
export const bandTrialSchema = trialFileSchema.extend({
  /** NaN where the table had no price for a net successive halving promoted. */
  tableMs: measured,
  /** With halving: the epochs this trial trained (a promoted net trains again under a trial number of its own). */
  epochs: z.number().optional(),
});
export type BandTrial = z.infer<typeof bandTrialSchema>;

/** `search/band-trials.json`: the band trials after a one-shot search. */
export const bandTrialsSummarySchema = z
  .object({
    /** The stage's band-trials settings as the workflow ran them (workflows/band-trials.ts BandTrialsConfig). */
    config: z.object({
      trials: z.number().int(),
      epochs: z.number(),
      band: z.number(),
      parallelTrials: z.number().int(),
      halving: z.object({ eta: z.number(), maxEpochs: z.number() }).optional(),
    }),
    draws: z.number().int(),
    referenceMs: measured,
    random: randomLatencyBaselineSchema.optional(),
    /** Trial number of the pick, the search's result. */
    pick: z.number().int(),
    /** In trial order; trial 0 is the derived net. */
    trials: z.array(bandTrialSchema),
    /** With halving: trials per budget and the training saved. */
    budgets: budgetUseSchema.optional(),
  })
  .describe('a band-trials summary');
export type BandTrialsSummary = z.infer<typeof bandTrialsSummarySchema>;

// --- scaling ----------------------------------------------------------------------------------

/** One grid point of the scaling table. */
export const scalingTablePointSchema = z.object({
  alpha: z.number(),
  beta: z.number(),
  gamma: z.number(),
  cost: z.number(),
  resolution: z.number().int(),
  macs: z.number(),
  params: z.number(),
  /** Null when the stage had no hardware target. */
  latencyMs: z.number().nullable(),
  validationAccuracy: measured,
  score: measured,
  eligible: z.boolean(),
  archKey: z.string(),
});
export type ScalingTablePoint = z.infer<typeof scalingTablePointSchema>;

/** `scaling/table.json`: every trained grid point, in grid order, and the one chosen. */
export const scalingTableSchema = z
  .object({
    objective: z.enum(['accuracy', 'accuracy-latency']),
    /** Id of the hardware target the points were measured on, when there was one. */
    target: z.string().optional(),
    /** The grid as the stage ran it (core/scaling-grid.ts GridOptions and the trial budget). */
    grid: z.object({ gridStep: z.number(), maxCoefficient: z.number(), costRatio: z.number(), tolerance: z.number(), trialBudget: z.number() }),
    limits: z.object({ latencyMs: z.number().optional(), macs: z.number().optional() }).optional(),
    /** `alpha_beta_gamma` of the chosen point (core/scaling-grid.ts pointLabel), absent when none was eligible. */
    chosen: z.string().optional(),
    candidates: z.array(scalingTablePointSchema),
  })
  .describe('a scaling table');
export type ScalingTable = z.infer<typeof scalingTableSchema>;

// --- training ---------------------------------------------------------------------------------

/**
 * What a training stage trained, as its metrics file names it: a plain CNN, a reference network,
 * or a stored architecture (activities/elastic-training.ts ElasticModelRef, which is narrower).
 */
export const trainedModelSchema = z.union([
  z.object({
    kind: z.literal('arch'),
    archKey: z.string(),
    label: z.string(),
    /** Where the architecture came from, and for a scaled one its phi; absent in runs started before they were explicit. */
    role: z.enum(['searched', 'scaled']).optional(),
    phi: z.number().optional(),
  }),
  z.object({ kind: z.literal('small-cnn'), filters: z.number().int() }),
  z.object({
    kind: z.union([z.templateLiteral(['efficientnet-', z.string()]), z.literal('mobilenet-v2')], {
      error: (issue) => `expected "arch", "small-cnn", "mobilenet-v2" or "efficientnet-<variant>", received ${JSON.stringify(issue.input) ?? 'undefined'}`,
    }),
  }),
]);
export type TrainedModel = z.infer<typeof trainedModelSchema>;

/**
 * `<stage>/metrics.json` of any training stage (`train`, `elastic/<label>`), written last, once
 * the model is stored. Every field is optional: the first stores lacked the weights key and the
 * input shape, and a reader uses what is there (cli/run-models.ts skips a stage without a model).
 */
export const stageMetricsSchema = z
  .object({
    modelKey: z.string().optional(),
    modelWeightsKey: z.string().optional(),
    /** One example's shape as the model takes it, e.g. [28, 28, 1]. */
    inputShape: z.array(z.number().int()).optional(),
    testAccuracy: measured.optional(),
    testLoss: measured.optional(),
    perClassAccuracy: z.array(measured).optional(),
    classNames: z.array(z.string()).optional(),
    /** Elastic trainings only. */
    model: trainedModelSchema.optional(),
  })
  .describe('a training metrics file');
export type StageMetrics = z.infer<typeof stageMetricsSchema>;

/** One step of an elastic training, as its coordinator applied it. */
export const stepLogEntrySchema = z.object({
  step: z.number().int(),
  epoch: z.number().int(),
  /** Workers whose gradients this step applied. */
  workers: z.array(z.string()),
  /** Workers dropped during this step (timed out, died or left). */
  dropped: z.array(z.string()),
  globalBatch: z.number().int(),
  learningRate: measured,
  loss: measured,
  /** When the step was applied, ms since the epoch. */
  at: z.number(),
});
export type StepLogEntry = z.infer<typeof stepLogEntrySchema>;

/** `elastic/<label>/log/steps-NNNNNNNNN.json`: the steps from one checkpoint to the next. */
export const stepLogSchema = z.array(stepLogEntrySchema).describe('an elastic step log');
export type StepLog = z.infer<typeof stepLogSchema>;

// --- evaluation -------------------------------------------------------------------------------

export const evaluatedModelSchema = z.object({
  /** e.g. 'train', 'elastic-phi-1', 'reference-efficientnet-b0'. */
  id: z.string(),
  /** Elastic training of the search baseline is 'searched', of a phi 'scaled'. */
  role: z.enum(MODEL_ROLES),
  /** Human label, e.g. 'phi 1', 'EfficientNet-B0 (28 px)'. */
  label: z.string(),
  params: z.number(),
  macs: z.number(),
  /** 0..1 */
  testAccuracy: measured,
  /** NaN for a class with no test image. */
  perClassAccuracy: z.array(measured),
  /** By target id. */
  latency: z.record(z.string(), z.object({ medianMs: measured, p90Ms: measured })),
  modelKey: z.string(),
  modelWeightsKey: z.string(),
});
export type EvaluatedModel = z.infer<typeof evaluatedModelSchema>;

/** `evaluation/summary.json`: every evaluated model, in the order the stage lists them. */
export const evaluationSummarySchema = z
  .object({
    runId: z.string(),
    pipelineName: z.string(),
    datasetName: z.string(),
    classNames: z.array(z.string()),
    targets: z.array(z.object({ id: z.string(), plugin: z.string() })),
    models: z.array(evaluatedModelSchema),
  })
  .describe('an evaluation summary');
export type EvaluationSummary = z.infer<typeof evaluationSummarySchema>;

// --- the run ----------------------------------------------------------------------------------

/** One plugin a run uses, as it was when the run started. */
export const pluginProvenanceSchema = z.object({
  kind: z.enum(['search-strategy', 'hardware-target']),
  name: z.string(),
  version: z.string(),
  /** "built-in (hwnas VERSION)" or the module file. */
  source: z.string(),
  /** sha256 of a user module's file. */
  sha256: z.string().optional(),
});
export type PluginProvenance = z.infer<typeof pluginProvenanceSchema>;

/** `plugins.json`, written when the run is claimed (absent in runs from before it was). */
export const pluginsFileSchema = z.array(pluginProvenanceSchema).describe('a plugin list');

export const CALIBRATION_FORMAT = 'hwnas.latency-calibration/1';

const predictionCheckSchema = z.object({
  nets: z.number().int(),
  /** Spearman's rank correlation of predicted and measured; NaN (stored null) when one side is constant. */
  spearman: measured,
  /** Share of nets predicted within +-10% of measured, 0..1. */
  within10: z.number(),
  /** Median of |predicted - measured| / measured. */
  medianError: z.number(),
  /** Mean of (predicted - measured) / measured: > 0 overestimates. */
  meanBias: z.number(),
});

export const latencyCalibrationNetSchema = z.object({
  choices: z.array(z.number().int().min(0)),
  /** What the table knows of the net: its ops' summed medians (ms), how many ops, millions of MACs. */
  features: z.object({ tableMs: z.number(), ops: z.number().int().min(0), mmacs: z.number().min(0) }),
  /** The median of its passes' medians. */
  measuredMs: z.number().positive(),
  p90Ms: z.number().positive(),
  /** Each pass's timing, in the order taken; absent in files written before passes (one pass, measuredMs). */
  passes: z.array(z.object({ medianMs: z.number().positive(), p90Ms: z.number().positive() })).optional(),
  /** The predictor's estimate from a fit without this net (cross-validation); absent in a partial file. */
  heldOutMs: z.number().optional(),
});

/**
 * `latency-tables/<plugin>/<hash>.calibration-<nets>.json`, copied to
 * `runs/<run>/search/latency-calibration.json` for the run that used it: nets of the space timed
 * whole against the table's prediction, the predictor fitted on them and its check numbers.
 */
export const latencyCalibrationSchema = z.object({
  format: z.literal(CALIBRATION_FORMAT),
  target: z.string(),
  /** The pipeline's id of the target, in a run's copy. */
  targetId: z.string().optional(),
  tableKey: z.string(),
  tableHash: z.string().optional(),
  seed: z.number().int(),
  netsWanted: z.number().int().min(1),
  nets: z.array(latencyCalibrationNetSchema),
  /** Absent in a partial file. */
  predictor: z.object({ intercept: z.number(), perTableMs: z.number(), perOp: z.number(), perMmac: z.number() }).optional(),
  check: z.object({ plain: predictionCheckSchema, predictor: predictionCheckSchema }).optional(),
  /** What the search prices with: the predictor where its held-out median error is below the plain sum's and its rank correlation is positive and not lower than the plain sum's by more than 1/sqrt(nets - 1). */
  use: z.enum(['predictor', 'plain']).optional(),
});
export type LatencyCalibration = z.output<typeof latencyCalibrationSchema>;
