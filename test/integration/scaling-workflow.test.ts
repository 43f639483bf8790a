/**
 * The compound-scaling workflow on a real dev server and an in-process worker: grid trials run as
 * activities, the table and the phi models land in the artifact store, the history replays against
 * today's code, and a rerun of the same run id reads every trial back instead of training again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { LocalArtifactStore, getJson } from '../../artifacts';
import { scaledArchitectures, scalingTrial } from '../../activities/scaling-trial';
import { writeJson } from '../../activities/write-json';
import { startTemporalDevServer } from '../../infra/temporal-dev-server';
import { compoundScalingWorkflow, type CompoundScalingInput } from '../../workflows/compound-scaling';
import { trialQueueOf } from '../../workflows/task-queues';
import { writeFashionSubset } from './support/fashion-subset';

jest.setTimeout(600_000);

const root = mkdtempSync(join(tmpdir(), 'nas-scaling-wf-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Table {
  chosen: string;
  candidates: { alpha: number; beta: number; gamma: number; macs: number; params: number; latencyMs: number | null; validationAccuracy: number; score: number }[];
}

test('grid trials, table, phi models; replay is deterministic and a rerun trains nothing', async () => {
  const dataDir = writeFashionSubset(join(root, 'fashion'), 200, 20);
  const artifacts = join(root, 'artifacts');
  const input: CompoundScalingInput = {
    runId: 'scale-1',
    artifactLocation: artifacts,
    seed: 5,
    dataset: { name: 'fashion-mnist', path: dataDir, resolution: 28, validationFraction: 0.25 },
    baseline: {
      arch: {
        name: 'tiny',
        resolution: 28,
        inputChannels: 1,
        numClasses: 10,
        stem: { channels: 8, kernel: 3, stride: 2 },
        blocks: [
          { expansion: 1, kernel: 3, stride: 1, outChannels: 8 },
          { expansion: 2, kernel: 3, stride: 2, outChannels: 16, seRatio: 0.25 },
        ],
        headChannels: null,
      },
    },
    grid: { gridStep: 0.1, maxCoefficient: 1.5, costRatio: 2, tolerance: 0.05, trialBudget: 3 },
    phis: [1, 2],
    // No target here: measuring saves the model, and tfjs' saver rejects Float32Arrays from jest's
    // sandboxed realm (the search tests run their worker as a CLI process for that reason). The
    // latency objective's arithmetic is covered by test/unit/workflows/scaling-choice.test.ts.
    objective: 'accuracy',
    epochs: 1,
    batchSize: 32,
    learningRate: 0.05,
    parallelTrials: 2,
    pluginFiles: [],
  };
  const server = await startTemporalDevServer({ workDir: join(root, 'work'), ui: false });
  const connection = await Connection.connect({ address: server.address });
  try {
    const workerConnection = await NativeConnection.connect({ address: server.address });
    const worker = await Worker.create({
      connection: workerConnection,
      taskQueue: 'scaling-test',
      workflowsPath: require.resolve('../../workflows/compound-scaling'),
      activities: { scaledArchitectures, writeJson },
    });
    // The grid's trials go to the trials queue (workflows/task-queues.ts), as in every worker process.
    const trials = await Worker.create({ connection: workerConnection, taskQueue: trialQueueOf('scaling-test'), activities: { scalingTrial } });
    const client = new Client({ connection });
    const [first, again] = await worker.runUntil(
      trials.runUntil(async () => {
        const a = await client.workflow.execute(compoundScalingWorkflow, { workflowId: 'scale-1.scaling', taskQueue: 'scaling-test', args: [input] });
        const b = await client.workflow.execute(compoundScalingWorkflow, { workflowId: 'scale-1.scaling-again', taskQueue: 'scaling-test', args: [input] });
        return [a, b];
      }),
    );
    const store = new LocalArtifactStore(artifacts);
    const table = await getJson<Table>(store, first.tableKey);
    expect(first.tableKey).toBe('runs/scale-1/scaling/table.json');
    expect(table.candidates).toHaveLength(3);
    for (const c of table.candidates) {
      expect(Math.abs(c.alpha * c.beta ** 2 * c.gamma ** 2 - 2) / 2).toBeLessThanOrEqual(0.05 + 1e-9);
      expect(c.macs).toBeGreaterThan(0);
      expect(c.latencyMs).toBeNull();
    }
    expect(table.chosen).toBe([first.alpha, first.beta, first.gamma].join('_'));
    expect(first.scaled.map((s) => s.archKey)).toEqual(['runs/scale-1/scaling/phi-1.arch.json', 'runs/scale-1/scaling/phi-2.arch.json']);
    expect(first.scaled[1].macs).toBeGreaterThan(first.scaled[0].macs);
    // Read back to the last bit (trainSeconds included): nothing was retrained.
    expect(again).toEqual(first);
    expect(await getJson<Table>(store, first.tableKey)).toEqual(table);

    const history = await client.workflow.getHandle('scale-1.scaling').fetchHistory();
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows/compound-scaling') }, history, 'scale-1.scaling');
  } finally {
    await connection.close();
    await server.stop();
  }
});
