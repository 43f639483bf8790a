/**
 * Claiming a run before it starts: a plain `nas run` beside an unfinished run of the same pipeline
 * is refused, and a run id whose files exist already is never reused. Both end in the one line that
 * says how to go on, and both happen before the pipeline workflow starts.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { openArtifactStore, putJson } from '../artifacts';
import { runLayout } from '../core/run-layout';
import type { Pipeline } from '../dsl/pipeline';
import { runningDevServer } from '../infra/temporal-dev-server';
import type { PipelineWorkflowInput } from '../workflows/pipeline';
import { CliError, EXIT_BAD_INPUT } from './errors';
import { formatTime, PIPELINE_WORKFLOW_TYPE, pipelineNameOf } from './runs';

/** The run's folder as the user reads it: the layout's root names a prefix, so it ends in a slash this text does not. */
export function runFolder(artifactLocation: string, runId: string): string {
  return `${artifactLocation}/${runLayout(runId).root.replace(/\/$/, '')}`;
}

/**
 * Writes the run's resolved pipeline and plugin list, which proves the store works before anything
 * starts; a run that has them already is that run's, never to be overwritten under its id.
 */
export async function claimRunId(artifactLocation: string, input: PipelineWorkflowInput, pipeline: Pipeline): Promise<void> {
  const store = openArtifactStore(artifactLocation);
  const { runId } = input;
  const layout = runLayout(runId);
  let exists = false;
  try {
    exists = (await store.head(layout.pipeline)) !== undefined;
    if (!exists) {
      await putJson(store, layout.pipeline, pipeline);
      await putJson(store, layout.plugins, input.plugins ?? []);
    }
  } catch (err) {
    throw new CliError(`the artifact store ${artifactLocation} is not writable: ${(err as Error).message}`);
  }
  if (exists) throw runExists(runId, runFolder(artifactLocation, runId));
}

/**
 * A plain `nas run FILE` after a crash would start the pipeline again from scratch beside the
 * unfinished run, and this process's worker would spend itself on that run's work too. So an open
 * run of the same pipeline stops it, with the one line that says how to go on.
 */
export async function refuseBesideUnfinished(client: Client, workDir: string, pipelineName: string, file: string): Promise<void> {
  const open: WorkflowExecutionInfo[] = [];
  for await (const info of client.workflow.list({ query: `WorkflowType = '${PIPELINE_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'` })) {
    if (pipelineNameOf(info) === pipelineName) open.push(info);
  }
  if (open.length === 0) return;
  const executing = new Set((runningDevServer(workDir)?.users ?? []).filter((u) => u.pid !== process.pid).map((u) => /executing run (\S+)$/.exec(u.what)?.[1]));
  const [latest] = open.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
  const others = open.length > 1 ? ` (and ${open.length - 1} more: \`nas list\`)` : '';
  const where = executing.has(latest.workflowId) ? 'another nas process is executing it now' : `nothing executes it since the nas run that started it stopped; \`nas resume ${latest.workflowId}\` continues it`;
  throw new CliError(
    `run ${latest.workflowId} of pipeline "${pipelineName}" has not finished (started ${formatTime(latest.startTime)})${others}: ${where}. ` +
      `\`nas run ${file} --new\` starts another run anyway; nothing was started`,
  );
}

/** A new run under an id that is taken: the one line that says how to go on instead of a stack. */
export function runExists(runId: string, where: string): CliError {
  return new CliError(`run ${runId} exists already (${where}): \`nas resume ${runId}\` continues it; a new run needs another --run-id, or none for a fresh one`, EXIT_BAD_INPUT);
}
