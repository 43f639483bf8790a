/**
 * Task-queue names shared by workflow code and worker set-up (no Temporal imports, so both sides
 * can load it). A pipeline's work goes to three queues of one name:
 * - the main queue: workflows and the activities that run one at a time (search epochs, latency
 *   tables, elastic coordination, evaluation), which want a whole machine's threads;
 * - the trials queue: trials that a workflow dispatches side by side (multi-trial search, scaling);
 * - the elastic queue: one elastic-training slot per worker process.
 * Processes added to an embedded run (`nas run --workers`) serve only the last two, so the work
 * that runs alone stays on the process with all the threads.
 */

/** The elastic queue of a main task queue: each worker process serves one slot of it. */
export function elasticQueueOf(taskQueue: string): string {
  return `${taskQueue}-elastic`;
}

/** The queue of a main task queue that parallel trials (multi-trial search, compound scaling) go to. */
export function trialQueueOf(taskQueue: string): string {
  return `${taskQueue}-trials`;
}

/**
 * The queue of the workflows that need a user's strategy set: only workers whose workflow code holds
 * that exact set poll it (`nas worker --plugins`), so no other worker ever replays such a search.
 */
export function strategyQueueOf(taskQueue: string, strategySetId: string): string {
  return `${taskQueue}-strategies-${strategySetId}`;
}
