/**
 * The stages a pipeline may chain: baseline search (ProxylessNAS), compound scaling
 * (EfficientNet), elastic training (Dynamic mini-batch SGD), evaluation; plus `train`, one fixed
 * model trained once, the smallest useful pipeline.
 */
import { z } from 'zod';
import { nameString } from './strings';
import { DEFAULT_CALIBRATION_NETS } from '../core/stage-settings';

const positiveInt = z.number().int().positive();

/** Hardware target ids are keys of `hardwareTargets`; stages refer to targets by them. */
export const TARGET_ID_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
const targetId = z.string().regex(TARGET_ID_PATTERN, 'use lowercase letters, digits and dashes');

/**
 * A plugin and its config. The config is checked by the plugin's own schema after the plugins are
 * loaded (see dsl/plugin-configs.ts), so here it is any object.
 */
const pluginRef = (what: string) =>
  z
    .object({
      plugin: nameString().describe(`Name of the ${what} plugin (built-in or listed under \`plugins:\`).`),
      config: z.record(z.string(), z.unknown()).default({}).describe(`The ${what}'s own options; see \`nas plugin list\`.`),
    })
    .strict();

export const StrategyRefSchema = pluginRef('search strategy');
export const TargetRefSchema = pluginRef('hardware target');

const checkpointEverySteps = positiveInt.default(100).describe('Steps between checkpoints: the most work a crash can lose.');
const trainSubset = positiveInt
  .optional()
  .describe('Train on a seeded sample of this many training images (the validation split is carved from it); default: all. Keeps a stage short.');
const heartbeatTimeoutSeconds = positiveInt
  .max(3600)
  .default(30)
  .describe('How long a silent worker is trusted before its activity is retried elsewhere.');
/** The same setting for stages whose activities have long stretches between heartbeats. */
const slowHeartbeatTimeoutSeconds = (seconds: number, why: string) =>
  positiveInt
    .max(3600)
    .default(seconds)
    .describe(`How long a silent worker is trusted before its activity is retried elsewhere (default ${seconds}: ${why}).`);

export const TrainStageSchema = z
  .object({
    model: z
      .object({
        kind: z.enum(['small-cnn']).default('small-cnn'),
        filters: positiveInt.max(512).default(16).describe('Filters of the first conv layer.'),
      })
      .strict()
      .prefault({}),
    epochs: positiveInt.max(1000).default(1),
    batchSize: positiveInt.max(8192).default(128),
    learningRate: z.number().positive().max(10).default(0.002),
    optimizer: z.enum(['adam', 'momentum']).default('adam'),
    momentum: z.number().min(0).max(1).default(0.9),
    checkpointEverySteps,
    heartbeatTimeoutSeconds,
  })
  .strict()
  .describe('Train one fixed model: no search.');

export const BaselineSearchSchema = z
  .object({
    strategy: StrategyRefSchema.prefault({ plugin: 'proxyless-gradient' }).describe('How the search picks architectures.'),
    epochs: positiveInt.max(1000).default(30).describe('Training epochs of the supernet (one-shot) or of each trial (multi-trial).'),
    trainSubset,
    warmupEpochs: z.number().int().min(0).max(1000).default(5).describe('Weight-only epochs before architecture updates start (one-shot).'),
    latencyWeight: z.number().min(0).max(100).default(0.1).describe('lambda: weight of expected latency in the loss; 0 ignores hardware.'),
    target: targetId
      .optional()
      .describe('Hardware target (a key of hardwareTargets) whose latency the search optimises; default: the only one declared, else none (latency ignored).'),
    targetLatencyMs: z.number().positive().optional().describe('Latency the search aims at: the latency term is lambda * LAT / targetLatencyMs (default 1 ms, i.e. lambda per millisecond). LAT is the latency of the whole network on the target: in a one-shot search the expected latency by the per-op table (stem, head and classifier plus the searched blocks), in a multi-trial search each trained net as timed.'),
    calibrationNets: z
      .union([z.literal(0), z.number().int().min(10).max(1000)])
      .default(DEFAULT_CALIBRATION_NETS)
      .describe(
        'One-shot search on a timed target (node-cpu, wasm, browser-*): nets drawn from the space are timed whole (three passes over all of them, each net the median of its passes), and the per-op table is checked against them (Spearman, share within +-10%, median error) and calibrated: a per-target overhead plus per-op terms, fitted on those nets. The search and its latency bands price by the calibrated predictor where its held-out error beats the plain sum and it ranks nets no worse. Shared across runs like the table; 0 prices by the plain table sum.',
      ),
    latencyPenalty: z
      .enum(['linear', 'absolute'])
      .default('linear')
      .describe(
        'linear: lambda * LAT / targetLatencyMs, every millisecond costs the same (ProxylessNAS). absolute: lambda * |LAT / targetLatencyMs - 1|, being faster than the target costs as much as being slower (TuNAS), so the search spends the budget instead of giving up depth; needs targetLatencyMs.',
      ),
    batchSize: positiveInt.max(8192).default(64),
    learningRate: z.number().positive().max(10).default(0.05).describe('Learning rate of the network weights.'),
    parallelTrials: positiveInt
      .max(256)
      .default(4)
      .describe('Multi-trial strategies and band trials: trials dispatched at once; the worker pool decides how many really run together.'),
    bandTrials: z
      .object({
        trials: positiveInt.max(1000).default(23).describe('Nets drawn from the band besides the derived one.'),
        epochs: positiveInt.max(100).default(1).describe('Epochs each candidate trains alone.'),
        band: z.number().gt(0).lt(1).default(0.1).describe('How much faster than the derived net a candidate may be, as a fraction of its table latency.'),
        halving: z
          .object({
            eta: positiveInt.min(2).max(16).default(3).describe('Each rung keeps the best 1/eta of the one before and trains it eta times as long.'),
            maxEpochs: positiveInt.max(1000).describe('The longest training a finalist gets; no rung goes past it.'),
          })
          .strict()
          .optional()
          .describe(
            'Successive halving over the band trials (the successive-halving strategy, with the band nets as its first rung): the best 1/eta train again from scratch for eta times `epochs`, and so on up to `maxEpochs`; the pick is the best of the last rung, never a score from a shorter training.',
          ),
      })
      .strict()
      .refine((b) => !b.halving || b.halving.maxEpochs > b.epochs, { path: ['halving', 'maxEpochs'], message: 'must be more than bandTrials.epochs, or halving trains nothing longer' })
      .optional()
      .describe(
        'One-shot searches with a latency table: a multi-trial search inside the latency band the supernet chose. The derived net and `trials` nets drawn uniformly from the space with table latency between (1 - band) times its own and its own each train alone for `epochs` on the training split; the best validation accuracy becomes the search result (ties go to the derived net). Worth it where the supernet cannot rank nets of similar latency; benchmarks/README.md has the measurements.',
      ),
    checkpointEverySteps,
    heartbeatTimeoutSeconds,
  })
  .strict()
  .describe('Search a mobile-size baseline network (ProxylessNAS or a multi-trial strategy).');

export const REFERENCE_MODELS = [
  'small-cnn',
  'efficientnet-b0',
  'efficientnet-b1',
  'efficientnet-b2',
  'efficientnet-b3',
  'efficientnet-b4',
  'efficientnet-b5',
  'efficientnet-b6',
  'efficientnet-b7',
] as const;
export type ReferenceModel = (typeof REFERENCE_MODELS)[number];

export const CompoundScalingSchema = z
  .object({
    baseline: z
      .enum(['search', 'efficientnet-b0'])
      .default('search')
      .describe('What to scale: the baseline search result, or EfficientNet-B0 to reproduce the paper.'),
    gridStep: z.number().gt(0).max(1).default(0.05).describe('Step of the alpha, beta, gamma grid searched at phi = 1.'),
    maxCoefficient: z.number().gt(1).max(4).default(2).describe('Largest alpha, beta or gamma in the grid.'),
    costRatio: z.number().gt(1).max(8).default(2).describe('Target of alpha * beta^2 * gamma^2: cost grows about costRatio^phi.'),
    tolerance: z.number().gt(0).max(1).default(0.1).describe('Relative distance from costRatio a grid point may have.'),
    trialBudget: positiveInt.max(1000).default(16).describe('Most grid points trained; the rest are never started.'),
    epochs: positiveInt.max(1000).default(5).describe('Training epochs of each grid point.'),
    trainSubset,
    checkpointEverySteps: positiveInt.default(100).describe("Steps between a trial's checkpoints: the most of a trial a crash can lose."),
    phis: z
      .array(z.number().int().min(1).max(8))
      .min(1)
      .refine((xs) => new Set(xs).size === xs.length, 'list each phi once')
      .default([1, 2])
      .describe('Compound coefficients of the scaled models to produce (B1, B2, ... analogues).'),
    objective: z
      .enum(['accuracy', 'accuracy-latency'])
      .default('accuracy')
      .describe('What the grid search maximises: validation accuracy, or accuracy traded against latency on `target`.'),
    target: targetId.optional().describe('Hardware target for the accuracy-latency objective and the latency limit.'),
    latencyWeight: z
      .number()
      .min(0)
      .max(10)
      .optional()
      .describe('accuracy-latency: w in accuracy x (latency / median latency)^-w (MnasNet soft constraint); default 0.07.'),
    limits: z
      .object({
        latencyMs: z.number().positive().optional().describe('Grid points slower than this on `target` are never chosen.'),
        macs: positiveInt.optional().describe('Grid points with more multiply-accumulates than this are never chosen.'),
      })
      .strict()
      .optional()
      .describe('Hard limits on the chosen grid point; points over them stay in the table.'),
    heartbeatTimeoutSeconds: slowHeartbeatTimeoutSeconds(120, "a trial's final validation pass and latency measurement send none"),
  })
  .strict()
  .describe('Grid-search alpha, beta, gamma at phi = 1, then scale by each phi (EfficientNet).');

/** Models the elastic stage can train on its own, adapted to the data set's size. */
export const ELASTIC_MODELS = ['small-cnn', 'efficientnet-b0', 'mobilenet-v2'] as const;

export const ElasticTrainingSchema = z
  .object({
    policy: z
      .enum(['fixed-global-batch', 'immediate-linear', 'dynamic-sgd'])
      .default('dynamic-sgd')
      .describe(
        'On a change of workers: keep the global batch and re-split it; scale the learning rate with the global batch at once; or move it there smoothly over `windowIterations` (Dynamic SGD).',
      ),
    windowIterations: positiveInt.max(100_000).default(100).describe('Iterations over which dynamic-sgd moves the learning rate to its new target.'),
    perWorkerBatch: positiveInt.max(8192).default(64).describe('Batch per worker; the global batch is workers x perWorkerBatch (except fixed-global-batch).'),
    workers: z
      .object({
        min: positiveInt.max(1024).default(1).describe('Training waits while fewer workers are present.'),
        max: positiveInt.max(1024).default(4).describe('Workers beyond this many are left idle.'),
      })
      .strict()
      .prefault({})
      .refine((w) => w.min <= w.max, { path: ['min'], message: 'must not exceed workers.max' }),
    epochs: positiveInt.max(1000).default(10),
    schedule: z
      .enum(['constant', 'cosine'])
      .default('cosine')
      .describe('The learning rate over the run, on top of the policy: constant, or decayed to zero along a cosine over all epochs.'),
    trainSubset,
    learningRate: z.number().positive().max(10).default(0.05).describe('Learning rate at one worker; scaled linearly with the global batch.'),
    momentum: z.number().min(0).max(1).default(0.9),
    weightDecay: z.number().min(0).max(1).default(0).describe('L2 penalty on conv and dense kernels.'),
    labelSmoothing: z.number().min(0).max(0.5).default(0).describe('Label smoothing of the cross-entropy target (EfficientNet: 0.1).'),
    augment: z
      .object({
        padding: z.number().int().min(0).max(16).default(2).describe('Random crop from the image zero-padded by this many pixels; 0: no crop.'),
        flip: z.boolean().default(true).describe('Random horizontal flip (keeps Fashion-MNIST and CIFAR-10 classes).'),
      })
      .strict()
      .optional()
      .describe('Augmentation of training images, drawn per step and slice, so a replacement worker draws the same; absent: none.'),
    model: z
      .object({
        kind: z.enum(ELASTIC_MODELS).default('small-cnn'),
        filters: positiveInt.max(512).default(16).describe('small-cnn: filters of the first conv layer.'),
      })
      .strict()
      .prefault({})
      .describe('What to train when no earlier stage produced a model (no search or scaling stage).'),
    stepTimeoutSeconds: positiveInt
      .max(3600)
      .default(30)
      .describe('A worker silent this long during a step is dropped and its samples handed to the others.'),
    checkpointEverySteps,
    heartbeatTimeoutSeconds,
  })
  .strict()
  .describe('Train the scaled models (or the searched baseline when nothing is scaled) on a changing set of workers (Dynamic mini-batch SGD).');

export const EvaluationSchema = z
  .object({
    targets: z.array(targetId).default([]).describe('Hardware targets to measure on (keys of hardwareTargets); empty: all of them.'),
    repeats: positiveInt.max(10_000).default(30).describe('Timed inferences per model and target; the median is reported.'),
    warmupRuns: z.number().int().min(0).max(1000).default(5),
    batchSize: positiveInt.max(8192).default(256).describe('Batch for measuring accuracy on the test split.'),
    referenceModels: z
      .array(z.enum(REFERENCE_MODELS))
      .default([])
      .describe('Known models evaluated alongside, for comparison in the report.'),
    heartbeatTimeoutSeconds: slowHeartbeatTimeoutSeconds(600, 'one test batch of a large model on a busy CPU can take minutes'),
    checkpointEverySeconds: positiveInt
      .max(86_400)
      .default(60)
      .describe("Seconds between checkpoints of a model's test-accuracy pass (hours for a large model on a CPU); each target's latency is kept once measured. A killed evaluation resumes from them."),
  })
  .strict()
  .describe('Accuracy, latency on each target, size and cost of every model the earlier stages made.');

export const StagesSchema = z
  .object({
    train: TrainStageSchema.optional(),
    baselineSearch: BaselineSearchSchema.optional(),
    compoundScaling: CompoundScalingSchema.optional(),
    elasticTraining: ElasticTrainingSchema.optional(),
    evaluation: EvaluationSchema.optional(),
  })
  .strict()
  .describe('Stages to run. Search stages run in the order baselineSearch, compoundScaling, elasticTraining, evaluation; train is a fixed-model stage of its own.');

export type TrainStage = z.output<typeof TrainStageSchema>;
export type BaselineSearchStage = z.output<typeof BaselineSearchSchema>;
export type CompoundScalingStage = z.output<typeof CompoundScalingSchema>;
export type ElasticTrainingStage = z.output<typeof ElasticTrainingSchema>;
export type EvaluationStage = z.output<typeof EvaluationSchema>;
export type PluginRef = z.output<typeof StrategyRefSchema>;
