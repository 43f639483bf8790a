/**
 * `nas run FILE`: its flags, and every check that can refuse the run before anything starts, then
 * the run itself. Without TEMPORAL_ADDRESS it runs embedded (cli/embedded-session.ts); with it, it is
 * submitted to the cluster (cli/cluster-submission.ts) while `nas worker` processes elsewhere do the work.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { resolvePipelineFile, PipelineValidationError, type LoadedPipeline } from '../../dsl/load';
import type { Pipeline } from '../../dsl/pipeline';
import { clusterFromEnv } from '../../infra/temporal-connection';
import { workflowBundle } from '../../infra/workflow-bundle';
import { PluginLoadError } from '../../plugins/load';
import { validateRunId } from '../args';
import { submitToCluster } from '../cluster-submission';
import { runEmbedded } from '../embedded-session';
import { CliError, EXIT_BAD_INPUT } from '../errors';
import { workflowInput } from '../plan';
import { declaredTargets, unrunnable } from '../../workflows/plan';
import { claimRunId, refuseBesideUnfinished, runFolder } from '../run-claim';
import { embeddedDir } from '../runs';
import { strategySetOfRun } from '../strategy-service';
import { unavailableTargets } from '../target-preflight';

const HELP = `usage: nas run <pipeline file> [options]

  --work-dir DIR   where the embedded Temporal keeps its database and logs, and the run its
                   artifacts unless the pipeline names a location (default .nas, or NAS_HOME)
  --run-id ID      the run's id (default <pipeline name>-<time>-<random>)
  --workers N      embedded only: N worker processes on this machine, this one included (default:
                   as many as the pipeline keeps busy at once, up to the cores). Each is one
                   elastic-training participant and runs one trial at a time.
                   The others' logs go to <work-dir>/workers/<run id>/
  --detach         with TEMPORAL_ADDRESS: submit and return without waiting
  --new            embedded only: start a new run even though a run of this pipeline is unfinished
                   (without it, nas run refuses and names the run to \`nas resume\`)
  --verbose        embedded only: show the Temporal SDK's messages here, not only in
                   <work-dir>/logs/<run id>.log

Without TEMPORAL_ADDRESS the embedded dev server and an in-process worker run the pipeline.
With it (and TEMPORAL_NAMESPACE, TEMPORAL_TLS_* as needed), the run is submitted to that cluster.`;

function newRunId(name: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${name}-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Local artifact folders become absolute, so workers started elsewhere agree on the place. */
function resolveLocation(location: string, baseDir: string): string {
  if (/^[a-z][a-z0-9+.-]+:\/\//i.test(location)) return location;
  return path.resolve(baseDir, location);
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'work-dir': { type: 'string' },
      'run-id': { type: 'string' },
      workers: { type: 'string' },
      detach: { type: 'boolean', default: false },
      new: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError(`expected one pipeline file\n\n${HELP}`, EXIT_BAD_INPUT);
  const file = positionals[0];

  let loaded: LoadedPipeline;
  try {
    loaded = resolvePipelineFile(file);
  } catch (err) {
    if (err instanceof PipelineValidationError) {
      console.error(err.message);
      console.error(`nas run: ${file} is invalid (${err.problems.length} problem${err.problems.length > 1 ? 's' : ''}); nothing was started`);
      return EXIT_BAD_INPUT;
    }
    throw err;
  }
  const pipeline: Pipeline = loaded.pipeline;
  const problems = [...unrunnable(loaded), ...(clusterFromEnv() ? [] : unavailableTargets(declaredTargets(loaded), loaded.plugins))];
  if (problems.length > 0) {
    for (const p of problems) console.error(`${file}: ${p}`);
    console.error('nas run: nothing was started');
    return EXIT_BAD_INPUT;
  }

  // Everything that can refuse the run does so before the first artifact is written.
  const cluster = clusterFromEnv();
  if (values.detach && !cluster) throw new CliError('--detach needs TEMPORAL_ADDRESS: an embedded run lives only as long as this process', EXIT_BAD_INPUT);
  const workers = parseWorkers(values.workers, cluster !== undefined);

  const runId = values['run-id'] !== undefined ? validateRunId(values['run-id']) : newRunId(pipeline.name);
  const workDir = embeddedDir(values['work-dir']);
  // What a run makes lives in its work folder unless the pipeline names another place.
  const artifactLocation = pipeline.artifacts.location ? resolveLocation(pipeline.artifacts.location, process.cwd()) : path.join(workDir, 'artifacts');
  const input = workflowInput(loaded, runId, artifactLocation);
  // A user strategy becomes workflow code: a module that cannot be (it imports Node APIs, say) is
  // refused now, not by a worker after the run has started. The build is kept for this process's worker.
  const set = strategySetOfRun(input);
  if (set) {
    try {
      await workflowBundle([set]);
    } catch (err) {
      if (err instanceof PluginLoadError) {
        console.error(`${file}: stages.baselineSearch.strategy: ${err.message}`);
        console.error('nas run: nothing was started');
        return EXIT_BAD_INPUT;
      }
      throw err;
    }
  }
  // Nothing is written until every check has passed; in embedded mode one of them needs the server.
  const claim = async (client?: Client): Promise<void> => {
    if (client && !values['run-id'] && !values.new) await refuseBesideUnfinished(client, workDir, pipeline.name, file);
    await claimRunId(artifactLocation, input, pipeline);
    console.log(`run ${runId}: pipeline "${pipeline.name}" from ${file}`);
    console.log(`artifacts: ${runFolder(artifactLocation, runId)}`);
  };
  const started = Date.now();
  if (cluster) {
    await claim();
    return submitToCluster(cluster, input, values.detach ?? false, artifactLocation, started);
  }
  return runEmbedded({ workDir, input, artifactLocation, started, workers, verbose: values.verbose, beforeStart: claim });
}

/**
 * `--workers N` of `nas run` and `nas resume`: a whole number from 1 up; only the embedded
 * server's runs start processes. Undefined when not given: the run's pipeline decides
 * (cli/worker-count.ts).
 */
export function parseWorkers(value: string | undefined, toCluster: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new CliError(`--workers ${value}: expected a whole number from 1 to 64`, EXIT_BAD_INPUT);
  if (toCluster && n > 1) {
    throw new CliError('--workers starts processes beside the embedded server; with TEMPORAL_ADDRESS, start `nas worker` processes for the cluster instead', EXIT_BAD_INPUT);
  }
  return n;
}
