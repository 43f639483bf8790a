/**
 * A user one-shot strategy with its own update rule drives the supernet end to end: the
 * Gumbel-softmax fixture (test/fixtures/plugins/gumbel-softmax.ts, written against the public
 * plugin API only) passes `nas plugin check`, registers from its file as a worker loads it, moves
 * the logits of a tiny supernet at every architecture step, follows the latency term when it
 * dominates, is reproducible at a fixed seed, resumes from a checkpoint, and the search derives an
 * architecture from it.
 */
import { join } from 'node:path';
import { loadTf } from '../../../engine/backend';
import { Supernet, type SupernetOptions } from '../../../engine/supernet';
import type { OneShotStrategyPlugin } from '../../../plugins/api';
import { checkPlugin } from '../../../plugins/check';
import { registryWithPluginFiles } from '../../../plugins/load';
import { pluginApiDir } from '../../../plugins/scaffold';
import { decisions, space, latencyTable as table, randomBatch as batch } from '../../support/supernet-fixtures';

const tf = loadTf();
const FILE = join(__dirname, '../..', 'fixtures', 'plugins', 'gumbel-softmax.ts');

/** As a worker resolves it: from the plugin file, through the registry's shape check. */
function gumbel(): OneShotStrategyPlugin {
  const plugin = registryWithPluginFiles([FILE]).get('search-strategy', 'gumbel-softmax');
  if (plugin?.mode !== 'one-shot') throw new Error('gumbel-softmax did not register as a one-shot strategy');
  return plugin;
}

function make(o: Partial<SupernetOptions> = {}): Supernet {
  return new Supernet({ space, numClasses: 3, inputChannels: 1, seed: 3, strategy: { plugin: gumbel() }, latencyTable: table, latencyWeight: 0.05, ...o });
}

async function steps(net: Supernet, from: number, to: number): Promise<void> {
  for (let s = from; s < to; s++) {
    const [train, valid] = [batch(100 + s), batch(200 + s)];
    await net.weightStep(train);
    await net.architectureStep(valid);
    tf.dispose([train.xs, train.ys, valid.xs, valid.ys]);
  }
}

test('passes nas plugin check', () => {
  const result = checkPlugin(FILE, { trustedRoot: pluginApiDir() });
  expect(result.findings).toEqual([]);
  expect(result).toMatchObject({ ok: true });
  expect(result.plugins.map((p) => p.name)).toEqual(['gumbel-softmax']);
});

test('moves the logits at every architecture step of a tiny supernet and derives an architecture', async () => {
  const net = make();
  try {
    for (let s = 0; s < 6; s++) {
      const before = net.alpha.map((a) => a.slice());
      const [train, valid] = [batch(100 + s), batch(200 + s)];
      await net.weightStep(train);
      const tensors = tf.memory().numTensors;
      const report = await net.architectureStep(valid);
      expect(tf.memory().numTensors).toBe(tensors);
      tf.dispose([train.xs, train.ys, valid.xs, valid.ys]);
      // Every path runs under a one-hot gate (the hard sample); dL/dg comes back for each.
      expect(report.sampled).toEqual(decisions.map((d) => d.options.map((_, i) => i)));
      expect(report.signal.type).toBe('gradient');
      if (report.signal.type === 'gradient') expect(report.signal.gateGradients.map((g) => g.length)).toEqual(decisions.map((d) => d.options.length));
      const moved = Math.max(...net.alpha.flatMap((a, d) => a.map((x, i) => Math.abs(x - before[d][i]))));
      expect(moved).toBeGreaterThan(1e-6);
    }
    expect(net.architecture.strategy).toEqual({ steps: 6 });
    const derived = net.derive();
    expect(derived.choices).toEqual(net.alpha.map((a) => a.indexOf(Math.max(...a))));
    expect(derived.arch.blocks.length).toBe(derived.choices.filter((j, d) => decisions[d].options[j] !== 'zero').length);
    // Equal logits would derive option 0 everywhere (ties go to the first): these no longer tie.
    expect(derived.choices.some((j) => j !== 0)).toBe(true);
    expect(derived.entropy.every((h, d) => h < Math.log(decisions[d].options.length))).toBe(true);
  } finally {
    net.dispose();
  }
});

test('follows the latency term when it dominates the objective', async () => {
  const net = make({ latencyWeight: 20 });
  try {
    const start = net.expectedLatency().expected;
    await steps(net, 0, 4);
    expect(net.expectedLatency().expected).toBeLessThan(start - 0.1);
  } finally {
    net.dispose();
  }
});

test('is reproducible at a fixed seed and resumes from a checkpoint where it stopped', async () => {
  const a = make();
  const b = make();
  const resumed = make({ seed: 99 });
  try {
    await steps(a, 0, 3);
    const bytes = await a.checkpoint();
    await steps(a, 3, 6);
    await steps(b, 0, 6);
    expect(b.alpha).toEqual(a.alpha);
    await resumed.restore(bytes);
    expect(resumed.architecture.strategy).toEqual({ steps: 3 });
    await steps(resumed, 3, 6);
    expect(resumed.architecture).toEqual(a.architecture);
  } finally {
    [a, b, resumed].forEach((n) => n.dispose());
  }
});
