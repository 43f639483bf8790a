/**
 * Task-queue names shared by workflow code and worker set-up (no Temporal imports, so both sides
 * can load it).
 */

/** The elastic queue of a main task queue: each worker process serves one slot of it. */
export function elasticQueueOf(taskQueue: string): string {
  return `${taskQueue}-elastic`;
}
