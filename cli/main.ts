/**
 * `nas`: the command line. Each sub-command lives in cli/commands/<name>.ts and exports
 * `run(argv): Promise<number>` (the exit code), so commands load only what they need: `nas
 * validate` never pays for TensorFlow or Temporal start-up.
 */
import { ArtifactLocationError } from '../artifacts/location';
import { ArtifactFileError } from '../artifacts/read-file';
import { ArtifactNotFoundError, ArtifactStoreAccessError, ArtifactStoreFullError, ArtifactStoreUnavailableError, CorruptArtifactError } from '../artifacts/store';
import { CliError, EXIT_BAD_INPUT } from './errors';

interface Command {
  summary: string;
  load(): Promise<{ run(argv: string[]): Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  arch: { summary: 'describe an architecture (by name or arch.json): parameters and MACs per layer', load: () => import('./commands/arch') },
  doctor: { summary: 'check the stack: Temporal CLI, tensor backend and its speed, data set, artifact store', load: () => import('./commands/doctor') },
  run: { summary: 'validate a pipeline file and run it (embedded Temporal unless TEMPORAL_ADDRESS is set)', load: () => import('./commands/run') },
  list: { summary: 'recent pipeline runs: id, pipeline, status, start time, duration (--json)', load: () => import('./commands/list') },
  status: { summary: "one run: its state, stages done with their seconds, the running stage's progress (--json)", load: () => import('./commands/status') },
  watch: { summary: 'follow a run live until it ends; Ctrl-C detaches without cancelling', load: () => import('./commands/watch') },
  cancel: { summary: 'cancel a run (its running stage stops at its next heartbeat) and say how it ended', load: () => import('./commands/cancel') },
  resume: { summary: 'continue a cancelled or failed run from its finished stages and checkpoints', load: () => import('./commands/resume') },
  export: { summary: "a run's model as a ready-to-ship tfjs folder with a model card (accuracy, params, MACs, latency, provenance)", load: () => import('./commands/export') },
  compare: { summary: 'the models of several runs side by side: test accuracy, params, MACs, latency per target (--json)', load: () => import('./commands/compare') },
  report: { summary: 'one HTML page (charts, offline) and a JSON summary of a run: search, Pareto fronts, scaling, elastic', load: () => import('./commands/report') },
  validate: { summary: 'check pipeline files and the plugins they declare; print problems as FILE:LINE:COL', load: () => import('./commands/validate') },
  plugin: { summary: 'plugins: list the registered ones, scaffold a new one, check one against the contract', load: () => import('./commands/plugin') },
  server: { summary: "the embedded Temporal dev server: whether it is up and who uses it, or stop it", load: () => import('./commands/server') },
  ui: { summary: 'keep the Temporal web UI up over the embedded runs, finished ones included, until Ctrl-C', load: () => import('./commands/ui') },
  worker: { summary: 'run a worker that executes pipeline workflows and activities for a Temporal cluster', load: () => import('./commands/worker') },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return ['usage: nas <command> [options]', '', 'commands:', ...lines, '', 'nas <command> --help for its options'].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    process.exitCode = name ? 0 : 2;
    return;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`nas: unknown command "${name}"\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  try {
    process.exitCode = await (await command.load()).run(rest);
  } catch (err) {
    if (err instanceof CliError) {
      console.error(`nas ${name}: ${err.message}`);
      process.exitCode = err.exitCode;
    } else if (err instanceof ArtifactLocationError) {
      // An artifact location no store can be opened at (validation reports it in a pipeline; a
      // location from elsewhere may still get this far): bad input, in one line.
      console.error(`nas ${name}: ${err.message}`);
      process.exitCode = EXIT_BAD_INPUT;
    } else if (isStoreError(err)) {
      // The artifact store said what is wrong and where (a missing or corrupt file, a full disk, a
      // dead server): that line is the message, not a stack.
      console.error(`nas ${name}: ${err.message}`);
      process.exitCode = 1;
    } else if (isArgumentError(err)) {
      // node:util parseArgs: an unknown option, a missing value. Bad input, not a crash.
      console.error(`nas ${name}: ${err.message.replace(/\. To specify a positional argument.*$/s, '')} (nas ${name} --help lists the options)`);
      process.exitCode = EXIT_BAD_INPUT;
    } else {
      console.error(`nas ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exitCode = 1;
    }
  }
}

const STORE_ERRORS = [ArtifactFileError, ArtifactNotFoundError, CorruptArtifactError, ArtifactStoreUnavailableError, ArtifactStoreFullError, ArtifactStoreAccessError];

function isStoreError(err: unknown): err is Error {
  return STORE_ERRORS.some((type) => err instanceof type);
}

function isArgumentError(err: unknown): err is Error {
  return err instanceof TypeError && typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).code!.startsWith('ERR_PARSE_ARGS_');
}

export { COMMANDS };
