/** `nas list`: the recent pipeline runs, from Temporal's visibility store (stage workflows left out). */
import { parseArgs } from 'node:util';
import { CliError, EXIT_BAD_INPUT } from '../errors';
import {
  durationSeconds,
  formatSeconds,
  formatTime,
  openRuns,
  PIPELINE_WORKFLOW_TYPE,
  pipelineNameOf,
  runsLocation,
  runState,
  stateText,
  type RunState,
} from '../runs';

const HELP = `usage: nas list [options]

  --limit N        how many runs (default 20): the open ones first, then the most recently closed
  --json           print a JSON array: runId, pipelineName, status, startTime, closeTime, durationSeconds
  --work-dir DIR   the embedded Temporal's folder (default .nas, or NAS_HOME); ignored with TEMPORAL_ADDRESS

Without TEMPORAL_ADDRESS it reads the embedded Temporal that \`nas run\` uses (starting it on its
database if no run has it up); with it, the cluster's namespace TEMPORAL_NAMESPACE.`;

interface ListedRun {
  runId: string;
  pipelineName: string | null;
  status: RunState;
  startTime: string;
  closeTime: string | null;
  durationSeconds: number;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      limit: { type: 'string', default: '20' },
      json: { type: 'boolean', default: false },
      'work-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"\n\n${HELP}`, EXIT_BAD_INPUT);
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new CliError(`--limit must be a positive whole number, not "${values.limit}"`, EXIT_BAD_INPUT);

  const runs = await openRuns(values['work-dir']);
  const listed: ListedRun[] = [];
  if (runs) {
    try {
      // The SQL visibility store of the dev server sorts open runs first, then by close time; it
      // cannot ORDER BY, so the page is cut there and sorted by start time here.
      for await (const info of runs.client.workflow.list({ query: `WorkflowType = '${PIPELINE_WORKFLOW_TYPE}'`, pageSize: limit })) {
        listed.push({
          runId: info.workflowId,
          pipelineName: pipelineNameOf(info) ?? null,
          status: runState(info),
          startTime: info.startTime.toISOString(),
          closeTime: info.closeTime?.toISOString() ?? null,
          durationSeconds: durationSeconds(info),
        });
        if (listed.length >= limit) break;
      }
    } finally {
      await runs.close();
    }
  }
  listed.sort((a, b) => b.startTime.localeCompare(a.startTime));

  if (values.json) {
    console.log(JSON.stringify(listed, null, 2));
    return 0;
  }
  if (listed.length === 0) {
    console.log(`no runs in ${runs?.where ?? runsLocation(values['work-dir'])}`);
    return 0;
  }
  const rows = [
    ['RUN', 'PIPELINE', 'STATUS', 'STARTED', 'DURATION'],
    ...listed.map((r) => [r.runId, r.pipelineName ?? '-', stateText(r.status), formatTime(new Date(r.startTime)), formatSeconds(r.durationSeconds)]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  for (const row of rows) console.log(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '));
  return 0;
}
