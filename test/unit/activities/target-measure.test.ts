/**
 * One way to resolve a hardware target and measure on it, for every activity that measures:
 * failures a retry cannot mend are non-retryable and name the target; the stage's timing reaches
 * only the targets whose config has timing fields; a stored or in-memory model is measured from a
 * private folder. The `macs` target keeps the numbers exact and the test fast.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { LayersModel } from '@tensorflow/tfjs-node';
import { measureLatency, type MeasureLatencyInput } from '../../../activities/measure-latency';
import { measureModelOnTarget } from '../../../activities/model-latency';
import { assertCapable, resolveTarget, resolveTargets } from '../../../activities/target-measure';
import { openArtifactStore } from '../../../artifacts';
import { loadTf } from '../../../engine/backend';
import { countMacs } from '../../../engine/latency/macs';
import { definePlugin, z } from '../../../plugins/api';

function failure(fn: () => unknown): ApplicationFailure {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('resolving a target', () => {
  test('fills the config defaults with the plugin schema', () => {
    const t = resolveTarget({ id: 'cpu', plugin: 'node-cpu', config: { repeats: 3 } }, [], 'measureModel');
    expect(t.id).toBe('cpu');
    expect(t.plugin.name).toBe('node-cpu');
    expect(t.config).toEqual({ backend: 'tensorflow', batchSize: 1, warmupRuns: 5, repeats: 3 });
  });

  test("the stage's timing overrides only targets whose config has timing fields", () => {
    const [cpu, proxy] = resolveTargets(
      [
        { id: 'cpu', plugin: 'node-cpu', config: { repeats: 3 } },
        { id: 'proxy', plugin: 'macs', config: undefined },
      ],
      [],
      'measureModel',
      { warmupRuns: 1, repeats: 7 },
    );
    expect(cpu.config).toEqual({ backend: 'tensorflow', batchSize: 1, warmupRuns: 1, repeats: 7 });
    expect(proxy.config).toEqual({ msPerMegaMac: 0.01 });
  });

  test('an unknown plugin and a config its schema rejects fail for good, naming the target', () => {
    const unknown = failure(() => resolveTarget({ id: 'phone', plugin: 'no-such-target', config: {} }, [], 'measureOp'));
    expect(unknown.nonRetryable).toBe(true);
    expect(unknown.type).toBe('PluginLoadError');
    expect(unknown.message).toMatch(/hardware target plugin "no-such-target" is not registered on this worker/);

    const invalid = failure(() => resolveTarget({ id: 'proxy', plugin: 'macs', config: { msPerMegaMac: -1 } }, [], 'measureModel'));
    expect(invalid.nonRetryable).toBe(true);
    expect(invalid.type).toBe('InvalidConfig');
    expect(invalid.message).toMatch(/hardware target "proxy" \(macs\): invalid config: msPerMegaMac: /);
  });

  test('a target that cannot measure what is asked fails for good', () => {
    const opsOnly = definePlugin({
      kind: 'hardware-target',
      name: 'ops-only',
      version: '1.0.0',
      configSchema: z.object({}).strict(),
      async measureOp() {
        return { medianMs: 1, repeats: 1 };
      },
    });
    expect(() => assertCapable(opsOnly, 'measureOp')).not.toThrow();
    const f = failure(() => assertCapable(opsOnly, 'measureModel'));
    expect([f.nonRetryable, f.type, f.message]).toEqual([true, 'PluginLoadError', 'hardware target "ops-only" cannot measure whole models']);
  });
});

describe('measuring a model', () => {
  let model: LayersModel;
  let root: string;
  beforeAll(() => {
    const tf = loadTf();
    model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3 })] });
  });
  afterAll(() => model.dispose());
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'nas-target-measure-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  test('an in-memory model is saved to a private folder, measured, and the folder removed', async () => {
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('nas-model-')).length;
    const ms = await new MockActivityEnvironment().run(() => measureModelOnTarget(model, [4], { id: 'proxy', plugin: 'macs', config: { msPerMegaMac: 1 } }, []));
    expect(ms).toBeCloseTo(countMacs(model) / 1e6, 15);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('nas-model-')).length).toBe(before);
  });

  test('a stored export is measured once: a retry returns the stored result', async () => {
    const exported = join(root, 'export');
    await model.save(`file://${exported}`);
    const store = openArtifactStore(root);
    await store.put('runs/r1/train/model/model.json', readFileSync(join(exported, 'model.json')));
    await store.put('runs/r1/train/model/weights.bin', readFileSync(join(exported, 'weights.bin')));
    const input: MeasureLatencyInput = {
      artifactLocation: root,
      modelJsonKey: 'runs/r1/train/model/model.json',
      modelWeightsKey: 'runs/r1/train/model/weights.bin',
      resultKey: 'runs/r1/train/latency/proxy.json',
      targetId: 'proxy',
      plugin: 'macs',
      config: { msPerMegaMac: 1 },
      pluginFiles: [],
      inputShape: [4],
    };
    const env = new MockActivityEnvironment();
    const first = await env.run(measureLatency, input);
    expect(first).toEqual({ medianMs: countMacs(model) / 1e6, p90Ms: countMacs(model) / 1e6, repeats: 1, targetId: 'proxy', plugin: 'macs' });
    // The retry must not resolve the target again: an unknown plugin now would fail it.
    expect(await env.run(measureLatency, { ...input, plugin: 'no-such-target' })).toEqual(first);
  });
});
