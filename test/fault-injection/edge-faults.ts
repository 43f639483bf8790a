/**
 * The faults the kill schedule does not inject (issue 27), each on its own small embedded `nas run`
 * (the compiled CLI, a dev server in its own work folder, a local artifact folder), as a user meets
 * them:
 *   - the artifact disk fills up mid-training: the run must stop at once in one line naming the
 *     folder, publish nothing truncated, and finish with `nas resume` once there is room;
 *   - the checkpoint at a search epoch boundary is corrupt when the search resumes: the previous
 *     one is used and the search ends with the undisturbed run's architecture;
 *   - a training diverges (learning rate 10: a non-finite BatchNorm statistic or gradient): the run
 *     fails in one line naming the stage, step and worker, and exports no model;
 *   - the dev server is SIGKILLed under `nas run`: said at once, one line at the exit, and `nas
 *     resume` carries the run on;
 *   - a stale dev-server state file names a pid that now belongs to another process: no `nas`
 *     command touches it.
 * Each returns one row of the suite's table (run.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CorruptArtifactError, getJson, LocalArtifactStore } from '../../artifacts';
import type { SupernetEpochMetrics } from '../../core/artifact-files';
import { checkpointStep, runLayout } from '../../core/run-layout';
import type { RunReport } from '../../cli/runs';
import { cleanEnv, runCli, startCli, waitFor, type CliResult } from '../integration/support/cli';
import { writeFashionSubset } from '../integration/support/fashion-subset';

export interface EdgeRow {
  fault: string;
  stage: string;
  /** What happened, as the user saw it. */
  outcome: string;
  /** Seconds from the fault to the outcome that matters (the exit, or the resumed run's end). */
  seconds?: number;
  ok: boolean;
  /** Why not ok, or what was checked. */
  checked: string;
}

const env = cleanEnv();
const STACK = /\n\s+at \S/;

/** Runs every edge fault under `root`, one after the other (they share 2 cores with nothing else). */
export async function runEdgeFaults(root: string): Promise<EdgeRow[]> {
  const base = join(root, 'edge');
  mkdirSync(base, { recursive: true });
  const data = writeFashionSubset(join(base, 'fashion'), 3000, 500);
  const rows: EdgeRow[] = [];
  for (const scenario of [diskFull, corruptBoundaryCheckpoint, divergedTraining, serverKilled, stalePid]) {
    const dir = join(base, scenario.name);
    mkdirSync(dir, { recursive: true });
    const started = Date.now();
    console.log(`[edge] ${scenario.name} ...`);
    const row = await scenario(dir, data).catch(
      (err: Error): EdgeRow => ({ fault: scenario.name, stage: '-', outcome: 'the scenario could not run', ok: false, checked: err.message.split('\n').slice(0, 3).join(' / ') }),
    );
    console.log(`[edge] ${scenario.name}: ${row.ok ? 'ok' : 'NOT OK'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    rows.push(row);
  }
  return rows;
}

function trainPipeline(dir: string, data: string, name: string, epochs: number, artifacts?: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `version: 1
name: ${name}
seed: 3
dataset: { name: fashion-mnist, path: ${data} }
${artifacts ? `artifacts: { location: ${artifacts} }\n` : ''}stages:
  train:
    model: { kind: small-cnn, filters: 8 }
    epochs: ${epochs}
    batchSize: 64
    learningRate: 0.002
    checkpointEverySteps: 10
    heartbeatTimeoutSeconds: 30
`,
  );
  return file;
}

async function status(workDir: string, runId: string): Promise<RunReport | undefined> {
  const result = await runCli(['status', runId, '--json', '--work-dir', workDir], env, 60_000);
  return result.code === 0 ? (JSON.parse(result.stdout) as RunReport) : undefined;
}

async function activityStep(workDir: string, runId: string): Promise<{ step: number; totalSteps?: number; epochs?: number } | undefined> {
  const activity = (await status(workDir, runId))?.current?.snapshot?.activity as { step?: number; totalSteps?: number; epochs?: number } | undefined;
  return activity?.step !== undefined ? { step: activity.step, totalSteps: activity.totalSteps, epochs: activity.epochs } : undefined;
}

function exited(child: ReturnType<typeof startCli>): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('close', resolve)));
}

/** The last line nas printed on stderr: where the CLI puts its one-line error. */
function lastError(out: CliResult): string {
  return out.stderr.trim().split('\n').filter(Boolean).pop() ?? '';
}

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

/**
 * Whether a local artifact folder holds only whole objects: every object reads back with its
 * recorded SHA-256, and no other file (a temp file of an unfinished write) is left.
 */
async function wholeStore(dir: string): Promise<{ ok: boolean; text: string }> {
  const store = new LocalArtifactStore(dir);
  const keys = await store.list('');
  const bad: string[] = [];
  for (const key of keys) {
    await store.get(key).catch((err: unknown) => bad.push(`${key}: ${err instanceof CorruptArtifactError ? 'corrupt' : (err as Error).message}`));
  }
  const record = /(^|\/)\.[^/]+\.[0-9a-f]{64}\.sha256$/;
  const stray = filesUnder(dir).filter((f) => !keys.includes(f) && !record.test(f));
  const ok = bad.length === 0 && stray.length === 0;
  return { ok, text: `${keys.length - bad.length}/${keys.length} objects whole, ${stray.length} stray files${ok ? '' : `: ${[...bad, ...stray].slice(0, 3).join('; ')}`}` };
}

// ---------------------------------------------------------------------------------------------

async function diskFull(dir: string, data: string): Promise<EdgeRow> {
  const row = { fault: 'artifact disk full mid-run', stage: 'train' };
  const disk = join(dir, 'disk');
  mkdirSync(disk, { recursive: true });
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', disk]).status !== 0) {
    return { ...row, outcome: 'not run: mounting a 32 MB tmpfs needs root with CAP_SYS_ADMIN', ok: true, checked: 'test/unit/artifacts/local-store-format.test.ts covers the store with fakes' };
  }
  try {
    const artifacts = join(disk, 'artifacts');
    const workDir = join(dir, 'work');
    const runId = 'edge-disk-full';
    const runner = startCli(['run', trainPipeline(dir, data, 'edge-disk-full', 6, artifacts), '--work-dir', workDir, '--run-id', runId], env);
    const exit = exited(runner);
    await waitFor('a checkpoint past step 20', async () => (filesUnder(artifacts).some((f) => (checkpointStep(f) ?? 0) >= 20) ? true : undefined), 120_000, 200);
    const filledAt = Date.now();
    fill(join(disk, 'filler'));
    const code = await Promise.race([exit, sleep(120_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      runner.kill('SIGKILL');
      return { ...row, outcome: 'nas run still running 120 s after the disk filled', ok: false, checked: lastError(runner.output()) };
    }
    const seconds = (Date.now() - filledAt) / 1000;
    const out = runner.output();
    const line = lastError(out);
    const whole = await wholeStore(artifacts);
    const said = code === 1 && line.includes('no space left on device') && line.includes(`nas resume ${runId}`) && line.includes(artifacts) && !STACK.test(out.stderr);
    rmSync(join(disk, 'filler'));
    const resumed = await runCli(['resume', runId, '--work-dir', workDir], env, 300_000);
    const finished = resumed.code === 0 && /test accuracy: 0\.\d{4}/.test(resumed.stdout);
    const wholeAfter = await wholeStore(artifacts);
    return {
      ...row,
      outcome: `nas run exit ${code} in one line: "${line.slice(0, 160)}${line.length > 160 ? '…' : ''}"; after freeing space nas resume exit ${resumed.code}${finished ? `, ${/test accuracy: (0\.\d{4})/.exec(resumed.stdout)![1]} test accuracy` : ''}`,
      seconds,
      ok: said && whole.ok && finished && wholeAfter.ok,
      checked: `while full: ${whole.text}; after the resume: ${wholeAfter.text}${said ? '' : `; the exit said: ${line}`}`,
    };
  } finally {
    spawnSync('umount', ['-l', disk]);
  }
}

/** Writes into `file` until the file system has no byte left. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------

function searchPipeline(dir: string, data: string): string {
  const file = join(dir, 'edge-boundary.yaml');
  writeFileSync(
    file,
    `version: 1
name: edge-boundary
seed: 5
dataset: { name: fashion-mnist, path: ${data} }
searchSpace:
  stem: { channels: 8, stride: 1 }
  stages:
    - { channels: 16, repeats: 1, stride: 2, kernels: [3, 5], expansions: [3, 6] }
    - { channels: 24, repeats: 2, stride: 2, kernels: [3, 5], expansions: [3, 6], skip: true }
  head: { channels: 64, dropout: 0 }
hardwareTargets:
  proxy: { plugin: macs }
stages:
  baselineSearch:
    strategy: { plugin: proxyless-gradient }
    target: proxy
    trainSubset: 1600
    epochs: 3
    warmupEpochs: 1
    batchSize: 32
    latencyWeight: 0.01
    checkpointEverySteps: 8
    heartbeatTimeoutSeconds: 20
`,
  );
  return file;
}

async function searchBlocks(workDir: string, runId: string): Promise<string[] | undefined> {
  const search = (await status(workDir, runId))?.result?.search;
  return search?.mode === 'one-shot' ? search.result.blocks : undefined;
}

async function corruptBoundaryCheckpoint(dir: string, data: string): Promise<EdgeRow> {
  const row = { fault: 'corrupt checkpoint at a search epoch boundary', stage: 'search' };
  const workDir = join(dir, 'work');
  const file = searchPipeline(dir, data);
  const quiet = await runCli(['run', file, '--work-dir', workDir, '--run-id', 'edge-boundary-quiet'], env, 300_000);
  if (quiet.code !== 0) return { ...row, outcome: `the undisturbed search failed (exit ${quiet.code})`, ok: false, checked: lastError(quiet) };
  const expected = await searchBlocks(workDir, 'edge-boundary-quiet');

  const artifacts = join(workDir, 'artifacts');
  // The first epoch's closing step, from the undisturbed run's epoch file (epochs count from 0):
  // the same seed and data give the same steps.
  const firstEpoch = runLayout('edge-boundary-quiet').search.epoch(0);
  const boundary = (await getJson<SupernetEpochMetrics>(new LocalArtifactStore(artifacts), firstEpoch).catch(() => undefined))?.steps;
  if (!boundary) return { ...row, outcome: 'the undisturbed search wrote no first epoch file with its steps', ok: false, checked: firstEpoch };

  const runId = 'edge-boundary';
  const runner = startCli(['run', file, '--work-dir', workDir, '--run-id', runId], env);
  const exit = exited(runner);
  const runCheckpoints = (): string[] => filesUnder(artifacts).filter((f) => checkpointStep(f) !== undefined && f.includes(runLayout(runId).root));
  // Killed once the second epoch has checkpointed, so that the first epoch's closing checkpoint is
  // the boundary's. The artifact folder is watched, not `nas status`: a status call can take
  // seconds on a loaded machine, and two more checkpoints prune the boundary's away.
  await waitFor(
    `a checkpoint past the boundary step ${boundary}`,
    async () => (runCheckpoints().some((f) => checkpointStep(f)! > boundary) ? true : undefined),
    180_000,
    25,
  );
  runner.kill('SIGKILL');
  await exit;
  const checkpoints = runCheckpoints();
  const boundaryFile = checkpoints.find((f) => checkpointStep(f) === boundary);
  if (!boundaryFile) return { ...row, outcome: `no checkpoint at the boundary step ${boundary}`, ok: false, checked: checkpoints.join(', ') };
  // As if the process had died just after writing the boundary checkpoint, torn: later ones go,
  // and the boundary's bytes are damaged in place (its size and integrity record stay).
  const later = checkpoints.filter((f) => checkpointStep(f)! > boundary);
  for (const f of later) rmSync(join(artifacts, f));
  const bytes = readFileSync(join(artifacts, boundaryFile));
  for (let i = Math.floor(bytes.length / 2); i < Math.min(bytes.length, Math.floor(bytes.length / 2) + 64); i++) bytes[i] ^= 0xff;
  writeFileSync(join(artifacts, boundaryFile), bytes);
  const resumedAt = Date.now();
  const resumed = await runCli(['resume', runId, '--work-dir', workDir], env, 300_000);
  const seconds = (Date.now() - resumedAt) / 1000;
  const blocks = resumed.code === 0 ? await searchBlocks(workDir, runId) : undefined;
  const log = readLog(workDir, runId);
  const sawCorrupt = log.includes(boundaryFile.split('/').pop()!) && /corrupt/i.test(log);
  const same = !!blocks && !!expected && blocks.join(' ') === expected.join(' ');
  return {
    ...row,
    outcome: `boundary step ${boundary} corrupted (${later.length} later checkpoints removed); nas resume exit ${resumed.code}, ${same ? "the undisturbed run's architecture" : `architecture ${blocks?.join(' ') ?? 'none'} against ${expected?.join(' ') ?? 'none'}`}`,
    seconds,
    ok: resumed.code === 0 && same && sawCorrupt,
    checked: `${sawCorrupt ? 'the worker log names the corrupt checkpoint' : 'the worker log does not name the corrupt checkpoint'}; ${(await wholeStore(artifacts)).text}`,
  };
}

function readLog(workDir: string, runId: string): string {
  const file = join(workDir, 'logs', `${runId}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

// ---------------------------------------------------------------------------------------------

async function divergedTraining(dir: string, data: string): Promise<EdgeRow> {
  const row = { fault: 'diverging training (learning rate 10)', stage: 'elastic' };
  const file = join(dir, 'edge-diverged.yaml');
  writeFileSync(
    file,
    `version: 1
name: edge-diverged
seed: 3
dataset: { name: fashion-mnist, path: ${data} }
stages:
  elasticTraining:
    model: { kind: small-cnn, filters: 8 }
    perWorkerBatch: 64
    workers: { min: 1, max: 1 }
    epochs: 2
    learningRate: 10
    checkpointEverySteps: 10
`,
  );
  const workDir = join(dir, 'work');
  const started = Date.now();
  const out = await runCli(['run', file, '--work-dir', workDir, '--run-id', 'edge-diverged'], env, 300_000);
  const seconds = (Date.now() - started) / 1000;
  const line = lastError(out);
  const named = /stage elastic\/small-cnn: elastic training diverged at step \d+: worker \S+ /.test(line);
  const models = filesUnder(join(workDir, 'artifacts')).filter((f) => /model\.json$|weights\.bin$/.test(f));
  return {
    ...row,
    outcome: `nas run exit ${out.code} in one line: "${line.slice(0, 200)}${line.length > 200 ? '…' : ''}"`,
    seconds,
    ok: out.code === 1 && named && !STACK.test(out.stderr) && models.length === 0,
    checked: `names stage, step and worker: ${named ? 'yes' : 'no'}; exported models: ${models.length}`,
  };
}

// ---------------------------------------------------------------------------------------------

async function serverKilled(dir: string, data: string): Promise<EdgeRow> {
  const row = { fault: 'dev server SIGKILLed under nas run', stage: 'train' };
  const workDir = join(dir, 'work');
  const runId = 'edge-server';
  const runner = startCli(['run', trainPipeline(dir, data, 'edge-server', 4), '--work-dir', workDir, '--run-id', runId], env);
  const exit = exited(runner);
  await waitFor('step 25', async () => ((await activityStep(workDir, runId))?.step ?? 0) >= 25 || undefined, 120_000, 300);
  const { pid } = JSON.parse(readFileSync(join(workDir, 'temporal-server.json'), 'utf8')) as { pid: number };
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  const noticed = await waitFor('nas run to say so', async () => (/the embedded Temporal server \(pid \d+\) has stopped/.test(runner.output().stderr) ? Date.now() : undefined), 30_000, 100).catch(() => undefined);
  const code = await exit;
  const exitSeconds = (Date.now() - killedAt) / 1000;
  const out = runner.output();
  const line = lastError(out);
  const resumed = await runCli(['resume', runId, '--work-dir', workDir], env, 300_000);
  const finished = resumed.code === 0 && /test accuracy: 0\.\d{4}/.test(resumed.stdout);
  const leftover = existsSync(join(workDir, 'temporal-server.json'));
  const said = code === 1 && line.includes(`nas resume ${runId}`) && !STACK.test(out.stderr);
  return {
    ...row,
    outcome: `said after ${noticed ? ((noticed - killedAt) / 1000).toFixed(1) : 'never'} s; nas run exit ${code} after ${exitSeconds.toFixed(0)} s in one line; nas resume exit ${resumed.code}${finished ? `, ${/test accuracy: (0\.\d{4})/.exec(resumed.stdout)![1]} test accuracy` : ''}`,
    seconds: exitSeconds,
    ok: noticed !== undefined && said && finished && !leftover,
    checked: `exit line: "${line.slice(0, 120)}…"; server left after the resume: ${leftover ? 'yes' : 'no'}`,
  };
}

// ---------------------------------------------------------------------------------------------

async function stalePid(dir: string): Promise<EdgeRow> {
  const row = { fault: "stale server state file naming another process's pid", stage: '-' };
  const workDir = join(dir, 'work');
  mkdirSync(workDir, { recursive: true });
  // An unrelated process that took the dead server's pid (after a reboot, pid reuse).
  const bystander = spawn('sleep', ['600'], { stdio: 'ignore' });
  try {
    writeFileSync(join(workDir, 'temporal-server.json'), JSON.stringify({ pid: bystander.pid, address: '127.0.0.1:1', uiAddress: '127.0.0.1:2', dbFile: join(workDir, 'temporal.db') }));
    const results = [];
    for (const args of [['list'], ['server', 'status'], ['server', 'stop']]) results.push({ args, out: await runCli([...args, '--work-dir', workDir], env, 60_000) });
    await sleep(500);
    const alive = bystander.exitCode === null && bystander.signalCode === null;
    const stacks = results.filter((r) => STACK.test(r.out.stderr)).map((r) => r.args.join(' '));
    return {
      ...row,
      outcome: `${results.map((r) => `nas ${r.args.join(' ')} exit ${r.out.code}`).join(', ')}; the other process ${alive ? 'left running' : 'KILLED'}`,
      ok: alive && stacks.length === 0,
      checked: stacks.length ? `stacks from ${stacks.join(', ')}` : results.map((r) => `${r.args.join(' ')}: ${(r.out.stdout.trim().split('\n')[0] ?? '') || lastError(r.out)}`.slice(0, 100)).join(' / '),
    };
  } finally {
    bystander.kill('SIGKILL');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
