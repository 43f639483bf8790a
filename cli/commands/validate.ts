/**
 * `nas validate FILE... [--print-resolved] [--json]`: checks pipeline files without running
 * anything. Valid: a short summary, exit 0. Invalid: one `FILE:LINE:COL: path: message` line per
 * problem on stderr, exit 2.
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { formatProblem, PipelineValidationError, resolvePipelineFile, type LoadedPipeline } from '../../dsl/load';
import { decisionsOf, log10SpaceSize } from '../../dsl/search-space';
import { CliError, EXIT_BAD_INPUT } from '../errors';

const USAGE = `usage: nas validate FILE... [--print-resolved] [--json]

Checks pipeline files (YAML, JSON or TypeScript) and the plugins they declare.
  --print-resolved  print each pipeline with every default filled in (YAML)
  --json            with --print-resolved, print JSON instead`;

export function summarize(loaded: LoadedPipeline): string {
  const p = loaded.pipeline;
  const s = p.stages;
  const stages: string[] = [];
  if (s.train) stages.push(`train (${s.train.model.kind}, ${s.train.epochs} epochs)`);
  if (s.baselineSearch) {
    const { strategy, target, bandTrials } = s.baselineSearch;
    stages.push(`baselineSearch (${strategy.plugin}${target ? `, latency on ${target}` : ''}${bandTrials ? `, then ${bandTrials.trials} band trials` : ''})`);
  }
  if (s.compoundScaling) stages.push(`compoundScaling (${s.compoundScaling.baseline}, phi ${s.compoundScaling.phis.join(',')})`);
  if (s.elasticTraining) stages.push(`elasticTraining (${s.elasticTraining.policy}, ${s.elasticTraining.workers.min}-${s.elasticTraining.workers.max} workers)`);
  if (s.evaluation) stages.push(`evaluation (${(s.evaluation.targets.length ? s.evaluation.targets : Object.keys(p.hardwareTargets)).length} target${(s.evaluation.targets.length ? s.evaluation.targets : Object.keys(p.hardwareTargets)).length === 1 ? "" : "s"})`);
  const lines = [
    `${loaded.file}: valid pipeline "${p.name}" (seed ${p.seed})`,
    `  dataset   ${p.dataset.name}${p.dataset.path ? ` at ${p.dataset.path}` : ''}, ${p.dataset.resolution}px`,
    `  stages    ${stages.join(' -> ')}`,
  ];
  if (s.baselineSearch) {
    lines.push(`  space     ${p.searchSpace.stages.length} MBConv stages, ${decisionsOf(p.searchSpace).length} decisions, about 10^${log10SpaceSize(p.searchSpace).toFixed(1)} architectures`);
  }
  const targets = Object.entries(p.hardwareTargets).map(([id, t]) => `${id} (${t.plugin})`);
  if (targets.length) lines.push(`  targets   ${targets.join(', ')}`);
  if (loaded.userPlugins.length) lines.push(`  plugins   ${loaded.userPlugins.map((u) => `${u.name} ${u.version}`).join(', ')}`);
  lines.push(`  artifacts ${p.artifacts.location ?? '<work dir>/artifacts (default)'}`);
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  // An unknown option is reported by the CLI's entry point, in one line, exit 2.
  const parsed = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'print-resolved': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length === 0) throw new CliError(`no pipeline file given\n\n${USAGE}`, EXIT_BAD_INPUT);

  let invalid = 0;
  for (const file of parsed.positionals) {
    try {
      const loaded = resolvePipelineFile(file);
      if (parsed.values['print-resolved']) {
        process.stdout.write(parsed.values.json ? JSON.stringify(loaded.pipeline, null, 2) + '\n' : stringify(loaded.pipeline));
      } else {
        console.log(summarize(loaded));
      }
    } catch (err) {
      if (!(err instanceof PipelineValidationError)) throw err;
      invalid++;
      for (const problem of err.problems) console.error(formatProblem(problem));
    }
  }
  if (invalid > 0) {
    console.error(`${invalid} of ${parsed.positionals.length} pipeline file${parsed.positionals.length > 1 ? 's' : ''} invalid`);
    return EXIT_BAD_INPUT;
  }
  return 0;
}
