/**
 * The arguments of a command that acts on one run (`status`, `watch`, `cancel`, `resume`,
 * `report`): its own flags, `--help`, and exactly one run id.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError, EXIT_BAD_INPUT } from './errors';

type OptionConfig = NonNullable<ParseArgsConfig['options']>[string];

const HELP_OPTION = { help: { type: 'boolean', short: 'h', default: false } } as const;

/** The flags and the run id; undefined when `--help` asked for the help, which is printed. */
export function parseRunCommand<const O extends Record<string, OptionConfig>>(argv: string[], options: O, help: string) {
  const { values, positionals } = parseArgs<{ args: string[]; allowPositionals: true; options: O & typeof HELP_OPTION }>({
    args: argv,
    allowPositionals: true,
    options: { ...options, ...HELP_OPTION },
  });
  // Generic options hide `help` from the checker; parseArgs fills it (default false) all the same.
  if ((values as { help?: boolean }).help) {
    console.log(help);
    return undefined;
  }
  if (positionals.length !== 1) throw new CliError(`expected one run id\n\n${help}`, EXIT_BAD_INPUT);
  return { values, runId: positionals[0] };
}
