/**
 * `nas report RUN`: one self-contained HTML file (charts drawn by an inlined Chart.js, no network)
 * and a JSON summary of a run, built from its artifacts, with stage wall times from Temporal.
 * Both are also copied into the artifact store under `runs/<run>/report/`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { openArtifactStore, validateKey, type ArtifactStore } from '../../artifacts';
import { buildReport } from '../../report/build';
import { chartLibrarySource } from '../../report/chart-library';
import { runLayout } from '../../core/run-layout';
import { loadRunArtifacts, runExists } from '../../report/load';
import type { RunTiming } from '../../report/types';
import { CliError, EXIT_BAD_INPUT } from '../errors';
import { parseRunCommand } from '../args';
import { embeddedDir, findRun, openRuns, readInput, reportRun, runsLocation } from '../runs';

const HELP = `usage: nas report RUN [options]

  --out FILE            the HTML file (default ./nas-report-<run>.html); the JSON summary goes next
                        to it under the same name ending in .json
  --artifacts LOCATION  the run's artifact store: folder, file:///path or s3://bucket/prefix
                        (default: the location the run was started with, read from Temporal;
                        without Temporal, the work folder's artifacts: .nas/artifacts, or under --work-dir)
  --work-dir DIR        the embedded Temporal's folder (default .nas, or NAS_HOME); ignored with TEMPORAL_ADDRESS
  --no-temporal         do not ask Temporal: no status or stage times, artifacts only

The page has one section per stage that left artifacts: the search trajectory, accuracy against
latency per hardware target (Pareto front, reference models marked), the compound-scaling grid and
elastic training's membership, learning rate and loss. It also goes to runs/<run>/report/ in the store.`;

interface FromTemporal {
  timing?: RunTiming;
  artifactLocation?: string;
  note?: string;
}

/** Status, stage times and the artifact location the run was started with; a note instead when Temporal cannot say. */
async function askTemporal(runId: string, workDir: string | undefined): Promise<FromTemporal> {
  let runs;
  try {
    runs = await openRuns(workDir);
  } catch (err) {
    return { note: `Stage times unavailable: ${(err as Error).message}.` };
  }
  if (!runs) return { note: `Stage times unavailable: no run was ever started with ${runsLocation(workDir)}.` };
  try {
    const found = await findRun(runs, runId);
    const [report, input] = await Promise.all([reportRun(runs, found), readInput(found.handle, runId)]);
    return {
      timing: {
        status: report.status,
        startTime: report.startTime,
        closeTime: report.closeTime,
        durationSeconds: report.durationSeconds,
        stages: report.stages,
        current: report.current?.stage,
      },
      artifactLocation: input?.artifactLocation,
    };
  } catch (err) {
    return { note: `Stage times unavailable: ${(err as Error).message}.` };
  } finally {
    await runs.close();
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseRunCommand(
    argv,
    {
      out: { type: 'string' },
      artifacts: { type: 'string' },
      'work-dir': { type: 'string' },
      'no-temporal': { type: 'boolean', default: false },
    },
    HELP,
  );
  if (!parsed) return 0;
  const { values, runId } = parsed;
  try {
    validateKey(runId);
  } catch (err) {
    throw new CliError(`"${runId}" is not a run id: ${(err as Error).message}`, EXIT_BAD_INPUT);
  }

  const temporal: FromTemporal = values['no-temporal'] ? { note: 'Stage times not read: --no-temporal.' } : await askTemporal(runId, values['work-dir']);
  const location = values.artifacts ?? temporal.artifactLocation ?? path.join(embeddedDir(values['work-dir']), 'artifacts');
  let store: ArtifactStore;
  try {
    store = openArtifactStore(location);
  } catch (err) {
    throw new CliError((err as Error).message, EXIT_BAD_INPUT);
  }
  if (!(await runExists(store, runId))) {
    const hint = values.artifacts ? '' : ' (give the store the run used with --artifacts LOCATION)';
    const asked = temporal.timing || values['no-temporal'] ? '' : `\n  ${temporal.note}`;
    throw new CliError(`no artifacts of run "${runId}" in ${store.location}${hint}${asked}`);
  }

  const artifacts = await loadRunArtifacts(store, runId);
  const { html, summary } = buildReport({ artifacts, timing: temporal.timing, timingNote: temporal.note, generatedAt: new Date().toISOString() }, chartLibrarySource());

  const out = path.resolve(values.out ?? `nas-report-${runId}.html`);
  // Named after the HTML file, so reports of several runs can share a folder.
  const jsonOut = `${out.replace(/\.html?$/i, '')}.json`;
  const json = JSON.stringify(summary, null, 2);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, html);
  writeFileSync(jsonOut, json);
  const keys = runLayout(runId).report;
  await store.put(keys.html, html);
  await store.put(keys.json, json);

  console.log(`report of run ${runId}${summary.pipelineName ? ` (pipeline "${summary.pipelineName}")` : ''}`);
  console.log(`  html: ${out}`);
  console.log(`  json: ${jsonOut}`);
  console.log(`  also in ${store.location}/${keys.prefix}`);
  for (const o of summary.omitted) console.log(`  omitted ${o.section}: ${o.reason}`);
  if (temporal.note) console.log(`  note: ${temporal.note}`);
  return 0;
}
