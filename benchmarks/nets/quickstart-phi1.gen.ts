/**
 * Regenerates quickstart-phi1.arch.json with the engine's own code: the quickstart's search space
 * (examples/quickstart.yaml), the searched baseline as a choice vector, compound scaling at phi 1.
 *
 *   npx tsx benchmarks/nets/quickstart-phi1.gen.ts > benchmarks/nets/quickstart-phi1.arch.json
 *
 * The choices and the grid point are not stored by any committed run; they are the only pair of
 * this space and the quickstart's two trained grid points whose phi-1 model has the 76,442
 * parameters and 4.58M MACs the README reports for the quickstart (see README.md beside this file).
 */
import { SearchSpaceSchema } from '../../dsl/search-space';
import { gridTrials } from '../../core/scaling-grid';
import { archOfChoices } from '../../engine/supernet/derive';
import { compoundScale } from '../../engine/scaling/scale-arch';
import { buildArchModel } from '../../engine/models/arch-model';
import { countMacs } from '../../engine/latency/macs';
import { countParams } from '../../engine/models/param-count';

const space = SearchSpaceSchema.parse({
  stem: { channels: 16, stride: 2 },
  stages: [
    { channels: 24, repeats: 1, stride: 1, kernels: [3], expansions: [3], se: [false] },
    { channels: 40, repeats: 2, stride: 2, kernels: [3, 5], expansions: [3, 6], se: [false], skip: true },
  ],
  head: { channels: 128, dropout: 0 },
});
// e3_k3_s1_c24, then e3_k5 and e6_k5 in the 40-channel stage.
const choices = [0, 2, 3];
const [first, second] = gridTrials({ gridStep: 0.1, maxCoefficient: 2, costRatio: 1.5, tolerance: 0.15, trialBudget: 2 });
// The first trained point (alpha 1.5, beta 1, gamma 1); the second (1, 1.1, 1.1) gives 57,074 params.
void second;
const base = archOfChoices(space, choices, { numClasses: 10, inputChannels: 1, resolution: 28 });
const arch = compoundScale(base, first, 1, `${base.name}-phi1`);
const model = buildArchModel(arch, { zeroInit: true, inferenceOnly: true });
const params = countParams(model).total;
const macs = countMacs(model);
model.dispose();
if (params !== 76_442) throw new Error(`expected 76,442 params (the README's quickstart phi-1), got ${params}`);
process.stderr.write(`alpha ${first.alpha} beta ${first.beta} gamma ${first.gamma}: ${params} params, ${macs} MACs\n`);
process.stdout.write(`${JSON.stringify(arch, null, 2)}\n`);
