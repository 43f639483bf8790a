/**
 * `nas resume RUN`: carry a run that did not complete to its end. A cancelled, failed, terminated
 * or timed-out run starts again under its own id with its own input; every stage then finds what
 * the first attempt stored (finished trials and trainings are read back, long activities restart
 * from their newest checkpoint), so only the unfinished work is done. A run still open but with
 * nothing executing it (its embedded `nas run` was killed) gets a worker and is followed to the end.
 */
import { clusterFromEnv } from '../../infra/temporal-connection';
import { CliError, EXIT_BAD_INPUT, EXIT_FAILURE } from '../errors';
import { changedPlugins } from '../provenance';
import { parseRunCommand } from '../args';
import { embeddedDir, readInput, runState, stateText, withRun } from '../runs';
import { submitToCluster } from '../cluster-submission';
import { runEmbedded } from '../embedded-session';
import type { RunStart } from '../follow-run';
import { parseWorkers } from './run';
import { runFolder } from '../run-claim';
import { unavailableTargets } from '../target-preflight';
import { registryWithPluginFiles } from '../../plugins/load';

const HELP = `usage: nas resume RUN [options]

  --work-dir DIR   the embedded Temporal's folder (default .nas, or NAS_HOME); ignored with TEMPORAL_ADDRESS
  --workers N      embedded only: N worker processes on this machine (default: as many as the
                   pipeline keeps busy, up to the cores), as for \`nas run\`
  --verbose        embedded only: show the Temporal SDK's messages here too, as for \`nas run\`

Continues a cancelled, failed, terminated or timed-out run from its completed stages and
checkpoints, or attaches to a run that nothing executes. A completed run is left as it is.`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseRunCommand(
    argv,
    {
      'work-dir': { type: 'string' },
      workers: { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
    HELP,
  );
  if (!parsed) return 0;
  const { values, runId } = parsed;
  const workers = parseWorkers(values.workers, clusterFromEnv() !== undefined);

  const { how, input, was } = await withRun(values['work-dir'], runId, async (_runs, { handle, description }) => {
    const state = runState(description);
    if (state === 'completed') throw new CliError(`run ${runId} has already completed: nothing to resume, and its results stay as they are`, EXIT_FAILURE);
    if (state === 'continued_as_new') throw new CliError(`run ${runId} continued as new; resume its latest execution`, EXIT_FAILURE);
    const input = await readInput(handle, runId);
    if (!input) throw new CliError(`cannot read the input of run ${runId} from its history`);
    const how: RunStart = state === 'running' ? 'attach' : 'start';
    return { how, input, was: stateText(state) };
  });

  // The run's history and checkpoints were made by its plugins as they were; other code would not replay them.
  const changed = changedPlugins(input.plugins ?? [], !clusterFromEnv());
  if (changed.length > 0) {
    throw new CliError(
      `run ${runId} cannot go on: its ${changed.join('; its ')}. Restore the file as it was (its sha256 is in \`nas status ${runId}\`), or start a new run with the new file`,
      EXIT_BAD_INPUT,
    );
  }
  const cluster = clusterFromEnv();
  // The machine may have changed since the run started (its browser uninstalled, an endpoint gone):
  // refused here, the run stays as it was instead of failing again at its first measurement.
  const unavailable = cluster ? [] : unavailableTargets(input.targets, registryWithPluginFiles(input.pluginFiles));
  if (unavailable.length > 0) {
    for (const p of unavailable) console.error(`run ${runId}: ${p}`);
    console.error(`nas resume: run ${runId} stays as it was (${was}); nothing was started`);
    return EXIT_BAD_INPUT;
  }
  console.log(
    how === 'attach'
      ? `run ${runId} is still open (${was}); following it to the end`
      : `resuming run ${runId} (${was}): finished stages and checkpoints are reused, only unfinished work runs`,
  );
  console.log(`artifacts: ${runFolder(input.artifactLocation, runId)}`);
  const started = Date.now();
  if (cluster) return submitToCluster(cluster, input, false, input.artifactLocation, started, how);
  return runEmbedded({ workDir: embeddedDir(values['work-dir']), input, artifactLocation: input.artifactLocation, started, how, workers, verbose: values.verbose });
}
