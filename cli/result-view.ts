/**
 * How a finished run reads in the terminal: each stage's results and the evaluation's table, the
 * same whether `nas run` just finished it or `nas status` looks at it later.
 */
import { budgetSentences } from '../report/budgets';
import { chanceWarning } from '../report/chance';
import type { PipelineWorkflowResult } from '../workflows/pipeline';

/** A latency model's check numbers (a Spearman of a constant side travels as null). */
function checkLine(c: { spearman: number | null; within10: number; medianError: number }): string {
  const rho = c.spearman !== null && Number.isFinite(c.spearman) ? c.spearman.toFixed(3) : 'n/a';
  return `Spearman ${rho}, within +-10% ${(100 * c.within10).toFixed(0)}%, median error ${(100 * c.medianError).toFixed(1)}%`;
}

/** What `nas run` prints when its run has finished: the time, each stage's, then the results. */
export function printResult(result: PipelineWorkflowResult, artifactLocation: string, started: number): void {
  console.log(`\nrun ${result.runId} finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const s of result.stages) console.log(`  stage ${s.stage}: ${s.seconds.toFixed(1)} s`);
  printOutcome(result, artifactLocation);
}

/** A finished run's results, stage by stage, with the evaluation's table: for `nas run` and `nas status` alike. */
export function printOutcome(result: PipelineWorkflowResult, artifactLocation: string): void {
  if (result.search?.mode === 'one-shot') {
    const r = result.search.result;
    for (const e of r.epochs) {
      const lat = e.expectedLatencyMs !== undefined ? `, E[latency] of the net ${formatMs(e.expectedLatencyMs)} ms` : '';
      const loss = e.meanLoss !== undefined ? `loss ${e.meanLoss.toFixed(4)}` : 'loss not measured (finished by an earlier attempt)';
      console.log(`  search epoch ${e.epoch + 1}: ${loss}, entropy ${e.meanEntropy.toFixed(3)}, derived-net validation accuracy ${e.validationAccuracy.toFixed(4)}${lat}`);
    }
    const derivedMs = r.epochs[r.epochs.length - 1]?.derivedLatencyMs;
    console.log(`    derived: ${r.blocks.join(' ')}${derivedMs !== undefined ? ` (${formatMs(derivedMs)} ms by the search's latency model)` : ''}`);
    console.log(`    architecture: ${artifactLocation}/${r.derivedArchKey}`);
    if (r.latencyCalibration) {
      const c = r.latencyCalibration;
      console.log(`  latency model on ${c.targetId}: ${c.nets} nets of the space timed whole; the search priced by the ${c.use === 'predictor' ? 'calibrated predictor' : 'plain table sum'}`);
      console.log(`    table sum:            ${checkLine(c.plain)}`);
      console.log(`    predictor (held out): ${checkLine(c.predictor)}`);
    }
    if (r.band) {
      const { pick, derived } = r.band;
      const which = pick.trial === 0 ? 'the derived net' : `trial ${pick.trial}`;
      const nets = r.band.budgets?.rungs[0].trials ?? r.band.trials;
      console.log(`  band trials: the derived net (${formatMs(derived.tableMs)} ms by the table) and ${nets - 1} nets of its band, each trained alone; validation accuracy of the derived net ${derived.validationAccuracy.toFixed(4)}`);
      if (r.band.budgets) for (const line of budgetSentences(r.band.budgets)) console.log(`    halving ${line}`);
      console.log(`    pick, the search result: ${which}, validation accuracy ${pick.validationAccuracy.toFixed(4)}, ${formatMs(pick.tableMs)} ms by the table: ${pick.blocks.join(' ')}`);
      console.log(`    architecture: ${artifactLocation}/${pick.archKey}`);
      console.log(`    all trials:   ${artifactLocation}/${r.band.summaryKey}`);
    }
  }
  if (result.search?.mode === 'multi-trial') {
    const b = result.search.result.best;
    const latency = b.latencyMs !== undefined ? `, latency ${b.latencyMs.toFixed(3)} ms` : '';
    console.log(`  search: ${result.search.result.trials} trials; best trial ${b.trial}: validation accuracy ${b.validationAccuracy.toFixed(4)}${latency}, ${(b.macs / 1e6).toFixed(2)}M MACs, score ${b.score.toFixed(4)}`);
    if (result.search.result.budgets) for (const line of budgetSentences(result.search.result.budgets)) console.log(`    ${line}`);
    console.log(`    blocks: ${b.blocks.join(' ')}`);
    console.log(`    architecture: ${artifactLocation}/${b.archKey}`);
    console.log(`    all trials:   ${artifactLocation}/${result.search.result.summaryKey}`);
  }
  if (result.scaling) {
    const c = result.scaling;
    const lat = c.chosen.latencyMs !== undefined ? `, latency ${c.chosen.latencyMs.toFixed(3)} ms` : '';
    console.log(`  scaling: ${c.trials} grid points; chosen alpha ${c.alpha} beta ${c.beta} gamma ${c.gamma}: validation accuracy ${c.chosen.validationAccuracy.toFixed(4)}, ${(c.chosen.macs / 1e6).toFixed(2)}M MACs${lat}`);
    for (const m of c.scaled) console.log(`    phi ${m.phi}: ${m.resolution}px, ${(m.macs / 1e6).toFixed(2)}M MACs, ${m.params} params: ${artifactLocation}/${m.archKey}`);
    console.log(`    table: ${artifactLocation}/${c.tableKey}`);
  }
  for (const e of result.elastic ?? []) {
    const label = e.model.kind === 'arch' ? e.model.label : e.model.kind;
    const resumed = e.resumedFromStep > 0 ? ` (coordinator resumed from step ${e.resumedFromStep})` : '';
    const warning = chanceWarning(e.testAccuracy, e.classes);
    console.log(`  elastic ${label}: ${e.epochs} epochs in ${e.steps} steps on ${e.workersSeen} worker process${e.workersSeen === 1 ? '' : 'es'}${resumed}; test accuracy ${e.testAccuracy.toFixed(4)}${warning ? ` ${MARK}` : ''}`);
    if (warning) console.log(`    ${MARK} ${warning}`);
    console.log(`    model: ${artifactLocation}/${e.modelKey}`);
    console.log(`    log:   ${artifactLocation}/${e.logPrefix}`);
  }
  if (result.train) {
    const t = result.train;
    console.log(`  model:   ${artifactLocation}/${t.modelKey}`);
    console.log(`  metrics: ${artifactLocation}/${t.metricsKey}`);
    if (t.resumedFromStep > 0) console.log(`  (training resumed from step ${t.resumedFromStep} after an interruption)`);
    for (const l of t.latency) console.log(`  latency on ${l.targetId} (${l.plugin}): median ${l.medianMs.toFixed(3)} ms, p90 ${(l.p90Ms ?? l.medianMs).toFixed(3)} ms`);
    const warning = chanceWarning(t.testAccuracy, t.classes);
    console.log(`test accuracy: ${t.testAccuracy.toFixed(4)}${warning ? ` ${MARK}` : ''}`);
    if (warning) console.log(`${MARK} ${warning}`);
  }
  if (result.evaluation) {
    const e = result.evaluation;
    const targets = [...new Set(e.models.flatMap((m) => Object.keys(m.latency)))];
    const header = ['model', 'role', 'test acc', 'params', 'MACs', ...targets.map((t) => `${t} ms (median/p90)`)];
    const warnings = e.models.map((m) => chanceWarning(m.testAccuracy, m.classes));
    const flagged = warnings.some((w) => w !== undefined);
    const rows = e.models.map((m, i) => [
      m.label,
      m.role,
      // Every accuracy cell the same width when one is marked, so the numbers stay aligned.
      `${m.testAccuracy.toFixed(4)}${warnings[i] ? ` ${MARK}` : flagged ? ' '.repeat(MARK.length + 1) : ''}`,
      m.params.toLocaleString('en-US'),
      `${(m.macs / 1e6).toFixed(2)}M`,
      ...targets.map((t) => (m.latency[t] ? `${formatMs(m.latency[t].medianMs)} / ${formatMs(m.latency[t].p90Ms)}` : '-')),
    ]);
    console.log(`\nevaluation of ${e.models.length} model${e.models.length === 1 ? '' : 's'} on the test split:`);
    for (const line of alignColumns([header, ...rows], 2)) console.log(`  ${line}`);
    e.models.forEach((m, i) => warnings[i] && console.log(`  ${MARK} ${m.label}: ${warnings[i]}`));
    console.log(`  summary: ${artifactLocation}/${e.summaryKey}`);
  }
}

/** What marks a test accuracy at or near chance (report/chance.ts); the line below says why. */
export const MARK = '(!)';

/** Milliseconds with three decimals below 10 ms, fewer above, and three significant digits below 0.1 (a MACs proxy's "ms" are thousandths). */
export function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(1) : ms >= 10 ? ms.toFixed(2) : ms >= 0.1 || ms === 0 ? ms.toFixed(3) : ms.toPrecision(3);
}

/** Text columns padded to their widest cell; the first two left-aligned (names), numbers right-aligned. */
export function alignColumns(rows: string[][], textColumns: number): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c < textColumns ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd());
}
