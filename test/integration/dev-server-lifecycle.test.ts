/**
 * The embedded Temporal dev server is shared by every nas process on a work folder and stopped by
 * the last one to leave, even when the one that started it was killed; a recorded pid that now
 * names another process is never signalled; a cut-short state file does not hide a running server.
 * Real dev servers, real `nas` processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { alive } from '../../infra/process-identity';
import { freePort } from '../../infra/free-port';
import { startTemporalDevServer } from '../../infra/temporal-dev-server';
import { cleanEnv, expectExitedZero, runCli, startCli, stopChild, stopLeftoverDevServer, waitFor } from './support/cli';

jest.setTimeout(180_000);

let root: string;
const children: ChildProcess[] = [];
const env = cleanEnv();

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'nas-dev-server-'));
});
afterAll(async () => {
  for (const c of children) await stopChild(c, 2000);
  for (const dir of ['shared', 'killed', 'forced', 'reused-pid', 'cut', 'restarted']) stopLeftoverDevServer(join(root, dir));
  rmSync(root, { recursive: true, force: true });
});

async function answers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 2000 });
    await connection.workflowService.getSystemInfo({});
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

function statePid(workDir: string): number {
  return (JSON.parse(readFileSync(join(workDir, 'temporal-server.json'), 'utf8')) as { pid: number }).pid;
}

test('two users of one server: the first to leave leaves it up, the last stops it', async () => {
  const workDir = join(root, 'shared');
  const first = await startTemporalDevServer({ workDir, ui: false });
  const second = await startTemporalDevServer({ workDir, ui: false });
  expect(second.reused).toBe(true);
  expect(second.address).toBe(first.address);

  await first.stop();
  expect(await answers(second.address)).toBe(true);
  await second.stop();
  expect(alive(first.pid)).toBe(false);
  expect(existsSync(join(workDir, 'temporal-server.json'))).toBe(false);
});

test('a server whose starter was killed is stopped by the next command to leave it; nas server says who uses it', async () => {
  const workDir = join(root, 'killed');
  // Make the database, as a first run would.
  await (await startTemporalDevServer({ workDir, ui: false })).stop();

  const ui = startCli(['ui', '--work-dir', workDir], env);
  children.push(ui);
  await waitFor('nas ui to have its server up', async () => (/temporal web UI: http/.test(ui.output().stdout) ? true : undefined), 60_000);
  const pid = statePid(workDir);
  const status = await runCli(['server', 'status', '--work-dir', workDir], env);
  expectExitedZero(status);
  expect(status.stdout).toContain(`pid ${pid}`);
  expect(status.stdout).toContain(`in use by: nas ui (pid ${ui.pid})`);

  ui.kill('SIGKILL');
  await new Promise((r) => ui.once('close', r));
  // Its own process group: the kill did not reach the server, which nobody uses now.
  expect(alive(pid)).toBe(true);
  expect((await runCli(['server', 'status', '--work-dir', workDir], env)).stdout).toContain('in use by no nas process');

  // Any command that reuses it and leaves last stops it.
  expectExitedZero(await runCli(['list', '--work-dir', workDir], env));
  await waitFor('the left-over server to exit', async () => (alive(pid) ? undefined : true), 15_000, 200);
  expect(existsSync(join(workDir, 'temporal-server.json'))).toBe(false);
  expect((await runCli(['server', '--work-dir', workDir], env)).stdout).toContain('no embedded Temporal is running');
});

test('nas server stop refuses while a nas process uses the server, and --force stops it', async () => {
  const workDir = join(root, 'forced');
  await (await startTemporalDevServer({ workDir, ui: false })).stop();
  const ui = startCli(['ui', '--work-dir', workDir], env);
  children.push(ui);
  const uiExit = new Promise<number | null>((resolve) => ui.once('close', resolve));
  await waitFor('nas ui to have its server up', async () => (/temporal web UI: http/.test(ui.output().stdout) ? true : undefined), 60_000);
  const pid = statePid(workDir);

  const refused = await runCli(['server', 'stop', '--work-dir', workDir], env);
  expect(refused.code).toBe(1);
  expect(refused.stderr.trim()).toBe(`nas server: the embedded Temporal for ${workDir} is in use by nas ui (pid ${ui.pid}); it stops when they finish (--force stops it now)`);
  expect(alive(pid)).toBe(true);

  const forced = await runCli(['server', 'stop', '--force', '--work-dir', workDir], env);
  expectExitedZero(forced);
  expect(forced.stdout).toContain(`stopped the embedded Temporal for ${workDir} (pid ${pid})`);
  expect(alive(pid)).toBe(false);

  // Ctrl-C ends nas ui, with no server left to stop.
  ui.kill('SIGINT');
  expect(await uiExit).toBe(0);
});

test('a recorded pid that now belongs to another process is left alone, and a new server starts', async () => {
  const workDir = join(root, 'reused-pid');
  await (await startTemporalDevServer({ workDir, ui: false })).stop();
  // What a reboot leaves: the state file names a pid the kernel has since given to another process.
  const bystander = spawn('sleep', ['120'], { stdio: 'ignore' });
  children.push(bystander);
  writeFileSync(join(workDir, 'temporal-server.json'), JSON.stringify({ pid: bystander.pid, port: await freePort(), dbFile: join(workDir, 'temporal.db') }));

  const server = await startTemporalDevServer({ workDir, ui: false });
  expect(server.reused).toBe(false);
  expect(server.pid).not.toBe(bystander.pid);
  await server.stop();
  expect(alive(bystander.pid!)).toBe(true);
  bystander.kill('SIGKILL');
});

test('a cut-short state file does not hide the running server: it is found and reused, never doubled', async () => {
  const workDir = join(root, 'cut');
  const first = await startTemporalDevServer({ workDir, ui: false });
  writeFileSync(join(workDir, 'temporal-server.json'), '{"pid":1');
  const second = await startTemporalDevServer({ workDir, ui: false });
  expect(second.reused).toBe(true);
  expect(second.pid).toBe(first.pid);
  expect(second.address).toBe(first.address);
  await second.stop();
  await first.stop();
  expect(alive(first.pid)).toBe(false);
});

test('a server killed under its starter and started again on its port: leaving both handles stops the new one', async () => {
  const workDir = join(root, 'restarted');
  const first = await startTemporalDevServer({ workDir, ui: false });
  const port = Number(first.address.split(':').pop());
  process.kill(first.pid, 'SIGKILL');
  await waitFor('the killed server to go', async () => (alive(first.pid) ? undefined : true), 10_000, 20);
  await first.stop();
  const second = await startTemporalDevServer({ workDir, ui: false, port });
  expect(second.reused).toBe(false);
  expect(second.address).toBe(first.address);
  await second.stop();
  expect(alive(second.pid)).toBe(false);
  expect(existsSync(join(workDir, 'temporal-server.json'))).toBe(false);
});
