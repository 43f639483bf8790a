/**
 * The one-shot contract at its edges: what the registry demands of a one-shot plugin, and how the
 * supernet reports a strategy that breaks it (by name and member, before a tensor sees the
 * damage), a config its schema rejects, and a checkpoint another strategy wrote.
 */
import { loadTf } from '../../../engine/backend';
import { OneShotStrategyError, Supernet, SupernetCheckpointError } from '../../../engine/supernet';
import { definePlugin, z, type GateSample, type OneShotStrategyPlugin } from '../../../plugins/api';
import { proxylessGradient, proxylessReinforce } from '../../../plugins/builtin/proxyless';
import { checkPlugin } from '../../../plugins/check';
import { pluginShapeProblems } from '../../../plugins/contract';
import { pluginApiDir } from '../../../plugins/scaffold';
import { decisions, space, randomBatch as batch } from '../../support/supernet-fixtures';

const tf = loadTf();

const valid = batch(2);

const make = (plugin: OneShotStrategyPlugin, config?: unknown) => new Supernet({ space, numClasses: 3, inputChannels: 1, seed: 1, strategy: { plugin, config } });

/** A strategy that samples what `sample` says and keeps logits as `update` says. */
function broken(sample: (logits: number[][]) => unknown, update?: (logits: number[][]) => unknown): OneShotStrategyPlugin {
  return definePlugin({
    kind: 'search-strategy',
    mode: 'one-shot',
    name: 'broken',
    version: '0.0.1',
    configSchema: z.object({}).strict(),
    init: ({ space: shape }) => ({ logits: shape.options.map((n) => Array.from({ length: n }, () => 0)), strategy: null }),
    sample: ({ logits }) => sample(logits) as GateSample,
    update: (state) => (update ? { logits: update(state.logits) as number[][], strategy: null } : state),
  });
}
const pair = (logits: number[][]): GateSample => ({ paths: logits.map(() => [0, 1]), gates: logits.map(() => [1, 0]), signal: 'gradient' });

describe('the registry', () => {
  it('requires init, sample and update of a one-shot strategy', () => {
    const problems = pluginShapeProblems({ kind: 'search-strategy', mode: 'one-shot', name: 'half', version: '1.0.0', configSchema: z.object({}), init: () => null });
    expect(problems).toEqual(['sample: a one-shot strategy must define this function', 'update: a one-shot strategy must define this function']);
    expect(pluginShapeProblems(proxylessGradient)).toEqual([]);
    expect(pluginShapeProblems(proxylessReinforce)).toEqual([]);
  });
  it('passes the built-in ProxylessNAS strategies through nas plugin check', () => {
    const result = checkPlugin(require.resolve('../../../plugins/builtin/proxyless'), { trustedRoot: pluginApiDir() });
    expect(result.findings).toEqual([]);
    expect(result.plugins.map((p) => p.name)).toEqual(['proxyless-gradient', 'proxyless-reinforce']);
  });
});

describe('the supernet holds a strategy to the contract', () => {
  it.each([
    ['too few decisions', (l: number[][]) => ({ ...pair(l), paths: l.slice(1).map(() => [0, 1]) }), /"broken" 0\.0\.1 sampled gates that cover 3 decisions \(gates: 4\); the space has 4/],
    ['an option out of range', (l: number[][]) => ({ ...pair(l), paths: l.map((a) => [0, a.length]) }), /sampled gates that name options \[0, 4\] at decision 0 \(s1b1\); it has options 0\.\.3/],
    ['a gate per path missing', (l: number[][]) => ({ ...pair(l), gates: l.map(() => [1]) }), /do not give one finite gate per path at decision 0/],
    ['a reward over two paths', (l: number[][]) => ({ ...pair(l), signal: 'reward' }), /ask for a reward with 2 paths at decision 0 .*one path per decision/],
    ['an unknown signal', (l: number[][]) => ({ ...pair(l), signal: 'hessian' }), /ask for signal "hessian"/],
  ])('rejects a sample with %s', async (_what, sample, message) => {
    const net = make(broken(sample));
    await expect(net.architectureStep(valid)).rejects.toThrow(message);
    await expect(net.architectureStep(valid)).rejects.toBeInstanceOf(OneShotStrategyError);
    net.dispose();
  });

  it('rejects logits that lose their shape or turn NaN, and names a failing member', async () => {
    const nan = make(broken(pair, (l) => l.map((a, d) => a.map((x, i) => (d === 2 && i === 1 ? NaN : x)))));
    await expect(nan.architectureStep(valid)).rejects.toThrow(/"broken" 0\.0\.1 state from update does not fit the search space: logit \[2\]\[1\] \(s2b1\) is NaN/);
    const short = make(broken(pair, (l) => l.slice(1)));
    await expect(short.architectureStep(valid)).rejects.toThrow(/logits have 3 rows; the space has 4 decisions/);
    const throwing = make(
      broken(() => {
        throw new Error('boom');
      }),
    );
    await expect(throwing.architectureStep(valid)).rejects.toThrow('one-shot strategy "broken" 0.0.1 failed in sample: boom');
    [nan, short, throwing].forEach((n) => n.dispose());
  });

  it('validates the config with the plugin schema, which fills the defaults', () => {
    expect(() => make(proxylessGradient, { archLearningRate: -1 })).toThrow(/"proxyless-gradient" 0\.2\.0 has an invalid config: archLearningRate: /);
    expect(() => make(proxylessReinforce, { sampledPaths: 2 })).toThrow(/invalid config: .*sampledPaths/);
    const net = make(proxylessGradient, { weightStepsPerArchStep: 3 });
    expect(net.weightStepsPerArchStep).toBe(3);
    net.dispose();
    const defaults = make(broken(pair));
    expect(defaults.weightStepsPerArchStep).toBe(1);
    expect(defaults.alpha).toEqual(decisions.map((d) => d.options.map(() => 0)));
    defaults.dispose();
  });

  it('refuses a checkpoint written by another strategy', async () => {
    const gradient = make(proxylessGradient);
    const reinforce = make(proxylessReinforce);
    await expect(reinforce.restore(await gradient.checkpoint())).rejects.toThrow(SupernetCheckpointError);
    await expect(reinforce.restore(await gradient.checkpoint())).rejects.toThrow(/written by strategy "proxyless-gradient"; this search runs "proxyless-reinforce"/);
    [gradient, reinforce].forEach((n) => n.dispose());
  });
});
