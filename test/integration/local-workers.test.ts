/**
 * `nas run --workers N` on the real stack (the compiled CLI against its embedded Temporal): the
 * extra worker processes join elastic training and take parallel trials but never the work that
 * runs alone, are stopped with the run, and do not outlive a `nas run` that is SIGKILLed.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { startTemporalDevServer } from '../../infra/temporal-dev-server';
import type { PipelineWorkflowResult } from '../../workflows/pipeline';
import { cleanEnv, expectExitedZero, runCli, startCli, stopChild, stopLeftoverDevServer, waitFor } from './support/cli';
import { writeFashionSubset } from './support/fashion-subset';
import { TINY_SEARCH_SPACE_YAML } from './support/tiny-space';

jest.setTimeout(300_000);

const root = mkdtempSync(join(tmpdir(), 'nas-local-workers-'));
const dataDir = writeFashionSubset(join(root, 'fashion'), 6000, 500);
const workDir = join(root, 'work');
const artifacts = join(root, 'artifacts');
const env = cleanEnv();

/** Search, scaling and evaluation before elastic training, on a tiny space: work for every queue. */
const EARLIER_STAGES = `${TINY_SEARCH_SPACE_YAML}stages:
  baselineSearch:
    strategy: { plugin: proxyless-gradient }
    target: proxy
    epochs: 3
    warmupEpochs: 1
    trainSubset: 2000
    batchSize: 64
  compoundScaling:
    gridStep: 0.1
    costRatio: 1.5
    tolerance: 0.15
    trialBudget: 2
    epochs: 1
    trainSubset: 1000
    phis: [1]
  evaluation:
    targets: [proxy]
`;

function pipelineFile(name: string, epochs: number, earlierStages = false): string {
  const file = join(root, `${name}.yaml`);
  writeFileSync(
    file,
    `version: 1
name: ${name}
seed: 4
dataset: { name: fashion-mnist, path: ${dataDir} }
artifacts: { location: ${artifacts} }
${earlierStages ? EARLIER_STAGES : 'stages:\n'}  elasticTraining:
    perWorkerBatch: 32
    workers: { min: 1, max: 2 }
    epochs: ${epochs}
    learningRate: 0.03
    checkpointEverySteps: 20
    heartbeatTimeoutSeconds: 10
`,
  );
  return file;
}

/** Running, not merely unreaped: an orphan's zombie lingers where PID 1 does not reap (containers). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may itself hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The pids `nas run` prints for the processes it started beside itself. */
function workerPids(stdout: string): number[] {
  const line = /^workers: this process and \d+ more \(.*; pid ([\d, ]+);/m.exec(stdout);
  return line ? line[1].split(',').map((p) => Number(p.trim())) : [];
}

interface StartedActivity {
  type: string;
  queue: string;
  /** The worker that ran it: `nas run`'s own, or `nas-local-<i>-<pid>` for the processes it added. */
  identity: string;
}

/** Every activity the run's stage workflows started, read back from the server's history. */
async function startedActivities(workDir: string, runId: string): Promise<StartedActivity[]> {
  const server = await startTemporalDevServer({ workDir, ui: false });
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection });
    const result = (await client.workflow.getHandle(runId).result()) as PipelineWorkflowResult;
    const started: StartedActivity[] = [];
    for (const { workflowId } of result.stages) {
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const scheduled = new Map<string, { type: string; queue: string }>();
      for (const event of history.events ?? []) {
        const s = event.activityTaskScheduledEventAttributes;
        if (s) scheduled.set(String(event.eventId), { type: s.activityType?.name ?? '', queue: s.taskQueue?.name ?? '' });
        const begun = event.activityTaskStartedEventAttributes;
        if (begun) started.push({ ...scheduled.get(String(begun.scheduledEventId))!, identity: begun.identity ?? '' });
      }
    }
    return started;
  } finally {
    await connection.close();
    await server.stop();
  }
}

const children: ChildProcess[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => stopChild(c)));
  // The SIGKILLed `nas run` leaves its dev server behind (a later `nas resume` reuses it); this suite ends it.
  stopLeftoverDevServer(workDir);
});

describe('nas run --workers', () => {
  test('an invalid count is refused before anything starts', async () => {
    for (const bad of ['0', 'two', '1.5']) {
      const result = await runCli(['run', pipelineFile('refused', 1), '--workers', bad, '--work-dir', workDir], env, 60_000);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`--workers ${bad}: expected a whole number from 1 to 64`);
    }
    expect(existsSync(join(artifacts, 'runs'))).toBe(false);
    expect(existsSync(join(workDir, 'temporal.db'))).toBe(false);
  });

  test('with 2, the second process trains elastically and takes trials beside this one, never the work that runs alone, and is gone when the run ends', async () => {
    // A cluster's TLS setting left in the shell must not make the added process dial the embedded
    // server (plain gRPC on loopback) with TLS.
    const withTls = cleanEnv({ TEMPORAL_TLS: '1' });
    const result = await runCli(['run', pipelineFile('two-workers', 3, true), '--workers', '2', '--work-dir', workDir], withTls, 280_000);
    expectExitedZero(result);
    const pids = workerPids(result.stdout);
    expect(pids).toHaveLength(1);
    expect(result.stdout).toMatch(/elastic \S+: 3 epochs in \d+ steps on 2 worker processes/);
    expect(alive(pids[0])).toBe(false);
    const runId = /^run (\S+): pipeline "two-workers"/m.exec(result.stdout)![1];
    const log = readFileSync(join(workDir, 'workers', runId, 'worker-1.log'), 'utf8');
    expect(log).toContain(`worker nas-local-1-`);

    // The search epochs, latency table, coordinator and evaluation ran on the process with all the
    // threads; the two scaling trials, dispatched together, one in each process.
    const started = await startedActivities(workDir, runId);
    const added = (a: StartedActivity) => a.identity.startsWith('nas-local-1-');
    const alone = started.filter((a) => a.queue === 'nas');
    expect(alone.map((a) => a.type)).toEqual(expect.arrayContaining(['supernetEpoch', 'scaledArchitectures', 'elasticCoordinator', 'evaluateModel']));
    expect(alone.filter(added)).toEqual([]);
    const trials = started.filter((a) => a.type === 'scalingTrial');
    expect(trials.map((a) => a.queue)).toEqual(['nas-trials', 'nas-trials']);
    expect(trials.filter(added)).toHaveLength(1);
    expect(started.some((a) => a.type === 'elasticParticipant' && added(a))).toBe(true);
  }, 320_000);

  test('a SIGKILLed nas run takes its worker processes with it', async () => {
    const child = startCli(['run', pipelineFile('killed', 20), '--workers', '2', '--work-dir', workDir], env);
    children.push(child);
    const pid = await waitFor('the worker pid', async () => workerPids(child.output().stdout)[0], 120_000);
    const runId = /^run (\S+): pipeline "killed"/m.exec(child.output().stdout)![1];
    // Killed mid-training, once the extra process holds an elastic slot (the progress line counts it).
    await waitFor('both processes training', async () => (/step [1-9]\d*\s+2 workers/.test(child.output().stdout) ? true : undefined), 120_000);
    expect(alive(pid)).toBe(true);
    child.kill('SIGKILL');
    await waitFor('the worker process to exit', async () => (alive(pid) ? undefined : true), 30_000);
    expect(readdirSync(join(workDir, 'workers', runId))).toEqual(['worker-1.log']);
  });
});
