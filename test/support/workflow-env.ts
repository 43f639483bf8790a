/**
 * Workflow tests with stub activities (Temporal's TestWorkflowEnvironment): a local dev server from
 * the Temporal CLI that setup installed (never the SDK's own download, which would leave the
 * registries), serving the very bundle workers serve (infra/workflow-bundle.ts).
 */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { findTemporalCli } from '../../infra/temporal-dev-server';
import { installRuntime } from '../../infra/worker';
import { workflowBundle } from '../../infra/workflow-bundle';

export async function startWorkflowEnvironment(): Promise<TestWorkflowEnvironment> {
  // The SDK's INFO lines (every worker state change) would bury the test output.
  installRuntime();
  return TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: findTemporalCli() }, ui: false } });
}

/** Runs `body` with a worker on a fresh task queue that serves the project's workflows and `activities`. */
export async function withStubWorker<T>(env: TestWorkflowEnvironment, activities: object, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `stub-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, workflowBundle: await workflowBundle(), activities });
  return worker.runUntil(body(taskQueue));
}
