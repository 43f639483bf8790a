/**
 * The report's numbers without the pictures: `report.json`, for scripts and for comparing runs.
 * The HTML builder reads the derived parts (Pareto fronts, the chosen grid point, which sections
 * are missing and why) from here, so the page and the JSON never disagree.
 */
import { runLayout } from '../core/run-layout';
import { entropySentence, maxMeanEntropy } from './entropy';
import { pointLabel } from '../core/scaling-grid';
import { chanceWarning } from './chance';
import { paretoFront } from './pareto';
import type { ElasticLog, LatencyCalibration, ReportInput, RunArtifacts, ScalingTablePoint } from './types';

export type SectionId = 'search' | 'pareto' | 'scaling' | 'elastic';

export interface ReportSummary {
  runId: string;
  pipelineName?: string;
  datasetName?: string;
  artifactLocation: string;
  generatedAt: string;
  status?: string;
  startTime?: string;
  closeTime?: string;
  durationSeconds?: number;
  /** Wall seconds of each completed stage, from Temporal. */
  stages: { stage: string; seconds: number }[];
  currentStage?: string;
  timingNote?: string;
  search?:
    | {
        mode: 'one-shot';
        epochs: number;
        final: { validationAccuracy: number; meanEntropy: number; expectedLatencyMs?: number; blocks: string[] };
        /** The entropy of a uniform choice, and whether the final entropy is still near it (report/entropy.ts). */
        uniformEntropy?: number;
        nearUniform?: boolean;
        /** The derived net's table latency against random nets of the space (with band trials). */
        randomBaseline?: { draws: number; medianMs: number; p10Ms: number; p90Ms: number; referenceFasterThan: number };
        /** The latency model check on a timed target (search/latency-calibration.json); `use` is what the search priced with. */
        latencyModel?: { targetId: string; target: string; nets: number } & Pick<LatencyCalibration, 'predictor' | 'check' | 'use'>;
      }
    | {
        mode: 'multi-trial';
        strategy?: string;
        trials: number;
        finished: boolean;
        targetId?: string;
        best?: { trial: number; validationAccuracy: number; latencyMs?: number; score?: number; macs: number; params: number; blocks: string[] };
      };
  pareto?: {
    targets: { id: string; plugin: string; front: string[] }[];
    models: {
      id: string;
      role: string;
      label: string;
      testAccuracy: number;
      params: number;
      macs: number;
      latencyMs: Record<string, number>;
      /** Set when the test accuracy is at or near chance (report/chance.ts). */
      warning?: string;
    }[];
  };
  /** One line per evaluated model whose test accuracy is flagged, `label: warning`; absent when none is. */
  warnings?: string[];
  scaling?: {
    objective: string;
    target?: string;
    points: number;
    chosen?: Pick<ScalingTablePoint, 'alpha' | 'beta' | 'gamma' | 'macs' | 'params' | 'latencyMs' | 'validationAccuracy' | 'score'>;
  };
  elastic?: ElasticDigest[];
  /** Sections left out of the page, each with the one line that says why. */
  omitted: { section: SectionId; reason: string }[];
}

export interface ElasticDigest {
  model: string;
  steps: number;
  firstStep: number;
  lastStep: number;
  epochs: number;
  workersMin: number;
  workersMax: number;
  /** Distinct worker processes that contributed a gradient. */
  workersSeen: number;
  drops: number;
  finalLearningRate: number;
  finalLoss: number;
}

/** Index of the chosen grid point in the table, if one was chosen. */
export function chosenIndex(candidates: ScalingTablePoint[], chosen: string | undefined): number | undefined {
  if (!chosen) return undefined;
  const i = candidates.findIndex((c) => pointLabel(c) === chosen);
  return i < 0 ? undefined : i;
}

/** Each evaluated model's warning (report/chance.ts), or undefined: what the page and report.json both show. */
export function modelWarnings(evaluation: NonNullable<RunArtifacts['evaluation']>): (string | undefined)[] {
  const classes = evaluation.classNames.length > 0 ? evaluation.classNames.length : undefined;
  // No validation accuracy of the same model exists here: evaluated models are trained without a
  // validation split (the search's and the scaling grid's numbers are of other, briefer trainings).
  return evaluation.models.map((m) => chanceWarning(m.testAccuracy, classes));
}

/** Pareto front of the evaluated models on each target, as indices into `models`. */
export function frontsByTarget(evaluation: NonNullable<RunArtifacts['evaluation']>): Map<string, number[]> {
  const fronts = new Map<string, number[]>();
  for (const t of evaluation.targets) {
    const pts = evaluation.models.map((m) => ({ latencyMs: m.latency[t.id]?.medianMs ?? NaN, accuracy: m.testAccuracy }));
    fronts.set(t.id, paretoFront(pts));
  }
  return fronts;
}

export function elasticDigest(log: ElasticLog): ElasticDigest {
  const s = log.steps;
  const counts = s.map((e) => e.workers.length);
  const last = s[s.length - 1];
  return {
    model: log.model,
    steps: s.length,
    firstStep: s[0]?.step ?? 0,
    lastStep: last?.step ?? 0,
    epochs: s.length ? new Set(s.map((e) => e.epoch)).size : 0,
    workersMin: counts.length ? Math.min(...counts) : 0,
    workersMax: counts.length ? Math.max(...counts) : 0,
    workersSeen: new Set(s.flatMap((e) => e.workers)).size,
    drops: s.reduce((n, e) => n + e.dropped.length, 0),
    finalLearningRate: last?.learningRate ?? NaN,
    finalLoss: last?.loss ?? NaN,
  };
}

function latencyModelDigest(c: LatencyCalibration): NonNullable<Extract<ReportSummary['search'], { mode: 'one-shot' }>['latencyModel']> {
  return { targetId: c.targetId ?? c.target, target: c.target, nets: c.nets.length, predictor: c.predictor, check: c.check, use: c.use };
}

const STAGE_OF: Record<SectionId, { stage: string; what: string }> = {
  search: { stage: 'baselineSearch', what: 'search epochs or trials (search/epochs/, search/summary.json, search/trials/)' },
  pareto: { stage: 'evaluation', what: 'evaluation summary (evaluation/summary.json)' },
  scaling: { stage: 'compoundScaling', what: 'scaling table (scaling/table.json)' },
  elastic: { stage: 'elasticTraining', what: 'elastic step logs (elastic/<model>/log/)' },
};

/** One line: what is missing and the likely reason, told apart by what the pipeline declared. */
export function omissionReason(section: SectionId, a: RunArtifacts): string {
  const { stage, what } = STAGE_OF[section];
  const base = `No ${what} under ${runLayout(a.runId).root}`;
  if (!a.pipeline) return `${base}: the run has no such stage, or it has not written them yet.`;
  const declared = (a.pipeline.stages as Record<string, unknown> | undefined)?.[stage] !== undefined;
  return declared ? `${base}: stages.${stage} has not written them yet.` : `${base}: the pipeline has no stages.${stage}.`;
}

export function summarize(input: ReportInput): ReportSummary {
  const { artifacts: a, timing } = input;
  const omitted: ReportSummary['omitted'] = [];
  const summary: ReportSummary = {
    runId: a.runId,
    pipelineName: a.pipeline?.name ?? a.evaluation?.pipelineName,
    datasetName: a.pipeline?.dataset?.name ?? a.evaluation?.datasetName,
    artifactLocation: a.location,
    generatedAt: input.generatedAt,
    status: timing?.status,
    startTime: timing?.startTime,
    closeTime: timing?.closeTime,
    durationSeconds: timing?.durationSeconds,
    stages: timing?.stages ?? [],
    currentStage: timing?.current,
    timingNote: input.timingNote,
    omitted,
  };

  const search = a.search;
  if (search?.mode === 'one-shot') {
    const last = search.epochs[search.epochs.length - 1];
    const uniform = a.pipeline?.searchSpace ? maxMeanEntropy(a.pipeline.searchSpace) : undefined;
    summary.search = {
      mode: 'one-shot',
      epochs: search.epochs.length,
      final: { validationAccuracy: last.validationAccuracy, meanEntropy: last.meanEntropy, expectedLatencyMs: last.expectedLatencyMs, blocks: last.blocks },
      ...(uniform === undefined ? {} : { uniformEntropy: uniform, nearUniform: entropySentence(last.meanEntropy, uniform)?.nearUniform ?? false }),
      ...(search.band?.random ? { randomBaseline: search.band.random } : {}),
      ...(search.latencyCalibration ? { latencyModel: latencyModelDigest(search.latencyCalibration) } : {}),
    };
  } else if (search?.mode === 'multi-trial') {
    const best = search.trials.find((t) => t.trial === search.best);
    summary.search = {
      mode: 'multi-trial',
      strategy: search.strategy,
      trials: search.trials.length,
      finished: search.finished,
      targetId: search.targetId,
      best: best && {
        trial: best.trial,
        validationAccuracy: best.validationAccuracy,
        latencyMs: best.latencyMs,
        score: best.score,
        macs: best.macs,
        params: best.params,
        blocks: best.blocks,
      },
    };
  } else omitted.push({ section: 'search', reason: omissionReason('search', a) });

  if (a.evaluation) {
    const fronts = frontsByTarget(a.evaluation);
    const models = a.evaluation.models;
    const warnings = modelWarnings(a.evaluation);
    summary.pareto = {
      targets: a.evaluation.targets.map((t) => ({ id: t.id, plugin: t.plugin, front: (fronts.get(t.id) ?? []).map((i) => models[i].id) })),
      models: models.map((m, i) => ({
        id: m.id,
        role: m.role,
        label: m.label,
        testAccuracy: m.testAccuracy,
        params: m.params,
        macs: m.macs,
        latencyMs: Object.fromEntries(Object.entries(m.latency).map(([t, l]) => [t, l.medianMs])),
        ...(warnings[i] ? { warning: warnings[i] } : {}),
      })),
    };
    const lines = models.flatMap((m, i) => (warnings[i] ? [`${m.label}: ${warnings[i]}`] : []));
    if (lines.length > 0) summary.warnings = lines;
  } else omitted.push({ section: 'pareto', reason: omissionReason('pareto', a) });

  if (a.scaling) {
    const i = chosenIndex(a.scaling.candidates, a.scaling.chosen);
    const c = i === undefined ? undefined : a.scaling.candidates[i];
    summary.scaling = {
      objective: a.scaling.objective,
      target: a.scaling.target,
      points: a.scaling.candidates.length,
      chosen: c && { alpha: c.alpha, beta: c.beta, gamma: c.gamma, macs: c.macs, params: c.params, latencyMs: c.latencyMs, validationAccuracy: c.validationAccuracy, score: c.score },
    };
  } else omitted.push({ section: 'scaling', reason: omissionReason('scaling', a) });

  const logs = a.elastic.filter((l) => l.steps.length > 0);
  if (logs.length > 0) summary.elastic = logs.map(elasticDigest);
  else omitted.push({ section: 'elastic', reason: omissionReason('elastic', a) });

  return summary;
}
