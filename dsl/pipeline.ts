/**
 * The pipeline schema: the single source of truth for what a pipeline file may say. Types come
 * from `z.infer`, defaults are filled by `parse`, and the published JSON Schema is generated from
 * this same object.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();

export const DatasetSchema = z
  .object({
    name: z.enum(['fashion-mnist']).describe('Which data set to train on.'),
    path: z.string().min(1).optional().describe('Folder holding the data set files; default depends on the data set.'),
  })
  .strict();

export const ArtifactsSchema = z
  .object({
    location: z
      .string()
      .min(1)
      .default('.nas/artifacts')
      .describe('A folder path, file:///path or s3://bucket/prefix where the run stores what it makes.'),
  })
  .strict();

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
    checkpointEverySteps: positiveInt.default(100).describe('Steps between checkpoints: the most work a crash can lose.'),
    heartbeatTimeoutSeconds: positiveInt.max(3600).default(30).describe('How long a silent worker is trusted before its activity is retried elsewhere.'),
  })
  .strict();

export const PipelineSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1),
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use lowercase letters, digits and dashes (at most 63)'),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(1),
    dataset: DatasetSchema,
    artifacts: ArtifactsSchema.prefault({}),
    stages: z
      .object({
        train: TrainStageSchema.optional(),
      })
      .strict(),
  })
  .strict();

/** A pipeline as a user writes it (defaults optional). */
export type PipelineInput = z.input<typeof PipelineSchema>;
/** A pipeline with every default filled in. */
export type Pipeline = z.output<typeof PipelineSchema>;
export type TrainStage = z.output<typeof TrainStageSchema>;
export type DatasetConfig = z.output<typeof DatasetSchema>;
