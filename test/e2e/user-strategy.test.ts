/**
 * A user's multi-trial strategy on the real stack, as a user meets it: scaffolded by `nas plugin
 * new`, its own tests run by `nas plugin test`, listed under `plugins:` and run by the compiled CLI.
 * Embedded: a `nas run` SIGKILLed mid-trial is refused by `nas resume` while the strategy file is
 * edited, then finished by it once restored, with the undisturbed run's very trials. Cluster: a
 * plain `nas worker` does not serve the strategy, and `nas run` and `nas status` say so within
 * seconds; two `nas worker --plugins` processes then carry the run to the same result.
 */
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { LocalArtifactStore, getJson } from '../../artifacts';
import { runLayout } from '../../core/run-layout';
import { startTemporalDevServer } from '../../infra/temporal-dev-server';
import { strategySetOf } from '../../infra/workflow-bundle';
import { hasWorkers } from '../../cli/pollers';
import type { TrialSummary } from '../../workflows/multi-trial-search';
import { strategyQueueOf } from '../../workflows/task-queues';
import { cleanEnv, expectExitedZero, runCli, startCli, stopChild, stopLeftoverDevServer, waitFor } from '../integration/support/cli';
import { writeFashionSubset } from '../integration/support/fashion-subset';
import { TINY_SEARCH_SPACE_YAML } from '../integration/support/tiny-space';

jest.setTimeout(600_000);

const root = mkdtempSync(join(tmpdir(), 'nas-user-strategy-'));
const dataDir = writeFashionSubset(join(root, 'fashion'), 1500, 300);
const artifacts = join(root, 'artifacts');
const pluginDir = join(root, 'my-hill-climb');
const pluginFile = join(pluginDir, 'index.ts');
const embeddedWork = [join(root, 'work-undisturbed'), join(root, 'work-killed')];
const env = cleanEnv();

const pipeline = join(root, 'pipeline.yaml');
writeFileSync(
  pipeline,
  `version: 1
name: user-strategy
seed: 9
dataset: { name: fashion-mnist, path: ${dataDir} }
artifacts: { location: ${artifacts} }
plugins: [./my-hill-climb]
${TINY_SEARCH_SPACE_YAML}stages:
  baselineSearch:
    strategy: { plugin: my-hill-climb, config: { trials: 4 } }
    epochs: 2
    batchSize: 32
    parallelTrials: 2
    checkpointEverySteps: 5
    heartbeatTimeoutSeconds: 5
`,
);

interface Summary {
  best: TrialSummary;
  trials: TrialSummary[];
}

/** What must match between two runs of one seed: everything but timings and the run's own keys. */
function outcome(summary: Summary) {
  const strip = ({ trial, choices, validationAccuracy, score, blocks, params, macs }: TrialSummary) => ({ trial, choices, validationAccuracy, score, blocks, params, macs });
  return { best: strip(summary.best), trials: summary.trials.map(strip) };
}

const summaryOf = (runId: string) => getJson<Summary>(new LocalArtifactStore(artifacts), runLayout(runId).search.summary);

let undisturbed: ReturnType<typeof outcome>;

beforeAll(async () => {
  expectExitedZero(await runCli(['plugin', 'new', 'search-strategy', 'my-hill-climb', '--dir', root], env));
  expect(readFileSync(pluginFile, 'utf8')).toContain("from 'hwnas/plugins'");
  const tested = await runCli(['plugin', 'test', pluginDir], env);
  expectExitedZero(tested);
  expect(tested.stderr).toMatch(/Tests:\s+3 passed, 3 total/);
  const run = await runCli(['run', pipeline, '--run-id', 'undisturbed', '--work-dir', embeddedWork[0]], env);
  expectExitedZero(run);
  expect(run.stdout).toMatch(/search: 4 trials; best trial \d/);
  undisturbed = outcome(await summaryOf('undisturbed'));
});

afterAll(() => {
  for (const dir of embeddedWork) stopLeftoverDevServer(dir);
});

test('embedded: SIGKILLed mid-trial, refused while its strategy file is edited, resumed to the undisturbed result', async () => {
  const workDir = embeddedWork[1];
  const runner = startCli(['run', pipeline, '--run-id', 'killed', '--work-dir', workDir], env);
  const store = new LocalArtifactStore(artifacts);
  await waitFor(
    'a trial checkpoint',
    async () => ((await store.list('runs/killed/search/trials/')).some((k) => k.includes('/checkpoints/')) ? true : undefined),
    120_000,
    100,
  );
  runner.kill('SIGKILL');
  await new Promise((resolve) => runner.once('close', resolve));
  expect(await store.head('runs/killed/search/summary.json')).toBeUndefined();

  const original = readFileSync(pluginFile, 'utf8');
  appendFileSync(pluginFile, '// edited after the run started\n');
  const refused = await runCli(['resume', 'killed', '--work-dir', workDir], env);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain(`run killed cannot go on: its search strategy ${pluginFile} (my-hill-climb@0.1.0) changed since the run started`);
  expect(refused.stderr).not.toMatch(/\n\s+at /);

  writeFileSync(pluginFile, original);
  const resumed = await runCli(['resume', 'killed', '--work-dir', workDir], env);
  expectExitedZero(resumed);
  expect(outcome(await summaryOf('killed'))).toEqual(undisturbed);

  const status = await runCli(['status', 'killed', '--work-dir', workDir], env);
  expectExitedZero(status);
  expect(status.stdout).toContain(`plugin search-strategy my-hill-climb 0.1.0: ${pluginFile} (sha256 ${strategySetOf([pluginFile])!.modules[0].sha256.slice(0, 12)})`);
});

test('cluster: without a worker serving the strategy the run says so at once; two `nas worker --plugins` finish it alike', async () => {
  const server = await startTemporalDevServer({ workDir: join(root, 'cluster'), ui: false });
  const connection = await Connection.connect({ address: server.address });
  const clusterEnv = cleanEnv({ TEMPORAL_ADDRESS: server.address, NAS_TASK_QUEUE: 'user-strategy' });
  const plain = startCli(['worker', '--identity', 'plain'], clusterEnv);
  const withPlugins: ReturnType<typeof startCli>[] = [];
  const submitter = startCli(['run', pipeline, '--run-id', 'cluster-1'], clusterEnv);
  const submitterExit = new Promise<number | null>((resolve) => submitter.once('close', resolve));
  try {
    const started = Date.now();
    await waitFor('nas run to say no worker serves the strategy', async () => (submitter.output().stderr.includes('no worker serves strategy set') ? true : undefined), 30_000, 100);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(submitter.output().stderr).toContain(`\`nas worker --plugins ${pluginFile}\``);
    // The plain worker is up and serving the main queue; the search still waits, and status says on what.
    const client = new Client({ connection });
    await waitFor('the plain worker', async () => ((await hasWorkers(client, 'default', 'user-strategy')) ? true : undefined), 60_000);
    const status = await waitFor(
      'nas status to name the missing strategy worker',
      async () => {
        const s = await runCli(['status', 'cluster-1'], clusterEnv, 60_000);
        return s.stdout.includes('no worker serves strategy set') ? s : undefined;
      },
      60_000,
      1000,
    );
    expect(status.stdout).toContain('stage search: running');

    for (const identity of ['plugins-a', 'plugins-b']) withPlugins.push(startCli(['worker', '--identity', identity, '--plugins', pluginDir], clusterEnv));
    expect(await submitterExit).toBe(0);
    expect(submitter.output().stderr).toContain('a worker serves strategy set');
    expect(outcome(await summaryOf('cluster-1'))).toEqual(undisturbed);
    const queue = strategyQueueOf('user-strategy', strategySetOf([pluginFile])!.id);
    const pollers = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: queue } });
    expect(new Set((pollers.pollers ?? []).map((p) => p.identity))).toEqual(new Set(['plugins-a', 'plugins-b']));
  } finally {
    for (const w of withPlugins) await stopChild(w);
    await stopChild(plain);
    await stopChild(submitter);
    await connection.close();
    await server.stop();
  }
});
