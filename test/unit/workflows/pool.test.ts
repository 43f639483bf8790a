import { forEachInPool } from '../../../workflows/pool';

/** A task that finishes when the test says so, so the test controls the interleaving. */
function controllable() {
  const started: number[] = [];
  const finish = new Map<number, () => void>();
  let running = 0;
  let peak = 0;
  const run = (_: string, index: number) =>
    new Promise<void>((resolve) => {
      started.push(index);
      running++;
      peak = Math.max(peak, running);
      finish.set(index, () => {
        running--;
        resolve();
      });
    });
  return { started, finish, run, peak: () => peak };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('forEachInPool', () => {
  it('runs at most `parallel` items at once and starts them in list order, whatever order they finish in', async () => {
    const items = ['a', 'b', 'c', 'd', 'e'];
    const c = controllable();
    const all = forEachInPool(items, 2, c.run);
    await flush();
    expect(c.started).toEqual([0, 1]);
    c.finish.get(1)!();
    await flush();
    expect(c.started).toEqual([0, 1, 2]);
    c.finish.get(0)!();
    await flush();
    expect(c.started).toEqual([0, 1, 2, 3]);
    for (const i of [3, 2]) c.finish.get(i)!();
    await flush();
    expect(c.started).toEqual([0, 1, 2, 3, 4]);
    c.finish.get(4)!();
    await all;
    expect(c.peak()).toBe(2);
  });

  it('never starts more lanes than items, and runs at least one lane when parallel is below 1', async () => {
    const seen: number[] = [];
    await forEachInPool(['x', 'y'], 8, async (_, i) => void seen.push(i));
    expect(seen).toEqual([0, 1]);
    const one: number[] = [];
    await forEachInPool(['x', 'y', 'z'], 0, async (_, i) => void one.push(i));
    expect(one).toEqual([0, 1, 2]);
    await expect(forEachInPool([], 3, async () => undefined)).resolves.toBeUndefined();
  });

  it('rejects with the first failure', async () => {
    await expect(
      forEachInPool([1, 2, 3], 2, async (n) => {
        if (n === 2) throw new Error('trial 2 failed');
      }),
    ).rejects.toThrow('trial 2 failed');
  });
});
