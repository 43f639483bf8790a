/**
 * `nas ui`: the Temporal Web UI over the embedded runs, kept up until Ctrl-C. A `nas run` stops
 * its server (and the UI with it) when it ends; this is how to look at finished runs there.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { CliError, EXIT_BAD_INPUT } from '../errors';
import { startTemporalDevServer, TemporalCliNotFoundError } from '../../infra/temporal-dev-server';
import { embeddedDir } from '../runs';

const HELP = `usage: nas ui [RUN] [options]

  --work-dir DIR   the embedded Temporal's folder (default .nas, or NAS_HOME)

Prints the Temporal Web UI's address (of RUN's page with a run id) and keeps it up until Ctrl-C,
starting the embedded server on the runs' database if no nas command has it up.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'work-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 1) throw new CliError(`expected at most one run id\n\n${HELP}`, EXIT_BAD_INPUT);
  if (process.env.TEMPORAL_ADDRESS) throw new CliError('TEMPORAL_ADDRESS is set: that cluster serves its own web UI', EXIT_BAD_INPUT);
  const workDir = embeddedDir(values['work-dir']);
  if (!existsSync(path.join(workDir, 'temporal.db'))) throw new CliError(`no runs in ${workDir} yet (no temporal.db): \`nas run\` starts one`);

  // Listening before the server starts: a Ctrl-C at any point from here on ends nas ui through its
  // finally (the server left as the other users need it), never by the signal's default action.
  const interrupted = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  const server = await startTemporalDevServer({ workDir, ownProcessGroup: true, user: 'nas ui' }).catch((err: Error) => {
    throw new CliError(err instanceof TemporalCliNotFoundError ? err.message : `cannot start the embedded Temporal: ${err.message}`);
  });
  try {
    if (!server.uiAddress) throw new CliError(`the embedded Temporal at ${server.address} was started without its web UI; stop it (\`nas server stop\`) and run nas ui again`);
    const page = positionals[0] ? `/namespaces/default/workflows/${encodeURIComponent(positionals[0])}` : '/namespaces/default/workflows';
    console.log(`temporal web UI: ${server.uiAddress}${page}`);
    console.log('Ctrl-C stops it (the server stays up while another nas command uses it)');
    await interrupted;
    return 0;
  } finally {
    await server.stop();
  }
}
