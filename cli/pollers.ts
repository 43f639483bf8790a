/** Whether a task queue has workers, as the server sees them. */
import type { Client } from '@temporalio/client';

/** The server holds a describe call no longer than this; a busy or absent server is "no workers". */
const DESCRIBE_DEADLINE_MS = 5_000;

/** Whether any worker has polled the task queue lately (the server forgets pollers after a few minutes). */
export async function hasWorkers(client: Client, namespace: string, taskQueue: string): Promise<boolean> {
  try {
    const response = await client.connection.withDeadline(Date.now() + DESCRIBE_DEADLINE_MS, () =>
      client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue } }),
    );
    return (response.pollers ?? []).length > 0;
  } catch {
    return false;
  }
}
