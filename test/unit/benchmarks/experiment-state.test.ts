import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ExperimentState, differingFlags, type SearchedTarget } from '../../../benchmarks/experiment-state';

const searched: SearchedTarget = {
  target: 'wasm',
  matrix: [
    [0.9, 1.1],
    [0.5, 0.7, 0],
  ],
  fixedMs: 0.6,
  latencyTargetMs: 2,
  choices: [1, 2],
  expectedLatencyMs: 1.4,
};
const trainFlags = { trainEpochs: 10, trainLr: 0.05, se: false };

describe('experiment state (the benchmarks --state file)', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'experiment-state-'));
    file = path.join(dir, 'state.json');
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('starts empty where no file exists, and reads back what it saved', async () => {
    const state = await ExperimentState.open(file);
    expect(state.searchUnder({ lambda: 0.5 })).toBeUndefined();
    await state.saveSearch({ lambda: 0.5 }, [searched]);
    await state.saveTrained({ flags: trainFlags, seed: 1, net: 'e3_k3_s1_c16', accuracy: 0.91, seconds: 12 });

    const reopened = await ExperimentState.open(file);
    expect(reopened.searchUnder({ lambda: 0.5 })).toEqual([searched]);
    expect(reopened.trained(trainFlags, 1, 'e3_k3_s1_c16')?.accuracy).toBe(0.91);
  });

  it('reuses a trained net only under the same seed, net and training flags', async () => {
    const state = await ExperimentState.open(file);
    await state.saveTrained({ flags: trainFlags, seed: 1, net: 'e3_k3_s1_c16', accuracy: 0.91, seconds: 12 });
    expect(state.trained(trainFlags, 2, 'e3_k3_s1_c16')).toBeUndefined();
    expect(state.trained(trainFlags, 1, 'e6_k3_s1_c16')).toBeUndefined();
    expect(state.trained({ ...trainFlags, trainEpochs: 15 }, 1, 'e3_k3_s1_c16')).toBeUndefined();
  });

  it('lists every net trained under the same training flags, whatever its seed', async () => {
    const state = await ExperimentState.open(file);
    await state.saveTrained({ flags: trainFlags, seed: 1, net: 'a', accuracy: 0.91, seconds: 12 });
    await state.saveTrained({ flags: { ...trainFlags, trainEpochs: 15 }, seed: 1, net: 'b', accuracy: 0.92, seconds: 12 });
    await state.saveTrained({ flags: trainFlags, seed: 2, net: 'a', accuracy: 0.9, seconds: 12 });
    expect(state.trainedUnder(trainFlags).map((t) => `${t.net}/${t.seed}`)).toEqual(['a/1', 'a/2']);
  });

  it('refuses a saved search run under other flags, naming each flag that differs', async () => {
    const state = await ExperimentState.open(file);
    await state.saveSearch({ lambda: 0.5, seed: 1 }, [searched]);
    expect(() => state.searchUnder({ lambda: 0.1, seed: 1, strategy: 'x' })).toThrow(/lambda: 0.5 -> 0.1; strategy: \(unset\) -> x/);
    expect(differingFlags({ a: 1, b: true }, { a: 1, b: true })).toEqual([]);
  });

  it('keeps every result when saves overlap, and leaves no temporary file', async () => {
    const state = await ExperimentState.open(file);
    await Promise.all([1, 2, 3, 4].map((seed) => state.saveTrained({ flags: trainFlags, seed, net: 'n', accuracy: 0.9, seconds: 1 })));
    const reopened = await ExperimentState.open(file);
    expect([1, 2, 3, 4].map((seed) => reopened.trained(trainFlags, seed, 'n')?.seed)).toEqual([1, 2, 3, 4]);
    expect(await fs.readdir(dir)).toEqual(['state.json']);
  });

  it('refuses a state whose folder is missing before any work starts', async () => {
    const missing = path.join(dir, 'no-such-folder', 'state.json');
    await expect(ExperimentState.open(missing)).rejects.toThrow(/no-such-folder does not exist or is not writable/);
  });

  it('names the file and the place when it does not hold a state', async () => {
    await fs.writeFile(file, '{"format": 1, "trained": [');
    await expect(ExperimentState.open(file)).rejects.toThrow(new RegExp(`experiment state ${file} is not JSON`));
    await fs.writeFile(file, JSON.stringify({ format: 1, trained: [{ flags: {}, seed: 1, net: 'n', accuracy: 91.3, seconds: 1 }] }));
    await expect(ExperimentState.open(file)).rejects.toThrow(/at trained\.0\.accuracy: .*move it aside/);
  });
});
