/**
 * The pipeline schema: the single source of truth for what a pipeline file may say. Types come
 * from `z.infer`, defaults are filled by `parse`, and the published JSON Schema
 * (schema/pipeline.schema.json) is generated from this same object.
 */
import { z } from 'zod';
import { checkArtifactLocation } from '../artifacts/location';
import { DatasetSchema } from './dataset';
import { SearchSpaceSchema } from './search-space';
import { StagesSchema, TargetRefSchema, TARGET_ID_PATTERN } from './stages';
import { pathString } from './strings';

export * from './dataset';
export * from './search-space';
export * from './stages';

export const ArtifactsSchema = z
  .object({
    location: pathString()
      // The form openArtifactStore will parse, checked by its own rules; a problem at this line, not a stack from nas run.
      .superRefine((location, ctx) => {
        const problem = checkArtifactLocation(location);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe(
        'A folder path, file:///path or s3://bucket/prefix where the run stores what it makes. ' +
          'Default: the artifacts folder of the work folder (.nas/artifacts, or under --work-dir / NAS_HOME).',
      ),
  })
  .strict()
  .describe('Where checkpoints, latency tables, architectures, models and reports go.');

const PipelineObjectSchema = z
  .object({
    $schema: pathString().optional().describe('JSON Schema for editors; ignored by nas.'),
    version: z.literal(1).describe('Version of the pipeline format.'),
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use lowercase letters, digits and dashes (at most 63)')
      .describe('Names the run and its artifacts.'),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(1).describe('Every random choice of the run derives from it.'),
    dataset: DatasetSchema,
    searchSpace: SearchSpaceSchema.prefault({}),
    stages: StagesSchema,
    hardwareTargets: z
      .record(z.string().regex(TARGET_ID_PATTERN, 'use lowercase letters, digits and dashes'), TargetRefSchema)
      .default({})
      .describe('Devices or estimators to optimise and measure latency for, by an id stages refer to.'),
    artifacts: ArtifactsSchema.prefault({}),
    plugins: z
      .array(pathString())
      .default([])
      .describe('User plugins to load: paths relative to this file (./my-plugin.ts) or package names.'),
  })
  .strict();

type PipelineObject = z.output<typeof PipelineObjectSchema>;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * References between fields, which no single field's schema can check. It also runs when other
 * fields failed (so one pass reports everything), hence the value is read defensively: a field
 * that failed holds whatever the user wrote.
 */
function checkReferences(p: PipelineObject, ctx: z.RefinementCtx): void {
  const stages: Partial<PipelineObject['stages']> = isRecord(p.stages) ? p.stages : {};
  const targets = isRecord(p.hardwareTargets) ? Object.keys(p.hardwareTargets) : [];
  const known = targets.length ? `declared: ${targets.join(', ')}` : 'none declared under hardwareTargets';
  const requireTarget = (id: unknown, path: (string | number)[]) => {
    if (typeof id === 'string' && !targets.includes(id)) ctx.addIssue({ code: 'custom', path, message: `unknown hardware target "${id}" (${known})` });
  };
  const search = isRecord(stages.baselineSearch) ? stages.baselineSearch : undefined;
  const scaling = isRecord(stages.compoundScaling) ? stages.compoundScaling : undefined;
  if (isRecord(p.stages) && !Object.values(p.stages).some((s) => s !== undefined)) {
    ctx.addIssue({ code: 'custom', path: ['stages'], message: 'declare at least one stage: baselineSearch, compoundScaling, elasticTraining, evaluation or train' });
  }
  requireTarget(search?.target, ['stages', 'baselineSearch', 'target']);
  requireTarget(scaling?.target, ['stages', 'compoundScaling', 'target']);
  const evaluationTargets = isRecord(stages.evaluation) ? stages.evaluation.targets : undefined;
  if (Array.isArray(evaluationTargets)) evaluationTargets.forEach((id, i) => requireTarget(id, ['stages', 'evaluation', 'targets', i]));
  if (scaling && (scaling.baseline ?? 'search') === 'search' && !search) {
    ctx.addIssue({
      code: 'custom',
      path: ['stages', 'compoundScaling', 'baseline'],
      message: 'scaling the search result needs stages.baselineSearch; add it or set baseline: efficientnet-b0',
    });
  }
  if (stages.evaluation && !search && !scaling && !stages.elasticTraining && !stages.train) {
    ctx.addIssue({ code: 'custom', path: ['stages', 'evaluation'], message: 'nothing to evaluate: add a stage that makes a model' });
  }
  const references = isRecord(stages.evaluation) ? stages.evaluation.referenceModels : undefined;
  if (Array.isArray(references) && references.length > 0 && !stages.elasticTraining && !stages.train) {
    // A comparison is fair only if the references are trained as the pipeline's own models are.
    ctx.addIssue({
      code: 'custom',
      path: ['stages', 'evaluation', 'referenceModels'],
      message: 'reference models are trained with the settings of stages.elasticTraining (else stages.train), and this pipeline has neither; add one, or drop referenceModels',
    });
  }
  const scalingLimits = isRecord(scaling?.limits) ? scaling.limits : undefined;
  if (scalingLimits?.latencyMs !== undefined && scaling?.target === undefined) {
    ctx.addIssue({ code: 'custom', path: ['stages', 'compoundScaling', 'target'], message: 'a latency limit needs a hardware target to measure on' });
  }
  if (scaling?.objective === 'accuracy-latency' && scaling.target === undefined) {
    ctx.addIssue({ code: 'custom', path: ['stages', 'compoundScaling', 'target'], message: 'the accuracy-latency objective needs a hardware target' });
  }
  if (search?.latencyPenalty === 'absolute' && search.targetLatencyMs === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['stages', 'baselineSearch', 'targetLatencyMs'],
      message: 'latencyPenalty: absolute aims the search at a latency: set targetLatencyMs (ms, the whole network on the target)',
    });
  }
  if (search?.bandTrials !== undefined && (search.latencyWeight === 0 || (search.target === undefined && targets.length !== 1))) {
    ctx.addIssue({
      code: 'custom',
      path: ['stages', 'baselineSearch', 'bandTrials'],
      message: 'band trials draw nets by the latency table of the search: give the search a hardware target and latencyWeight > 0',
    });
  }
  if (search && search.latencyWeight !== 0 && search.target === undefined && targets.length > 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['stages', 'baselineSearch', 'target'],
      message: `latencyWeight > 0 with several hardware targets: name the one to optimise (${known})`,
    });
  }
}

/** Defaults that depend on other fields, so no field schema can fill them. */
function fillDerivedDefaults(p: PipelineObject) {
  const targets = Object.keys(p.hardwareTargets);
  const search = p.stages.baselineSearch;
  return {
    ...p,
    searchSpace: { ...p.searchSpace, inputResolution: p.searchSpace.inputResolution ?? p.dataset.resolution },
    stages: {
      ...p.stages,
      // With one declared target there is nothing to choose; with none, the search ignores latency.
      ...(search ? { baselineSearch: { ...search, target: search.target ?? (targets.length === 1 ? targets[0] : undefined) } } : {}),
    },
  };
}

export const PipelineSchema = PipelineObjectSchema.superRefine(checkReferences, { when: () => true }).transform(fillDerivedDefaults);

/** A pipeline as a user writes it (defaults optional). */
export type PipelineInput = z.input<typeof PipelineSchema>;
/** A pipeline with every default filled in. */
export type Pipeline = z.output<typeof PipelineSchema>;
