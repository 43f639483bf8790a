/**
 * A run submitted to a Temporal cluster (TEMPORAL_ADDRESS): `nas worker` processes elsewhere do the
 * work, and this process waits for the result, or returns at once with `--detach`.
 */
import { Client, Connection, ServiceError } from '@temporalio/client';
import type { TemporalTarget } from '../infra/temporal-connection';
import { pipelineWorkflow, type PipelineWorkflowInput } from '../workflows/pipeline';
import { CliError } from './errors';
import { followRun, pipelineStartOptions, type RunStart } from './follow-run';
import { rootCause } from './runs';

export async function submitToCluster(
  cluster: TemporalTarget,
  input: PipelineWorkflowInput,
  detach: boolean,
  artifactLocation: string,
  started: number,
  how: RunStart = 'start',
): Promise<number> {
  const connection = await Connection.connect({ address: cluster.address, tls: cluster.tls }).catch((err: Error) => {
    throw new CliError(`cannot reach Temporal at ${cluster.address}: ${err.message}`);
  });
  try {
    const client = new Client({ connection, namespace: cluster.namespace });
    if (detach) {
      await client.workflow.start(pipelineWorkflow, pipelineStartOptions(input, cluster.taskQueue));
      console.log(`submitted ${input.runId} to ${cluster.address} (namespace ${cluster.namespace}, task queue ${cluster.taskQueue})`);
      return 0;
    }
    console.log(`submitted to ${cluster.address}; waiting for \`nas worker\` processes on task queue ${cluster.taskQueue}`);
    return await followRun(client, { taskQueue: cluster.taskQueue, input, artifactLocation, started, how }).catch((err: unknown) => {
      if (err instanceof ServiceError) {
        throw new CliError(`lost Temporal at ${cluster.address} while following run ${input.runId} (${rootCause(err).message}); the run goes on there: \`nas watch ${input.runId}\` follows it again`);
      }
      throw err;
    });
  } finally {
    await connection.close();
  }
}
