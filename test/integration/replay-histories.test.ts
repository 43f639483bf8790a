/**
 * Histories recorded by earlier versions of the workflows, replayed against today's code. A run
 * that was in flight when the workers were upgraded resumes by replaying its history; if today's
 * code issues other commands in another order, Temporal fails the workflow task and the run is
 * stuck. Each fixture is a real dev-server history from `fetchHistory`, written as protobufjs'
 * plain object (`History.toObject` with longs, enums and bytes as strings; the SDK's own
 * `historyToJSON` trips over the two protobufjs copies in the dependency tree) and named
 * `<workflow type>.<what it ran>.json`. A change that cannot replay them needs `patched()`.
 * The `user-strategy-*` fixtures ran the committed hill-climb fixture plugin as a user's strategy,
 * so the bundle holds it as a `nas worker --plugins` would.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { strategySetOf, workflowBundle } from '../../infra/workflow-bundle';
import * as workflows from '../../workflows';

jest.setTimeout(300_000);

const dir = join(__dirname, '..', 'fixtures', 'histories');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json'));
/** Why each fixture failed to replay; absent when it replayed. One bundle serves them all. */
const failures = new Map<string, string>();

beforeAll(async () => {
  const histories = fixtures.map((file) => ({
    workflowId: file,
    history: temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(join(dir, file), 'utf8'))),
  }));
  const userStrategy = strategySetOf([join(__dirname, '..', 'fixtures', 'plugins', 'hill-climb', 'index.ts')]);
  if (!userStrategy) throw new Error('the hill-climb fixture exports no multi-trial strategy');
  for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle([userStrategy]) }, histories)) {
    if (r.error) failures.set(r.workflowId, r.error instanceof Error ? `${r.error.name}: ${r.error.message}` : String(r.error));
  }
});

test('every workflow type the bundle exports has a recorded history', () => {
  const exported = Object.keys(workflows).filter((name) => name.endsWith('Workflow'));
  const recorded = new Set(fixtures.map((f) => f.split('.')[0]));
  expect(exported.filter((type) => !recorded.has(type))).toEqual([]);
});

test.each(fixtures)("%s replays against today's workflow code", (file) => {
  expect(failures.get(file)).toBeUndefined();
});
