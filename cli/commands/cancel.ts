/**
 * `nas cancel RUN`: ask the run's pipeline workflow to cancel. Temporal carries the request to the
 * running stage's child workflow and its activity, which stops at its next heartbeat with its last
 * checkpoint written; the command waits a little for the run to close and says how it ended.
 */
import { CliError, EXIT_BAD_INPUT, EXIT_FAILURE } from '../errors';
import { parseRunCommand } from '../args';
import { findRun, printReport, reportRun, runState, stateText, withRun } from '../runs';

const HELP = `usage: nas cancel RUN [options]

  --wait SECONDS   how long to wait for the run to close (default 30)
  --terminate      end it at once instead: no stage gets to stop cleanly (for a run nothing executes)
  --work-dir DIR   the embedded Temporal's folder (default .nas, or NAS_HOME); ignored with TEMPORAL_ADDRESS

Exits 0 once the run has closed as cancelled (or terminated); 1 if it had already ended, ended
otherwise, or is still closing when the wait is over.`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseRunCommand(
    argv,
    {
      wait: { type: 'string', default: '30' },
      terminate: { type: 'boolean', default: false },
      'work-dir': { type: 'string' },
    },
    HELP,
  );
  if (!parsed) return 0;
  const { values, runId } = parsed;
  const waitSeconds = Number(values.wait);
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new CliError(`--wait must be a number of seconds, not "${values.wait}"`, EXIT_BAD_INPUT);

  return withRun(values['work-dir'], runId, async (runs, { handle, description }) => {
    const state = runState(description);
    if (state !== 'running') {
      throw new CliError(`run ${runId} has already ended (${stateText(state)}): there is nothing to cancel`);
    }
    if (values.terminate) {
      await handle.terminate('nas cancel --terminate');
      console.log(`run ${runId}: terminated`);
    } else {
      await handle.cancel();
      console.log(`run ${runId}: cancellation requested`);
      if (runs.serverStartedHere) {
        // A cancellation is carried out by a worker, and none is running in embedded mode now.
        console.log(
          `nothing is executing run ${runId} now (the \`nas run\` that started it has exited): it closes when the next ` +
            `embedded \`nas run\` picks it up, or at once with \`nas cancel --terminate ${runId}\``,
        );
        return EXIT_FAILURE;
      }
      // Only the wait is cut short here: whether and how the run closed is read from Temporal below.
      await runs.connection.withDeadline(Date.now() + waitSeconds * 1000, () => handle.result()).catch(() => undefined);
    }

    const report = await reportRun(runs, await findRun(runs, runId));
    if (report.status === 'running') {
      console.log(`run ${runId} is still closing after ${waitSeconds} s: its stage stops at its next heartbeat; \`nas status ${runId}\` shows when it has`);
      return EXIT_FAILURE;
    }
    printReport(report);
    if (report.status === 'cancelled' || report.status === 'terminated') return 0;
    console.log(`run ${runId} ended ${stateText(report.status)} before the cancellation took effect`);
    return EXIT_FAILURE;
  });
}
