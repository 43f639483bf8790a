/**
 * `nas compare RUN [RUN...]`: the trained models of one or more runs in one table (test accuracy,
 * parameters, MACs, latency per hardware target), to choose between runs and to find the id that
 * `nas export --model` takes.
 */
import { parseArgs } from 'node:util';
import { validateRunId } from '../args';
import { CliError, EXIT_BAD_INPUT } from '../errors';
import { alignColumns, formatMs } from '../result-view';
import { locateRun, runModels, type RunModel } from '../run-models';
import { chanceWarning } from '../../report/chance';

const HELP = `usage: nas compare RUN [RUN...] [options]

  --json                print a JSON array: one object per model, with its run
  --artifacts LOCATION  the runs' artifact store (default: the location each run used, from
                        Temporal; else the work folder's artifacts)
  --work-dir DIR        the embedded Temporal's folder (default .nas, or NAS_HOME)`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      artifacts: { type: 'string' },
      'work-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length === 0) throw new CliError(`expected at least one run id\n\n${HELP}`, EXIT_BAD_INPUT);

  const rows: (RunModel & { run: string; warning?: string })[] = [];
  for (const runId of positionals.map(validateRunId)) {
    const located = await locateRun(runId, { artifacts: values.artifacts, workDir: values['work-dir'] });
    for (const m of await runModels(located)) rows.push({ run: runId, ...m, warning: chanceWarning(m.testAccuracy, m.classNames?.length) });
  }
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    console.log(`no trained models in ${positionals.length === 1 ? `run ${positionals[0]}` : 'these runs'} yet`);
    return 0;
  }
  const targets = [...new Set(rows.flatMap((r) => Object.keys(r.latency)))];
  const unit = (t: string): string => (rows.find((r) => r.latency[t])?.latency[t].plugin === 'macs' ? 'proxy units' : 'ms');
  const header = ['run', 'model', 'role', 'test acc', 'params', 'MACs', ...targets.map((t) => `${t} ${unit(t)} (median/p90)`)];
  const table = rows.map((r) => [
    r.run,
    r.id,
    r.role,
    `${r.testAccuracy.toFixed(4)}${r.warning ? ' (!)' : ''}`,
    r.params === undefined ? '-' : r.params.toLocaleString('en-US'),
    r.macs === undefined ? '-' : `${(r.macs / 1e6).toFixed(2)}M`,
    ...targets.map((t) => (r.latency[t] ? `${formatMs(r.latency[t].medianMs)} / ${formatMs(r.latency[t].p90Ms)}` : '-')),
  ]);
  for (const line of alignColumns([header, ...table], 3)) console.log(line);
  for (const r of rows) if (r.warning) console.log(`(!) ${r.run} ${r.id}: ${r.warning}`);
  return 0;
}
