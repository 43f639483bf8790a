/**
 * What the report reads: the artifacts a run's stages write, as those stages write them, and the
 * run's timing from Temporal. The shapes the stages export are imported (types only); the ones
 * they only write inline (the scaling table, the multi-trial summary) are spelled out here.
 */
import type { EvaluationSummary } from '../activities/evaluate-model';
import type { SupernetEpochMetrics } from '../activities/supernet-epoch';
import type { TrialMetrics } from '../activities/train-trial';
import type { Pipeline } from '../dsl/pipeline';
import type { StepLogEntry } from '../engine/elastic/coordinator';
import type { BandTrialsSummary } from '../workflows/band-trials';
import type { BudgetUse } from '../workflows/trial-budgets';
import type { PluginProvenance } from '../workflows/pipeline';

export type { BandTrialsSummary, StepLogEntry, SupernetEpochMetrics };

/** `runs/<run>/evaluation/summary.json`: one type for the evaluation stage that writes it and the report. */
export type { EvaluationSummary, EvaluatedModel } from '../activities/evaluate-model';

/** One multi-trial candidate: `search/summary.json` adds the score; a trial file alone has none. */
export interface TrialRecord extends TrialMetrics {
  score?: number;
  /** The trial's own budget, in multi-fidelity searches. */
  epochs?: number;
}

/** `runs/<run>/search/summary.json` (workflows/multi-trial-search.ts). */
export interface MultiTrialSummary {
  strategy: { plugin: string; config: unknown };
  best: TrialRecord;
  trials: TrialRecord[];
  /** Multi-fidelity searches: trials per budget and the training saved. */
  budgets?: BudgetUse;
}

/** One grid point of `runs/<run>/scaling/table.json` (workflows/compound-scaling.ts). */
export interface ScalingTablePoint {
  alpha: number;
  beta: number;
  gamma: number;
  cost: number;
  resolution: number;
  macs: number;
  params: number;
  latencyMs: number | null;
  validationAccuracy: number;
  score: number;
  eligible: boolean;
  archKey: string;
}

export interface ScalingTable {
  objective: 'accuracy' | 'accuracy-latency';
  /** Id of the hardware target the points were measured on, when there was one. */
  target?: string;
  grid: Record<string, number>;
  limits?: { latencyMs?: number; macs?: number };
  /** `alpha_beta_gamma` of the chosen point (core/scaling-grid.ts pointLabel), absent when none was eligible. */
  chosen?: string;
  candidates: ScalingTablePoint[];
}

export type SearchArtifacts =
  | { mode: 'one-shot'; epochs: SupernetEpochMetrics[]; band?: BandTrialsSummary }
  | {
      mode: 'multi-trial';
      trials: TrialRecord[];
      /** Trial number of the best one, once the search has finished. */
      best?: number;
      strategy?: string;
      /** Id of the hardware target the trials' latency was measured on, if any. */
      targetId?: string;
      /** False while the search runs: trials come from their own files and have no score yet. */
      finished: boolean;
      /** A multi-fidelity search's trials per budget and the training it saved (once finished). */
      budgets?: BudgetUse;
    };

/** One elastic training's step log, merged across its `log/steps-*.json` segments. */
export interface ElasticLog {
  /** The model's label: the folder under `elastic/` (`phi-1`, `baseline`, `small-cnn`, ...). */
  model: string;
  steps: StepLogEntry[];
}

/** Everything the report shows, loaded from the artifact store; absent parts were not written. */
export interface RunArtifacts {
  runId: string;
  /** The artifact store's location, as a user would write it. */
  location: string;
  /** `runs/<run>/pipeline.json`: the resolved pipeline, written when the run was submitted. */
  pipeline?: Pipeline;
  /** `runs/<run>/plugins.json`: every plugin the run uses, with version and module hash (absent in older runs). */
  plugins?: PluginProvenance[];
  search?: SearchArtifacts;
  scaling?: ScalingTable;
  elastic: ElasticLog[];
  evaluation?: EvaluationSummary;
}

/** The run as Temporal knows it (cli/runs.ts); absent when Temporal was not asked or had no such run. */
export interface RunTiming {
  status: string;
  startTime: string;
  closeTime?: string;
  durationSeconds: number;
  stages: { stage: string; seconds: number }[];
  /** The stage running now, or where a run that did not complete stopped. */
  current?: string;
}

export interface ReportInput {
  artifacts: RunArtifacts;
  timing?: RunTiming;
  /** Why there is no timing, said once in the header. */
  timingNote?: string;
  /** ISO time; passed in so that the builder stays a pure function. */
  generatedAt: string;
}
