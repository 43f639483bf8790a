/**
 * Whether a run's user strategy has a worker: a search on a strategy set's queue waits for a worker
 * whose workflow code holds that exact module, and nothing else would tell the user it is waiting.
 */
import type { Client } from '@temporalio/client';
import { strategyQueueOf } from '../workflows/task-queues';
import type { PipelineWorkflowInput, StrategySetRef } from '../workflows/pipeline';
import { hasWorkers } from './pollers';

/** The strategy set a run's search needs, if its strategy is a user's. */
export function strategySetOfRun(input: Pick<PipelineWorkflowInput, 'stages'>): StrategySetRef | undefined {
  const search = input.stages.search;
  return search?.mode === 'multi-trial' ? search.strategySet : undefined;
}

/** The line that says what a run waits for and how to serve it. */
export function unservedMessage(set: StrategySetRef, queue: string): string {
  const modules = set.modules.map((m) => `${m.strategies.join(', ')} from ${m.file} (sha256 ${m.sha256.slice(0, 12)})`).join('; ');
  const files = set.modules.map((m) => m.file).join(' --plugins ');
  return `no worker serves strategy set ${set.id} (${modules}): the search waits on task queue ${queue}; start one with the same file: \`nas worker --plugins ${files}\``;
}

/** The message when no worker polls the set's queue now, else undefined. */
export async function unservedNote(client: Client, namespace: string, taskQueue: string, set: StrategySetRef): Promise<string | undefined> {
  const queue = strategyQueueOf(taskQueue, set.id);
  return (await hasWorkers(client, namespace, queue)) ? undefined : unservedMessage(set, queue);
}

/**
 * Checks at once and then every few seconds while the run is followed, and says when the queue
 * loses or gains a worker; returns the function that stops it.
 */
export function watchStrategyService(client: Client, namespace: string, taskQueue: string, set: StrategySetRef, say: (line: string) => void, everyMs = 5_000): () => void {
  let served: boolean | undefined;
  let stopped = false;
  const check = async (): Promise<void> => {
    const note = await unservedNote(client, namespace, taskQueue, set).catch(() => undefined);
    if (stopped) return;
    if (note && served !== false) say(note);
    if (!note && served === false) say(`a worker serves strategy set ${set.id} now; the search goes on`);
    served = note === undefined;
  };
  void check();
  const timer = setInterval(() => void check(), everyMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
