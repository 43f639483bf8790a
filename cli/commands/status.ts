/** `nas status RUN`: one run's state, its stages and the progress of the one running now. */
import { parseRunCommand } from '../args';
import { printReport, reportRun, withRun } from '../runs';

const HELP = `usage: nas status RUN [options]

  --json           print the report as JSON (status, stages, current stage and progress, failure, result)
  --work-dir DIR   the embedded Temporal's folder (default .nas, or NAS_HOME); ignored with TEMPORAL_ADDRESS

Exits 0 when the run was found, whatever its state; 1 when there is no such run.`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseRunCommand(
    argv,
    {
      json: { type: 'boolean', default: false },
      'work-dir': { type: 'string' },
    },
    HELP,
  );
  if (!parsed) return 0;
  const { values, runId } = parsed;

  return withRun(values['work-dir'], runId, async (runs, found) => {
    const report = await reportRun(runs, found);
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else printReport(report);
    return 0;
  });
}
