/**
 * The built-in ProxylessNAS strategies give the numbers the supernet gave when it held their update
 * rules itself. RECORDED holds what that code (commit ba46d18, before the one-shot contract) produced
 * for these exact runs: four short searches on the tiny supernet at seed 5 (6 weight steps, each
 * followed by an architecture step), and for `resumed` the same searches restored from their
 * format-1 checkpoint after those 6 steps (into a supernet built with seed 99: the checkpoint's seed
 * wins) and continued 3 steps.
 *
 * REINFORCE reproduces alpha bit for bit. The gradient variant differs in the last place or two
 * (below 1e-15): the latency term now reaches it as a gradient in the option probabilities, which
 * the strategy chains through p~ together with dL/dg, so the same sums are added in another order.
 */
import type { Tensor } from '@tensorflow/tfjs-node';
import { encodeBlock } from '../../../../engine/arch/block-string';
import { loadTf } from '../../../../engine/backend';
import { archOfChoices, argmax, costsOf, Supernet, type SupernetOptions } from '../../../../engine/supernet';
import { mostLikelyWithinBudget } from '../../../../engine/supernet/budgeted-choice';
import { decodeCheckpoint, disposeCheckpoint, encodeCheckpoint } from '../../../../engine/train/checkpoint';
import type { ArchitectureState } from '../../../../plugins/api';
import { proxylessGradient, proxylessReinforce } from '../../../../plugins/builtin/proxyless';
import { decisions, space, latencyTable as table, randomBatch as batch } from '../../../support/supernet-fixtures';

const tf = loadTf();

const RUNS: Record<string, Partial<SupernetOptions>> = {
  gradient: { strategy: { plugin: proxylessGradient, config: { archLearningRate: 0.1, archWeightDecay: 0.01, sampledPaths: 2 } }, latencyWeight: 0.05 },
  'gradient-target': { strategy: { plugin: proxylessGradient, config: { archLearningRate: 0.05, sampledPaths: 3 } }, latencyWeight: 0.4, latencyTarget: { ms: 3, fixedMs: 0.5 } },
  reinforce: { strategy: { plugin: proxylessReinforce, config: { archLearningRate: 0.1, baselineDecay: 0.9, entropyWeight: 0.01 } }, latencyWeight: 0.05 },
  'reinforce-target': { strategy: { plugin: proxylessReinforce, config: { archLearningRate: 0.1, baselineDecay: 0.99 } }, latencyWeight: 0.4, latencyTarget: { ms: 3, fixedMs: 0.5 } },
};

interface Recorded {
  choices: number[];
  blocks: string[];
  alpha: number[][];
  baseline: number | null;
  resumed: { choices: number[]; alpha: number[][] };
}

// Recorded on the code before the change (see the header); do not regenerate them from today's code.
const RECORDED: Record<string, Recorded> = {
  'gradient': {
    choices: [0, 4, 2, 4],
    blocks: ['e1_k3_s1_c4_se0.25', 'e3_k3_s2_c8_se0.25'],
    alpha: [[0.19859628254507206, 0.09301589035373195, 0.020685765342958476, -0.41259521156720713], [0.08727612735660197, -0.061476289210308205, -0.1650647612533899, -0.2240156002149209, 0.27860501248783953], [0.06427368653533577, -0.14035444300914365, 0.14192764247669576, -0.09203592784872125], [-0.1012059171314453, 0.11340332038395334, -0.10499122020780396, -0.20371291380210751, 0.23122326138756108]],
    baseline: null,
    resumed: { choices: [0, 4, 0, 4], alpha: [[0.34613190002509675, 0.09301589035373195, -0.09785087907814571, -0.5410311599413902], [-0.14882383475831779, 0.010680269174369206, -0.1650647612533899, -0.19564935804045827, 0.3766555865355855], [0.23490710283247512, -0.14035444300914365, -0.08639147293486028, -0.05242710323900404], [-0.02533678015161743, 0.04769338087005962, -0.10499122020780396, -0.4096480026163056, 0.34497397078216707]] },
  },
  'gradient-target': {
    choices: [1, 4, 0, 4],
    blocks: ['e2_k3_s1_c4_se0.25', 'e2_k3_s2_c8_se0.25'],
    alpha: [[0.11814684957816485, 0.1760173805891413, -0.2229373076145242, -0.1256008214215139], [-0.05935776393369585, -0.02588617131224892, -0.059070037614575716, -0.15462873222000767, 0.24983260199403975], [0.2491445245905962, -0.06198441115069226, -0.14999785680121952, -0.08723117633734362], [0.007986968506040582, -0.031533880652581184, -0.10708311462626179, -0.14452699846939482, 0.23042925113495294]],
    baseline: null,
    resumed: { choices: [1, 4, 0, 4], alpha: [[0.12780298482547725, 0.1659309116555895, -0.1705109650876754, -0.17441825914139927], [-0.1248486094033984, -0.11463459571529817, -0.13383908676160994, -0.1683726654868758, 0.4093959753914159], [0.2832194211542354, -0.01085689790827507, -0.175805269268285, -0.16886788641235534], [-0.03804212842798188, -0.09242068351538361, -0.16622250082334625, -0.17450821755975426, 0.3638638892413547]] },
  },
  'reinforce': {
    choices: [0, 4, 1, 1],
    blocks: ['e1_k3_s1_c4_se0.25', 'e2_k3_s2_c8', 'e2_k3_s1_c8'],
    alpha: [[0.06325960680508354, -0.11391254534386716, -0.07001472520508556, -0.44889634237930487], [-0.4541232051253296, 0.03907581060532511, -0.4541232051253296, -0.4541232051253296, 0.1481133414253654], [-0.4506877938792413, 0.007223042393432539, -0.10723049219097859, -0.12478586327471142], [-0.10633634479958018, -0.01914594377750184, -0.2441305532723878, -0.45207272771067947, -0.10710288612130102]],
    baseline: 0.13065739760870337,
    resumed: { choices: [0, 4, 3, 4], alpha: [[0.15152784504783431, -0.22769877143197675, -0.1778364913400882, -0.3187245315956033], [-0.614216403534483, -0.07556259986797799, -0.6309122917418275, -0.614216403534483, 0.3407898607830745], [-0.6071208573903324, -0.12753837073578772, -0.19903210712935088, 0.13734403368369727], [-0.05230989994216652, -0.1299263514301996, -0.3963171828031774, -0.6112890000672155, 0.023328847466520475]] },
  },
  'reinforce-target': {
    choices: [0, 4, 3, 1],
    blocks: ['e1_k3_s1_c4_se0.25', 'e3_k3_s2_c8', 'e2_k3_s1_c8'],
    alpha: [[-0.018676228959596867, -0.1490130881926878, -0.06367058854311577, -0.4771309806906429], [-0.4801168765516427, -0.04209889982379118, -0.4801168765516427, -0.4801168765516427, 0.19984513242706098], [-0.47785763488949745, -0.07589743105885467, -0.47785763488949745, 0.19741612974088202], [-0.10128948909227758, -0.06531563307477159, -0.3778992294525681, -0.4792436081193147, -0.08267076613761094]],
    baseline: 0.12953955041904172,
    resumed: { choices: [0, 4, 3, 4], alpha: [[0.0755328833730766, -0.3086066410441167, -0.20343897507572167, -0.32926854373641246], [-0.6762797033548571, -0.20113463367863416, -0.6762797033548571, -0.6426219907486185, 0.4038049287785283], [-0.6697231610735177, -0.22899849210888226, -0.6697231610735177, 0.3956596602563971], [-0.022831065731575357, -0.22341029769842338, -0.5749274705610483, -0.6764551204557117, 0.03939489862625195]] },
  },
};

const make = (name: string, seed: number) => new Supernet({ space, numClasses: 3, inputChannels: 1, seed, latencyTable: table, ...RUNS[name] });

async function steps(net: Supernet, from: number, to: number): Promise<void> {
  for (let s = from; s < to; s++) {
    const train = batch(100 + s);
    const valid = batch(200 + s);
    await net.weightStep(train);
    await net.architectureStep(valid);
    tf.dispose([train.xs, train.ys, valid.xs, valid.ys]);
  }
}

function expectAlpha(got: number[][], want: number[][]): void {
  expect(got.map((r) => r.length)).toEqual(want.map((r) => r.length));
  got.forEach((row, d) => row.forEach((a, i) => expect({ d, i, diff: Math.abs(a - want[d][i]) < 1e-9 }).toEqual({ d, i, diff: true })));
}

/** The checkpoint as the supernet wrote it before strategies were plugins (format 1, alpha and the strategy state at top level). */
async function asFormat1(bytes: Uint8Array): Promise<Uint8Array> {
  const contents = decodeCheckpoint<{ fingerprint: string; architecture: ArchitectureState<{ archOptimizer: unknown; baseline?: number | null }>; seed: number; weightSteps: number; archSteps: number }>(bytes);
  try {
    const { fingerprint, architecture, seed, weightSteps, archSteps } = contents.meta;
    const meta = { format: 'proxyless-supernet/1', fingerprint, alpha: architecture.logits, archOptimizer: architecture.strategy.archOptimizer, baseline: architecture.strategy.baseline ?? null, seed, weightSteps, archSteps };
    return await encodeCheckpoint({ meta, groups: contents.groups as Record<string, { name: string; tensor: Tensor }[]> });
  } finally {
    disposeCheckpoint(contents);
  }
}

describe.each(Object.keys(RUNS))('%s on the tiny supernet at seed 5', (name) => {
  const recorded = RECORDED[name];
  let net: Supernet;
  beforeAll(async () => {
    net = make(name, 5);
    await steps(net, 0, 6);
  });
  afterAll(() => net.dispose());

  it('reaches the recorded alpha (to 1e-9), whose argmax is the recorded architecture', () => {
    expectAlpha(net.alpha, recorded.alpha);
    const argmaxChoices = net.alpha.map(argmax);
    expect(argmaxChoices).toEqual(recorded.choices);
    expect(archOfChoices(space, argmaxChoices, { numClasses: 3, inputChannels: 1, resolution: 8 }).blocks.map(encodeBlock)).toEqual(recorded.blocks);
    const baseline = (net.architecture.strategy as { baseline?: number | null }).baseline ?? null;
    if (recorded.baseline === null) expect(baseline).toBeNull();
    else expect(baseline!).toBeCloseTo(recorded.baseline, 12);
  });

  it('derives the argmax, or with a latency target the most likely net within it (which the code of the recording did not do)', () => {
    const target = RUNS[name].latencyTarget;
    const expected = target ? mostLikelyWithinBudget(recorded.alpha, costsOf(recorded.alpha, table, decisions), target.ms - (target.fixedMs ?? 0)).choices : recorded.choices;
    expect(net.derive().choices).toEqual(expected);
  });

  it('resumes a format-1 checkpoint as the code that wrote it did', async () => {
    const resumed = make(name, 99);
    try {
      await resumed.restore(await asFormat1(await net.checkpoint()));
      expectAlpha(resumed.alpha, net.alpha);
      await steps(resumed, 6, 9);
      expect(resumed.alpha.map(argmax)).toEqual(recorded.resumed.choices);
      expectAlpha(resumed.alpha, recorded.resumed.alpha);
    } finally {
      resumed.dispose();
    }
  });
});
