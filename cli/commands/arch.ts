/**
 * `nas arch`: look at an architecture before spending compute on it. `describe` builds the tfjs
 * model by shape inference only (zero weights, no forward pass), so even EfficientNet-B7 at 600
 * takes a second or two, and reports parameters (from the built model) and MACs (analytic).
 */
import { parseArgs } from 'node:util';
import { ArchError, ARCH_NAMES } from '../../engine/arch/catalog';
import { resolveArch } from '../arch-file';
import { encodeBlock } from '../../engine/arch/block-string';
import { archJsonSchema, ArchSpecSchema } from '../../engine/arch/spec';
import { countLayerMacs } from '../../engine/latency/macs';
import { buildArchModel } from '../../engine/models/arch-model';
import { countParams } from '../../engine/models/param-count';
import { compoundScale, multipliersAt, type Coefficients } from '../../engine/scaling/scale-arch';
import { CliError, EXIT_BAD_INPUT } from '../errors';

const HELP = `usage: nas arch describe <name | arch.json> [--resolution N] [--classes N] [--channels N]
                         [--scale ALPHA,BETA,GAMMA [--phi N]] [--json]
       nas arch schema

  describe    parameters and multiply-accumulates (MACs) of one forward pass, per layer
              names: ${ARCH_NAMES.join(', ')}
    --resolution N   input height = width (default: the architecture's own)
    --classes N      classifier outputs (default: the architecture's own)
    --channels N     input channels (default: the architecture's own)
    --scale A,B,G    compound scaling (EfficientNet): depth x A^phi, width x B^phi, input side
                     x G^phi, rounded as the scaling stage rounds (repeats up per stage, channels
                     to multiples of 8, side to the nearest pixel); applied after the flags above.
                     The paper's coefficients: --scale 1.2,1.1,1.15. A scaling stage's own
                     phi-N.arch.json is already scaled: describe it without --scale.
    --phi N          compound coefficient for --scale (default 1)
    --json           one JSON object: params, trainableParams, macs, blocks, layers
  schema      the JSON Schema of arch.json`;

function positiveInt(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`--${flag} must be a positive integer, got "${text}"`, EXIT_BAD_INPUT);
  return n;
}

function coefficients(text: string | undefined): Coefficients | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map((p) => Number(p.trim()));
  if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x) || x <= 0)) {
    throw new CliError(`--scale takes three positive numbers alpha,beta,gamma (e.g. 1.2,1.1,1.15), got "${text}"`, EXIT_BAD_INPUT);
  }
  return { alpha: parts[0], beta: parts[1], gamma: parts[2] };
}

function phiOf(text: string | undefined): number {
  if (text === undefined) return 1;
  const n = Number(text);
  // Fractional phi is allowed: the B-series tuples sit between integer phis of any one grid point.
  if (!Number.isFinite(n) || n < 0) throw new CliError(`--phi must be a number >= 0, got "${text}"`, EXIT_BAD_INPUT);
  return n;
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

function describe(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      resolution: { type: 'string' },
      classes: { type: 'string' },
      channels: { type: 'string' },
      scale: { type: 'string' },
      phi: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new CliError(`describe takes one architecture name or arch.json\n\n${HELP}`, EXIT_BAD_INPUT);
  let base;
  try {
    base = resolveArch(positionals[0]);
  } catch (err) {
    if (err instanceof ArchError) throw new CliError(err.message, EXIT_BAD_INPUT);
    throw err;
  }
  const fitted = ArchSpecSchema.parse({
    ...base,
    resolution: positiveInt('resolution', values.resolution) ?? base.resolution,
    numClasses: positiveInt('classes', values.classes) ?? base.numClasses,
    inputChannels: positiveInt('channels', values.channels) ?? base.inputChannels,
  });
  const scale = coefficients(values.scale);
  if (!scale && values.phi !== undefined) throw new CliError('--phi needs --scale alpha,beta,gamma', EXIT_BAD_INPUT);
  const phi = phiOf(values.phi);
  const scaling = scale && { ...scale, phi, ...multipliersAt(scale, phi) };
  const arch = scale ? compoundScale(fitted, scale, phi) : fitted;
  const model = buildArchModel(arch, { zeroInit: true, inferenceOnly: true });
  try {
    const layers = countLayerMacs(model);
    const params = countParams(model);
    const macs = layers.reduce((s, l) => s + l.macs, 0);
    if (values.json) {
      console.log(
        JSON.stringify({
          name: arch.name,
          resolution: arch.resolution,
          inputChannels: arch.inputChannels,
          numClasses: arch.numClasses,
          ...(scaling && { scaling }),
          params: params.total,
          trainableParams: params.trainable,
          nonTrainableParams: params.nonTrainable,
          macs,
          blocks: arch.blocks.map(encodeBlock),
          layers: layers.map((l) => ({ name: l.name, type: l.className, outputShape: l.outputShape, params: l.params, macs: l.macs })),
        }),
      );
      return 0;
    }
    const rows = layers.map((l) => [l.name, l.className, l.outputShape.join('x'), formatCount(l.params), formatCount(l.macs)]);
    const header = ['layer', 'type', 'output', 'params', 'MACs'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
    console.log(`${arch.name}: ${arch.resolution}x${arch.resolution}x${arch.inputChannels} -> ${arch.numClasses} classes`);
    if (scaling) {
      console.log(
        `scaled: ${fitted.name} at phi ${phi} with alpha ${scaling.alpha}, beta ${scaling.beta}, gamma ${scaling.gamma}: ` +
          `depth x${scaling.depth.toFixed(3)}, width x${scaling.width.toFixed(3)}, resolution x${scaling.resolution.toFixed(3)} (${fitted.resolution} -> ${arch.resolution} px)`,
      );
    }
    console.log(`blocks: ${arch.blocks.map(encodeBlock).join(' ')}`);
    console.log('');
    console.log(line(header));
    for (const r of rows) console.log(line(r));
    console.log('');
    console.log(`params: ${formatCount(params.total)} (${formatCount(params.trainable)} trainable, ${formatCount(params.nonTrainable)} BatchNorm moving statistics)`);
    console.log(`MACs:   ${formatCount(macs)} (${(macs / 1e9).toFixed(3)} G multiply-accumulates per image, conv and dense layers)`);
    return 0;
  } finally {
    model.dispose();
  }
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') {
    console.log(HELP);
    return sub ? 0 : EXIT_BAD_INPUT;
  }
  if (sub === 'describe') return describe(rest);
  if (sub === 'schema') {
    console.log(JSON.stringify(archJsonSchema(), null, 2));
    return 0;
  }
  throw new CliError(`unknown sub-command "${sub}": describe or schema (nas arch --help says more)`, EXIT_BAD_INPUT);
}
