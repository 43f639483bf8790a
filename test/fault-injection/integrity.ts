/**
 * After the runs: is everything under the run's prefix whole, complete and accounted for?
 *
 * - Whole: every object reads back through the ArtifactStore, which verifies its SHA-256.
 * - Complete: no incomplete multipart upload under the prefix, no object whose key the store could
 *   not have written (its bookkeeping names start with "."), no half-built latency table
 *   (`*.partial.json`) and no elastic `coordinator.json` (it is removed when training ends).
 * - Accounted for (no orphans): every object is either an output of the finished run, named by the
 *   workflow's result or by a file it names (the scaling table's trials, the evaluation summary's
 *   models), or the resumable state the design keeps on purpose: per checkpoint folder the newest
 *   checkpoint, which must be at the stage's last step, plus at most one spare; the elastic step
 *   log, whose chunks must tile steps [0, steps) exactly once; one coverage record per elastic
 *   epoch and one record per search epoch. A checkpoint beyond newest + spare, a log chunk left by
 *   a superseded attempt, a trial the table does not list, a trial's checkpoint left after its
 *   result was stored, anything else: an orphan.
 */
import { ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { getJson, validateKey, type S3ArtifactStore } from '../../artifacts';
import type { EvaluationSummary } from '../../activities/evaluate-model';
import type { StepLogEntry } from '../../engine/elastic/coordinator';
import type { PipelineWorkflowResult } from '../../workflows/pipeline';
import { checkpointStep, elasticLayout, runLayout } from '../../core/run-layout';

export interface IntegrityReport {
  objects: number;
  bytes: number;
  verified: number;
  corrupt: string[];
  partial: string[];
  orphans: string[];
  missing: string[];
  multipartUploads: number;
  ok: boolean;
}

interface Expectations {
  runId: string;
  searchEpochs: number;
  elasticEpochs: number;
}

export async function checkIntegrity(admin: S3Client, store: S3ArtifactStore, result: PipelineWorkflowResult, e: Expectations): Promise<IntegrityReport> {
  const report: IntegrityReport = { objects: 0, bytes: 0, verified: 0, corrupt: [], partial: [], orphans: [], missing: [], multipartUploads: 0, ok: false };

  // Every object under the store's prefix, as S3 lists it (not filtered the way store.list is).
  const raw: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const res = await admin.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: store.prefix, ContinuationToken: token }));
    for (const o of res.Contents ?? []) raw.push({ key: o.Key!.slice(store.prefix.length), size: o.Size ?? 0 });
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: store.bucket, Prefix: store.prefix }));
  report.multipartUploads = uploads.Uploads?.length ?? 0;
  for (const u of uploads.Uploads ?? []) report.partial.push(`incomplete multipart upload ${u.Key}`);

  const keys = new Set<string>();
  for (const { key, size } of raw) {
    report.objects++;
    report.bytes += size;
    try {
      validateKey(key);
    } catch {
      report.partial.push(`${key} (not a key the store writes: a temp or bookkeeping object)`);
      continue;
    }
    keys.add(key);
    try {
      await store.get(key);
      report.verified++;
    } catch (err) {
      report.corrupt.push(`${key}: ${(err as Error).message}`);
    }
    if (key.endsWith('.partial.json')) report.partial.push(`${key} (a latency table left half-built)`);
    if (key.endsWith('/coordinator.json')) report.partial.push(`${key} (elastic coordinator record left behind)`);
  }

  // What the finished run accounts for.
  const accounted = new Set<string>();
  const want = (key: string | undefined) => {
    if (!key) return;
    accounted.add(key);
    if (!keys.has(key)) report.missing.push(key);
  };
  const run = runLayout(e.runId);
  want(run.pipeline);
  // The plugins the run used, as `nas run` recorded them before starting it.
  want(run.plugins);

  if (result.search?.mode === 'one-shot') {
    const s = result.search.result;
    want(s.derivedArchKey);
    want(s.latencyTableKey);
    for (let epoch = 0; epoch < e.searchEpochs; epoch++) want(run.search.epoch(epoch));
    const last = s.epochs[s.epochs.length - 1];
    checkpoints(run.search.checkpoints, last?.steps);
  }
  if (result.scaling) {
    const sc = result.scaling;
    want(sc.tableKey);
    for (const m of sc.scaled) want(m.archKey);
    if (keys.has(sc.tableKey)) {
      const table = await getJson<{ candidates: { alpha: number; beta: number; gamma: number; archKey: string }[] }>(store, sc.tableKey);
      for (const c of table.candidates) {
        want(c.archKey);
        want(c.archKey.replace(/\.arch\.json$/, '.json'));
      }
    }
  }
  for (const el of result.elastic ?? []) {
    const base = el.metricsKey.replace(/\/metrics\.json$/, '');
    const stage = elasticLayout(base);
    want(el.metricsKey);
    want(el.modelKey);
    want(el.modelWeightsKey);
    for (let epoch = 0; epoch < e.elasticEpochs; epoch++) want(stage.coverage(epoch));
    checkpoints(stage.checkpoints, el.steps);
    // The step log: chunks that tile [0, steps) exactly once.
    const chunks = [...keys].filter((k) => k.startsWith(stage.logPrefix)).sort();
    let next = 0;
    for (const chunk of chunks) {
      const entries = await getJson<StepLogEntry[]>(store, chunk).catch(() => [] as StepLogEntry[]);
      const first = entries[0]?.step;
      const contiguous = entries.every((x, i) => x.step === first + i);
      if (first === next && contiguous) {
        accounted.add(chunk);
        next = first + entries.length;
      } else {
        report.orphans.push(`${chunk} (steps ${first}..${first + entries.length - 1}; the log up to here covers [0, ${next}))`);
        accounted.add(chunk);
      }
    }
    if (next !== el.steps) report.missing.push(`${stage.logPrefix} covers [0, ${next}) of ${el.steps} steps`);
  }
  if (result.evaluation) {
    want(result.evaluation.summaryKey);
    for (const m of result.evaluation.models) want(m.resultKey);
    if (keys.has(result.evaluation.summaryKey)) {
      const summary = await getJson<EvaluationSummary>(store, result.evaluation.summaryKey);
      for (const m of summary.models) {
        want(m.modelKey);
        want(m.modelWeightsKey);
      }
    }
  }
  for (const key of keys) if (!accounted.has(key)) report.orphans.push(key);

  report.ok = report.corrupt.length === 0 && report.partial.length === 0 && report.orphans.length === 0 && report.missing.length === 0 && report.multipartUploads === 0;
  return report;

  /** The newest checkpoint at the final step plus at most one spare; the rest are orphans. */
  function checkpoints(prefix: string, finalStep: number | undefined): void {
    const found = [...keys].filter((k) => k.startsWith(prefix) && k.endsWith('.ckpt')).sort();
    const newest = found[found.length - 1];
    if (!newest) {
      report.missing.push(`${prefix} (no checkpoint)`);
      return;
    }
    if (finalStep !== undefined && checkpointStep(newest) !== finalStep) report.orphans.push(`${newest} (newest checkpoint, but the stage ended at step ${finalStep})`);
    accounted.add(newest);
    const spares = found.slice(0, -1);
    if (spares.length > 0) accounted.add(spares[spares.length - 1]);
    for (const extra of spares.slice(0, -1)) report.orphans.push(`${extra} (checkpoint beyond newest + one spare)`);
    for (const k of found) accounted.add(k);
  }
}
