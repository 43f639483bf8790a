/**
 * What the report reads: the artifacts a run's stages write, as core/artifact-files.ts's schemas
 * describe them (report/load.ts parses every file with them), and the run's timing from Temporal.
 */
import type { BandTrialsSummary, BudgetUse, EvaluationSummary, LatencyCalibration, PluginProvenance, ScalingTable, SearchTrial, StepLogEntry, SupernetEpochMetrics, TrialFile } from '../core/artifact-files';
import type { Pipeline } from '../dsl/pipeline';

export type {
  BandTrialsSummary,
  EvaluatedModel,
  EvaluationSummary,
  LatencyCalibration,
  ScalingTable,
  ScalingTablePoint,
  StepLogEntry,
  SupernetEpochMetrics,
} from '../core/artifact-files';

/** One multi-trial candidate: `search/summary.json` adds the score; a trial file alone has none. */
export type TrialRecord = TrialFile & Partial<Pick<SearchTrial, 'score' | 'epochs'>>;

export type SearchArtifacts =
  | {
      mode: 'one-shot';
      epochs: SupernetEpochMetrics[];
      band?: BandTrialsSummary;
      /** On a timed target: nets of the space timed whole against the table's and the predictor's latency. */
      latencyCalibration?: LatencyCalibration;
    }
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
