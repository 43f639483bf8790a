/**
 * Bounded parallelism for workflow code: a fixed pool of loops pulling from one list. Each loop
 * starts the next item as soon as its last one finishes, so at most `parallel` run at once and
 * items start in list order. That order is what keeps a replay issuing the same commands: every
 * item's first await (its activity) is scheduled in the same sequence however the results arrive.
 */
export async function forEachInPool<T>(items: readonly T[], parallel: number, run: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      await run(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, items.length)) }, lane));
}
