/**
 * `nas server [status|stop]`: the embedded Temporal dev server of a work folder. Every nas command
 * leaves it up while another uses it and the last one out stops it, so this is for the rare cases:
 * seeing what holds it, and stopping one whose users are gone for good.
 */
import { parseArgs } from 'node:util';
import { CliError, EXIT_BAD_INPUT, EXIT_FAILURE } from '../errors';
import { runningDevServer, stopDevServer } from '../../infra/temporal-dev-server';
import { embeddedDir } from '../runs';

const HELP = `usage: nas server [status|stop] [options]

  status           whether the work folder's embedded Temporal is up, where, and which nas processes use it (the default)
  stop             stop it; refused while a nas process uses it, unless --force
  --force          stop it even then: a running \`nas run\` loses its server (\`nas resume\` continues the run)
  --work-dir DIR   the embedded Temporal's folder (default .nas, or NAS_HOME)

The server is started by the first nas command that needs it and stopped by the last one to
finish; a server outlives that only when every process using it was killed.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      force: { type: 'boolean', default: false },
      'work-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const [action = 'status', ...extra] = positionals;
  if (extra.length > 0 || (action !== 'status' && action !== 'stop')) throw new CliError(`unknown argument "${extra[0] ?? action}"\n\n${HELP}`, EXIT_BAD_INPUT);
  if (process.env.TEMPORAL_ADDRESS) throw new CliError('TEMPORAL_ADDRESS is set: the runs live on that cluster, which nas does not start or stop', EXIT_BAD_INPUT);

  const workDir = embeddedDir(values['work-dir']);
  const server = runningDevServer(workDir);
  if (!server) {
    console.log(`no embedded Temporal is running for ${workDir}`);
    return 0;
  }
  const users = server.users.map((u) => `${u.what} (pid ${u.pid})`);
  if (action === 'status') {
    console.log(`embedded Temporal for ${workDir}: pid ${server.pid}, ${server.address}${server.uiAddress ? `, web UI ${server.uiAddress}` : ''}`);
    console.log(users.length > 0 ? `in use by: ${users.join(', ')}` : 'in use by no nas process: `nas server stop` stops it');
    return 0;
  }
  if (users.length > 0 && !values.force) {
    throw new CliError(`the embedded Temporal for ${workDir} is in use by ${users.join(', ')}; it stops when they finish (--force stops it now)`, EXIT_FAILURE);
  }
  await stopDevServer(workDir);
  console.log(`stopped the embedded Temporal for ${workDir} (pid ${server.pid})`);
  return 0;
}
