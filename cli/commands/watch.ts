/**
 * `nas watch RUN`: attach to a run and show its live progress until it ends. Watching changes
 * nothing: Ctrl-C detaches and the run goes on.
 */
import { CliError, EXIT_FAILURE } from '../errors';
import { parseRunCommand } from '../args';
import { followProgress } from '../progress';
import { hasWorkers } from '../pollers';
import { findRun, printReport, reportRun, stateText, withRun } from '../runs';
import { callUntilAborted } from '../abortable-call';

const HELP = `usage: nas watch RUN [options]

  --work-dir DIR   the embedded Temporal's folder (default .nas, or NAS_HOME); ignored with TEMPORAL_ADDRESS

Shows the run's progress until it ends; exits 0 if it completed, 1 otherwise.
Ctrl-C detaches (exit 130) without cancelling the run: \`nas cancel RUN\` does that.`;

/** The shell's convention for a process ended by SIGINT. */
const EXIT_INTERRUPTED = 130;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseRunCommand(
    argv,
    {
      'work-dir': { type: 'string' },
    },
    HELP,
  );
  if (!parsed) return 0;
  const { values, runId } = parsed;

  return withRun(values['work-dir'], runId, async (runs, found) => {
    const before = await reportRun(runs, found);
    printReport(before);
    if (before.status !== 'running') {
      console.log(`run ${runId} has already ended (${stateText(before.status)}): nothing to watch`);
      return before.status === 'completed' ? 0 : EXIT_FAILURE;
    }
    if (runs.serverStartedHere) {
      // Nothing will move: watching would wait forever.
      throw new CliError(
        `run ${runId} is open but nothing is executing it: the \`nas run\` that started it has exited. ` +
          `The next embedded \`nas run\` picks it up again; \`nas cancel --terminate ${runId}\` ends it now`,
      );
    }
    if (!(await hasWorkers(runs.client, runs.client.options.namespace, found.description.taskQueue))) {
      console.log(`no worker is polling task queue ${found.description.taskQueue} now; the run goes on when one does`);
    }

    console.log(`watching run ${runId} on ${runs.where}; Ctrl-C detaches, the run goes on`);
    const stopProgress = followProgress(runs.client.workflow, runId);
    const detach = new AbortController();
    const onInterrupt = (): void => detach.abort();
    process.once('SIGINT', onInterrupt);
    // How the run ended is read afterwards from Temporal, so the result's value and error do not matter here.
    const ended = await callUntilAborted(runs.connection, detach.signal, () => found.handle.result()).then(
      () => true,
      () => !detach.signal.aborted,
    );
    process.off('SIGINT', onInterrupt);
    await stopProgress();
    if (!ended) {
      console.log(`\ndetached from run ${runId}; it goes on (\`nas watch ${runId}\` follows it again, \`nas cancel ${runId}\` stops it)`);
      return EXIT_INTERRUPTED;
    }

    const after = await reportRun(runs, await findRun(runs, runId));
    printReport(after);
    return after.status === 'completed' ? 0 : EXIT_FAILURE;
  });
}
