/**
 * A run on this machine alone (no TEMPORAL_ADDRESS): the embedded Temporal dev server, started or
 * shared with other nas processes, an in-process worker and the extra `--workers` processes, for as
 * long as the run is followed. Ctrl-C and a dead server end the session with the line that says how
 * to go on; the run itself stays open for `nas resume`.
 */
import * as path from 'node:path';
import { Client, Connection, ServiceError } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { startLocalWorkers, type LocalWorkers } from '../infra/local-workers';
import { defaultWorkerCount } from './worker-count';
import { alive } from '../infra/process-identity';
import { startTemporalDevServer, type DevServer } from '../infra/temporal-dev-server';
import { taskQueueFromEnv } from '../infra/temporal-connection';
import { createNasWorker, installRuntime } from '../infra/worker';
import type { StrategySet } from '../infra/workflow-bundle';
import type { PipelineWorkflowInput } from '../workflows/pipeline';
import { CliError } from './errors';
import { followRun, type RunStart } from './follow-run';
import { strategySetOfRun } from './strategy-service';

export interface EmbeddedRun {
  workDir: string;
  input: PipelineWorkflowInput;
  artifactLocation: string;
  started: number;
  how?: RunStart;
  /** Worker processes in all, this one included; absent: as many as the pipeline keeps busy (cli/worker-count.ts). */
  workers?: number;
  /** The SDK's log lines on stderr too, not only in the run's log file. */
  verbose?: boolean;
  /** Checks that need the server and the run's first writes, once it is up and before the run starts. */
  beforeStart?: (client: Client) => Promise<void>;
}

export async function runEmbedded({ workDir, input, artifactLocation, started, how = 'start', workers, verbose = false, beforeStart }: EmbeddedRun): Promise<number> {
  const count = workers !== undefined ? { count: workers, why: '--workers' } : defaultWorkerCount(input);
  const strategySets = embeddedStrategySets(input);
  let server: DevServer | undefined;
  let extra: LocalWorkers | undefined;
  // Installed until this function returns, not only while the run is followed: a second Ctrl-C
  // while the workers, connections and server are being stopped must still quit at once and take
  // the server with it (without a handler the signal would kill this process and leave the
  // server, in its own process group, running).
  let interrupt: SessionWatch | undefined;
  try {
    server = await startTemporalDevServer({ workDir, ownProcessGroup: true, user: `the nas process executing run ${input.runId}` });
    const taskQueue = taskQueueFromEnv();
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection, namespace: 'default' });
    let nativeConnection: NativeConnection | undefined;
    try {
      await beforeStart?.(client);
      console.log(
        `temporal: ${server.reused ? 'reusing' : 'started'} dev server at ${server.address} (database ${path.join(workDir, 'temporal.db')})` +
          (server.uiAddress ? `\ntemporal web UI: ${server.uiAddress}/namespaces/default/workflows/${input.runId}` : ''),
      );
      installRunLog(workDir, input.runId, verbose);
      nativeConnection = await NativeConnection.connect({ address: server.address });
      const worker = await createNasWorker({ connection: nativeConnection, namespace: 'default', taskQueue, strategySets });
      if (count.count > 1) extra = startExtraWorkers(count.count - 1, count.why, path.join(workDir, 'workers', input.runId), server.address, taskQueue);
      // Quitting at once: the server gets a second to exit before SIGKILL (it once took 10 s, the default).
      interrupt = interruptOnSignals(input.runId, () => Promise.allSettled([extra?.stop(0), server?.stop({ graceMs: 1000 })]));
      const serverLost = watchServerProcess(server.pid);
      try {
        const code = await worker.runUntil(
          followRun(client, { taskQueue, input, artifactLocation, started, how, interrupt: AbortSignal.any([interrupt.signal, serverLost.signal]), servesStrategies: true }),
        );
        if (server.uiAddress) console.log(`the web UI closes with this process; \`nas ui ${input.runId}\` opens it again`);
        return code;
      } catch (err) {
        if (interrupt.signal.aborted) throw interrupted(interrupt.signal.reason as NodeJS.Signals, input.runId);
        if (serverLost.signal.aborted || err instanceof ServiceError) throw serverStopped(server, input.runId);
        throw err;
      } finally {
        serverLost.stop();
      }
    } finally {
      await extra?.stop();
      await connection.close();
      await nativeConnection?.close();
    }
  } finally {
    try {
      await server?.stop();
    } finally {
      // Even when stopping the server failed: a handler left installed would swallow the next Ctrl-C of whoever called us.
      interrupt?.stop();
    }
  }
}

/** The strategy set this process serves for the run (`nas resume` has refused one whose file changed). */
function embeddedStrategySets(input: PipelineWorkflowInput): StrategySet[] {
  const set = strategySetOfRun(input);
  return set ? [set] : [];
}

/** The SDK's messages go to the run's own log file; the terminal keeps the run's progress readable. */
function installRunLog(workDir: string, runId: string, verbose: boolean): void {
  const logFile = path.join(workDir, 'logs', `${runId}.log`);
  installRuntime({ file: logFile, echo: verbose });
  console.log(`log: ${logFile}${verbose ? '' : ' (Temporal SDK messages; --verbose shows them here too)'}`);
}

/** `--workers N`: the N - 1 processes beside this one, each an elastic-training participant with its own log. */
function startExtraWorkers(count: number, why: string, logDir: string, address: string, taskQueue: string): LocalWorkers {
  const extra = startLocalWorkers({
    count,
    address,
    namespace: 'default',
    taskQueue,
    logDir,
    onExit: (w, code, signal) =>
      console.error(`worker process ${w.index} (pid ${w.pid}) ended ${signal ? `on ${signal}` : `with exit code ${code}`}; the run goes on without it (log: ${w.log})`),
  });
  console.log(`workers: this process and ${count} more (${why}; pid ${extra.workers.map((w) => w.pid).join(', ')}; logs in ${logDir})`);
  return extra;
}

/** A watch that ends the session early; `stop` removes it once the run is no longer followed. */
interface SessionWatch {
  signal: AbortSignal;
  stop(): void;
}

/** Exit codes of a process ended by SIGINT / SIGTERM, as shells report them. */
const EXIT_ON_SIGNAL: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * The Temporal runtime stops the workers on SIGINT / SIGTERM; this stops following the run. A second
 * signal quits at once, after `quitNow` has stopped the processes this session started.
 */
function interruptOnSignals(runId: string, quitNow: () => Promise<unknown>): SessionWatch {
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!interrupt.signal.aborted) {
      // The workers take a few seconds to stop (the running stage writes its checkpoint): say so at once.
      console.error(`\n${signal}: stopping; the running stage writes a checkpoint first (a few seconds). ${signal === 'SIGINT' ? 'Ctrl-C' : signal} again quits at once`);
      interrupt.abort(signal);
      return;
    }
    // A second signal: the user will not wait. What is lost is the work since the last checkpoint, no more.
    console.error(`nas run: ${interrupted(signal, runId, 'quit without waiting for a checkpoint').message}`);
    void quitNow().then(() => process.exit(EXIT_ON_SIGNAL[signal] ?? 1));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: interrupt.signal,
    stop: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** A dead server would otherwise surface only once the client's retries give up, a minute later. */
function watchServerProcess(serverPid: number): SessionWatch {
  const serverLost = new AbortController();
  const serverWatch = setInterval(() => {
    if (alive(serverPid) || serverLost.signal.aborted) return;
    // Said at once: the workers' stop then waits out their last calls to the dead server (up to a minute).
    console.error(`\nthe embedded Temporal server (pid ${serverPid}) has stopped; stopping the workers`);
    serverLost.abort();
  }, 1000);
  return { signal: serverLost.signal, stop: () => clearInterval(serverWatch) };
}

/** Why `nas run` stopped following its run: the run itself is left open. */
function interrupted(signal: NodeJS.Signals, runId: string, how = 'this process stopped'): CliError {
  return new CliError(
    `interrupted by ${signal}: ${how}; run ${runId} stays open, and \`nas resume ${runId}\` continues it from its finished stages and checkpoints`,
    EXIT_ON_SIGNAL[signal] ?? 1,
  );
}

function serverStopped(server: DevServer, runId: string): CliError {
  return new CliError(
    `the embedded Temporal server at ${server.address} stopped (its log: ${server.logFile}). ` +
      `Run ${runId} stays as its last checkpoint left it: \`nas resume ${runId}\` starts the server again and continues it`,
  );
}
