/**
 * The arguments of a command that acts on one run (`status`, `watch`, `cancel`, `resume`,
 * `report`): its own flags, `--help`, and exactly one run id, a valid one (`validateRunId`, which
 * `nas run --run-id` uses too).
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
  return { values, runId: validateRunId(positionals[0]) };
}

export const MAX_RUN_ID_LENGTH = 100;
/** One artifact key segment (artifacts/store.ts), less `=` and `+`: a run's folder is `runs/<id>/`. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * A run id names the run's folder in the artifact store and its Temporal workflow, so it must be
 * one path segment: `alpha/train` would write into run `alpha`'s folder. Returns the id; refuses
 * any other with exit 2, before anything is read or written.
 */
export function validateRunId(id: string): string {
  if (id.length <= MAX_RUN_ID_LENGTH && RUN_ID.test(id)) return id;
  const shown = JSON.stringify(id.length > 60 ? `${id.slice(0, 60)}...` : id);
  const why =
    id.length > MAX_RUN_ID_LENGTH
      ? `is ${id.length} characters long; at most ${MAX_RUN_ID_LENGTH}`
      : `may only use letters, digits, '.', '_' and '-', starting with a letter or digit`;
  throw new CliError(`invalid run id ${shown}: a run id ${why}`, EXIT_BAD_INPUT);
}
