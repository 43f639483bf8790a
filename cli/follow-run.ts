/**
 * Following a pipeline run from this process until it ends: start its workflow or attach to the open
 * one, show its progress, print its result. A run that fails or is cancelled ends in the one line that
 * says how to go on. The same for an embedded run and for one submitted to a cluster.
 */
import { CancelledFailure, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client, type WorkflowStartOptions } from '@temporalio/client';
import { pipelineWorkflow, type PipelineWorkflowInput } from '../workflows/pipeline';
import { CliError } from './errors';
import { followProgress } from './progress';
import { printResult } from './result-view';
import { runExists } from './run-claim';
import { failureText } from './runs';
import { strategySetOfRun, watchStrategyService } from './strategy-service';
import { callUntilAborted } from './abortable-call';

/** How to reach the run: start its pipeline workflow, or attach to the one already running (`nas resume`). */
export type RunStart = 'start' | 'attach';

export interface FollowedRun {
  taskQueue: string;
  input: PipelineWorkflowInput;
  artifactLocation: string;
  /** When the command started, for the run's time in the result. */
  started: number;
  how?: RunStart;
  /** Stops following (the run itself stays open). */
  interrupt?: AbortSignal;
  /** This process's own worker serves the run's strategy set (embedded mode). */
  servesStrategies?: boolean;
}

/** The run id is the workflow id, and the memo lets `nas list` name the pipeline without reading the input. */
export function pipelineStartOptions(input: PipelineWorkflowInput, taskQueue: string): WorkflowStartOptions<typeof pipelineWorkflow> {
  return { workflowId: input.runId, taskQueue, args: [input], memo: { pipelineName: input.pipelineName } };
}

/** The run's exit code once it has finished, its result printed. */
export async function followRun(client: Client, { taskQueue, input, artifactLocation, started, how = 'start', interrupt, servesStrategies = false }: FollowedRun): Promise<number> {
  const handle =
    how === 'attach'
      ? client.workflow.getHandle<typeof pipelineWorkflow>(input.runId)
      : await client.workflow.start(pipelineWorkflow, pipelineStartOptions(input, taskQueue)).catch((err: unknown) => {
          // Its artifacts live elsewhere (another location), but Temporal has the run.
          throw err instanceof WorkflowExecutionAlreadyStartedError ? runExists(input.runId, 'Temporal') : err;
        });
  const stopProgress = followProgress(client.workflow, input.runId);
  // An embedded run serves its own strategy; a cluster's workers may not.
  const set = strategySetOfRun(input);
  const stopWatch = set && !servesStrategies ? watchStrategyService(client, client.options.namespace, taskQueue, set, (line) => console.error(`note: ${line}`)) : () => undefined;
  try {
    const result = await (interrupt ? callUntilAborted(client, interrupt, () => handle.result()) : handle.result());
    stopWatch();
    await stopProgress();
    printResult(result, artifactLocation, started);
    return 0;
  } catch (err) {
    stopWatch();
    await stopProgress();
    if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure) {
      throw new CliError(`run ${input.runId} was cancelled; \`nas resume ${input.runId}\` continues it from its finished stages and checkpoints`);
    }
    if (err instanceof WorkflowFailedError) {
      throw new CliError(`run ${input.runId} failed: ${failureText(err, input.runId)}`);
    }
    throw err;
  }
}
