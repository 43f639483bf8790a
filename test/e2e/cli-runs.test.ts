/**
 * Run management on the real stack: `nas list`, `status`, `watch` and `cancel` (the compiled CLI in
 * child processes) against the embedded Temporal that `nas run` uses, both while a run has it up and
 * after it has stopped, when the commands start it again on its database.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../../infra/free-port';
import type { RunReport } from '../../cli/runs';
import { runLayout } from '../../core/run-layout';
import { cleanEnv, expectExitedZero, runCli, startCli, stopChild, stopLeftoverDevServer, waitFor, type CliResult } from '../integration/support/cli';
import { writeFashionSubset } from '../integration/support/fashion-subset';

jest.setTimeout(300_000);

const root = mkdtempSync(join(tmpdir(), 'nas-cli-runs-'));
const dataDir = writeFashionSubset(join(root, 'fashion'), 3000, 500);
const workDir = join(root, 'work');
const env = cleanEnv();

/** `step`: the model and batch; the default trains a step in a few milliseconds. */
function pipelineFile(name: string, epochs: number, step: { filters: number; batchSize: number } = { filters: 8, batchSize: 64 }): string {
  const file = join(root, `${name}.yaml`);
  writeFileSync(
    file,
    `version: 1
name: ${name}
seed: 3
dataset: { name: fashion-mnist, path: ${dataDir} }
artifacts: { location: ${join(root, 'artifacts')} }
stages:
  train:
    model: { kind: small-cnn, filters: ${step.filters} }
    epochs: ${epochs}
    batchSize: ${step.batchSize}
    learningRate: 0.002
    checkpointEverySteps: 20
    heartbeatTimeoutSeconds: 30
`,
  );
  return file;
}

function nas(args: string[], extraEnv: NodeJS.ProcessEnv = env): Promise<CliResult> {
  return runCli([...args, '--work-dir', workDir], extraEnv, 120_000);
}

interface ListedRun {
  runId: string;
  pipelineName: string | null;
  status: string;
  durationSeconds: number;
}

async function listed(): Promise<ListedRun[]> {
  const result = await nas(['list', '--json']);
  expectExitedZero(result);
  return JSON.parse(result.stdout) as ListedRun[];
}

/**
 * `nas list` reads Temporal's visibility store, which catches up with a workflow's state a moment
 * after it changes (unlike `nas status`, which describes the workflow itself). Polls until `ok`
 * holds, for up to 30 s, and returns the last list either way, for the caller's assertion to show.
 */
async function listedWhen(ok: (runs: ListedRun[]) => boolean): Promise<ListedRun[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const runs = await listed();
    if (ok(runs) || Date.now() > deadline) return runs;
    await new Promise((r) => setTimeout(r, 500));
  }
}

const children: ChildProcess[] = [];

/** Starts `nas run` of a training pipeline and returns once `nas status` shows it past `step` (the step it saw). */
async function runPastStep(name: string, epochs: number, runId: string, step: number, sizes?: Parameters<typeof pipelineFile>[2]) {
  const runner = startCli(['run', pipelineFile(name, epochs, sizes), '--work-dir', workDir, '--run-id', runId], env);
  children.push(runner);
  const runnerExit = new Promise<number | null>((resolve) => runner.once('close', resolve));
  await waitFor('nas run to start its server', async () => (/dev server at/.test(runner.output().stdout) ? true : undefined), 60_000);
  const seen = await waitFor(
    `${runId} to pass step ${step}`,
    async () => {
      const result = await nas(['status', runId, '--json']);
      const report = result.code === 0 ? (JSON.parse(result.stdout) as RunReport) : undefined;
      const at = report?.current?.snapshot?.activity?.step;
      return at !== undefined && at >= step ? at : undefined;
    },
    120_000,
    500,
  );
  return { runner, runnerExit, seen };
}

afterAll(async () => {
  await Promise.all(children.map((c) => stopChild(c)));
  // A `nas run` stopped by a failed test leaves its dev server behind; it is this suite's to end.
  stopLeftoverDevServer(workDir);
});

describe('nas list / status / watch / cancel, embedded', () => {
  let completedRunId = '';

  test('before any run there is nothing to list, and looking creates no database', async () => {
    const result = await nas(['list']);
    expectExitedZero(result);
    expect(result.stdout).toContain(`no runs in the embedded Temporal database ${join(workDir, 'temporal.db')}`);
    expect(existsSync(join(workDir, 'temporal.db'))).toBe(false);
  });

  test('a completed run is listed and reported after its `nas run` has stopped the server', async () => {
    const ran = await nas(['run', pipelineFile('cli-small', 1)]);
    expectExitedZero(ran);
    completedRunId = /^run (\S+): pipeline "cli-small"/m.exec(ran.stdout)![1];
    expect(existsSync(join(workDir, 'temporal-server.json'))).toBe(false);

    const [entry] = (await listedWhen((runs) => runs.some((r) => r.runId === completedRunId && r.status === 'completed'))).filter((r) => r.runId === completedRunId);
    expect(entry).toMatchObject({ pipelineName: 'cli-small', status: 'completed' });
    expect(entry.durationSeconds).toBeGreaterThan(0);

    const status = await nas(['status', completedRunId]);
    expectExitedZero(status);
    expect(status.stdout).toContain(`run ${completedRunId} (pipeline "cli-small"): completed`);
    expect(status.stdout).toMatch(/stage train: done in [\d.]+ s/);
    expect(status.stdout).toMatch(/test accuracy: 0\.\d{4}/);
    // A finished run's results, as its `nas run` printed them: where the model and metrics are.
    expect(status.stdout).toContain(`  model:   ${join(root, 'artifacts')}/${runLayout(completedRunId).root}`);
    expect(status.stdout).toContain(`  metrics: ${join(root, 'artifacts')}/${runLayout(completedRunId).root}`);
    // The commands stop a server they started, as `nas run` does.
    expect(existsSync(join(workDir, 'temporal-server.json'))).toBe(false);
  });

  test('an unknown run id is named in a one-line error, exit 1, for every command', async () => {
    for (const command of ['status', 'watch', 'cancel']) {
      const result = await nas([command, 'no-such-run']);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(`nas ${command}: no run "no-such-run" in the embedded Temporal database ${join(workDir, 'temporal.db')} (\`nas list\` shows the runs there)`);
    }
    // A stage's workflow id is not a run id.
    const stage = await nas(['status', `${completedRunId}.train`]);
    expect(stage.code).toBe(1);
    expect(stage.stderr).toContain(`is a stage of run "${completedRunId}"`);
  });

  test('a running run: listed as running, status shows the stage and its progress, watch detaches on Ctrl-C and follows it to its end, cancel stops it', async () => {
    // Far more epochs than the test waits for: the run ends by cancellation.
    const runner = startCli(['run', pipelineFile('cli-long', 200), '--work-dir', workDir, '--run-id', 'long-1'], env);
    children.push(runner);
    const runnerExit = new Promise<number | null>((resolve) => runner.once('close', resolve));
    // Look only once `nas run` has its server up, so every command below reuses that one.
    await waitFor('nas run to start its server', async () => (/dev server at/.test(runner.output().stdout) ? true : undefined), 60_000);

    const running = await waitFor(
      'status of long-1 to show the training heartbeat',
      async () => {
        const result = await nas(['status', 'long-1', '--json']);
        const report = result.code === 0 ? (JSON.parse(result.stdout) as RunReport) : undefined;
        return report?.current?.snapshot?.activity ? report : undefined;
      },
      120_000,
      1000,
    );
    expect(running).toMatchObject({ runId: 'long-1', pipelineName: 'cli-long', status: 'running', stages: [], current: { stage: 'train' } });
    expect(running.current?.progress).toMatch(/^\[train\] epoch \d+\/200 {2}step \d+\/9400/);

    const runs = await listedWhen((rs) => rs.some((r) => r.runId === 'long-1' && r.status === 'running') && rs.some((r) => r.runId === completedRunId));
    expect(runs.map((r) => [r.runId, r.status])).toEqual([
      ['long-1', 'running'],
      [completedRunId, 'completed'],
    ]);

    const detached = startCli(['watch', 'long-1', '--work-dir', workDir], env);
    children.push(detached);
    await waitFor('watch to attach', async () => (detached.output().stdout.includes('watching run long-1') ? true : undefined), 60_000);
    const detachedExit = new Promise<number | null>((resolve) => detached.once('close', resolve));
    detached.kill('SIGINT');
    expect(await detachedExit).toBe(130);
    expect(detached.output().stdout).toContain('detached from run long-1; it goes on');
    expect(JSON.parse((await nas(['status', 'long-1', '--json'])).stdout)).toMatchObject({ status: 'running' });

    const watcher = startCli(['watch', 'long-1', '--work-dir', workDir], env);
    children.push(watcher);
    const watcherExit = new Promise<number | null>((resolve) => watcher.once('close', resolve));
    await waitFor('watch to attach', async () => (watcher.output().stdout.includes('watching run long-1') ? true : undefined), 60_000);

    const cancelled = await nas(['cancel', 'long-1']);
    expect(cancelled.stderr).toBe('');
    expectExitedZero(cancelled);
    expect(cancelled.stdout).toContain('run long-1: cancellation requested');
    expect(cancelled.stdout).toContain('run long-1 (pipeline "cli-long"): cancelled');

    // The watcher sees the end and says how it ended; cancelled is not success.
    expect(await watcherExit).toBe(1);
    expect(watcher.output().stdout).toMatch(/run long-1 \(pipeline "cli-long"\): cancelled\n.*\n {2}stopped in stage train/);

    const status = await nas(['status', 'long-1']);
    expectExitedZero(status);
    expect(status.stdout).toContain('run long-1 (pipeline "cli-long"): cancelled');
    expect(status.stdout).toContain('stopped in stage train');

    const again = await nas(['cancel', 'long-1']);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe('nas cancel: run long-1 has already ended (cancelled): there is nothing to cancel');

    // The `nas run` that started it reports the end and stops its server; nothing is left running.
    // It says how the run ended and how to go on, not a stack trace: its progress poll used to be
    // left retrying on a connection the run then closed ("Channel has been shut down").
    expect(await runnerExit).toBe(1);
    // A line of its own, not necessarily the last: the Temporal core may flush a late log line after it.
    expect(runner.output().stderr.split('\n')).toContain('nas run: run long-1 was cancelled; `nas resume long-1` continues it from its finished stages and checkpoints');
    expect(runner.output().stderr).not.toMatch(/Channel has been shut down|\n\s+at /);
    expect(existsSync(join(workDir, 'temporal-server.json'))).toBe(false);
    expect((await listedWhen((rs) => rs.some((r) => r.runId === 'long-1' && r.status === 'cancelled'))).find((r) => r.runId === 'long-1')?.status).toBe('cancelled');
  });

  test('a cancelled run resumes from its checkpoint; a completed one is left as it is', async () => {
    // Cancel once a checkpoint is behind the training (every 20 steps).
    const { runner, runnerExit, seen } = await runPastStep('cli-resume', 20, 'resume-1', 45);
    expectExitedZero(await nas(['cancel', 'resume-1']));
    expect(await runnerExit).toBe(1);
    expect(runner.output().stderr).toContain('nas run: run resume-1 was cancelled; `nas resume resume-1` continues it');

    const resumed = await runCli(['resume', 'resume-1', '--work-dir', workDir], env, 240_000);
    expect(resumed.stderr).toBe('');
    expectExitedZero(resumed);
    expect(resumed.stdout).toContain('resuming run resume-1 (cancelled)');
    const from = Number(/training resumed from step (\d+) after an interruption/.exec(resumed.stdout)?.[1]);
    // A cancelled training writes a last checkpoint where it stops: nothing it did is lost.
    expect(from).toBeGreaterThanOrEqual(seen);
    expect(resumed.stdout).toMatch(/test accuracy: 0\.\d{4}/);
    expect((await listedWhen((rs) => rs.some((r) => r.runId === 'resume-1' && r.status === 'completed'))).find((r) => r.runId === 'resume-1')?.status).toBe('completed');

    const again = await runCli(['resume', 'resume-1', '--work-dir', workDir], env, 60_000);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe('nas resume: run resume-1 has already completed: nothing to resume, and its results stay as they are');

    // The same `nas run` again is refused in one line, and the run's resolved pipeline is left as it was.
    const pipelineKey = join(root, 'artifacts', runLayout('resume-1').pipeline);
    const before = readFileSync(pipelineKey);
    const rerun = await runCli(['run', pipelineFile('cli-resume-other', 1), '--work-dir', workDir, '--run-id', 'resume-1'], env, 60_000);
    expect(rerun.code).toBe(2);
    expect(rerun.stderr.trim()).toBe(`nas run: run resume-1 exists already (${join(root, 'artifacts')}/runs/resume-1): \`nas resume resume-1\` continues it; a new run needs another --run-id, or none for a fresh one`);
    expect(readFileSync(pipelineKey)).toEqual(before);
  });

  test('Ctrl-C stops nas run cleanly and leaves its run open; nas resume carries it on from its checkpoint', async () => {
    const { runner, runnerExit, seen } = await runPastStep('cli-interrupt', 6, 'interrupt-1', 45);
    runner.kill('SIGINT');
    // Said at once, not after the workers' few seconds of stopping.
    await waitFor('nas run to say it is stopping', async () => (/SIGINT: stopping; the running stage writes a checkpoint first/.test(runner.output().stderr) ? true : undefined), 2000, 100);
    // The shell's code for SIGINT, one line saying what became of the run, no stack trace; the
    // embedded server is stopped only after the worker (its own process group keeps it up meanwhile).
    expect(await runnerExit).toBe(130);
    expect(runner.output().stderr.split('\n')).toContain(
      'nas run: interrupted by SIGINT: this process stopped; run interrupt-1 stays open, and `nas resume interrupt-1` continues it from its finished stages and checkpoints',
    );
    expect(runner.output().stderr).not.toMatch(/\n\s+at |IllegalStateError|Channel has been shut down/);
    expect(existsSync(join(workDir, 'temporal-server.json'))).toBe(false);
    expect(JSON.parse((await nas(['status', 'interrupt-1', '--json'])).stdout)).toMatchObject({ status: 'running' });

    // Running the pipeline again does not start it from scratch beside the open run: one line says how to go on.
    const file = pipelineFile('cli-interrupt', 6);
    const again = await runCli(['run', file, '--work-dir', workDir], env, 60_000);
    expect(again.code).toBe(1);
    const refusal = again.stderr.trim();
    expect(refusal.split('\n')).toHaveLength(1);
    expect(refusal).toContain('nas run: run interrupt-1 of pipeline "cli-interrupt" has not finished (started ');
    expect(refusal).toContain(
      `: nothing executes it since the nas run that started it stopped; \`nas resume interrupt-1\` continues it. \`nas run ${file} --new\` starts another run anyway; nothing was started`,
    );
    expect(again.stdout).toBe('');
    expect((await listed()).filter((r) => r.pipelineName === 'cli-interrupt').map((r) => r.runId)).toEqual(['interrupt-1']);
    expect(existsSync(join(workDir, 'temporal-server.json'))).toBe(false);

    const resumed = await runCli(['resume', 'interrupt-1', '--work-dir', workDir], env, 240_000);
    expectExitedZero(resumed);
    expect(resumed.stdout).toContain('run interrupt-1 is still open (running); following it to the end');
    const from = Number(/training resumed from step (\d+) after an interruption/.exec(resumed.stdout)?.[1]);
    // The worker's graceful stop writes a last checkpoint where the training stopped.
    expect(from).toBeGreaterThanOrEqual(seen);
    expect(resumed.stdout).toMatch(/test accuracy: 0\.\d{4}/);
  });

  test('after a SIGKILL of nas run, the same command again says how to go on, nas resume finishes the one run, and no server is left', async () => {
    const { runner, runnerExit } = await runPastStep('cli-killed', 3, 'killed-1', 25);
    const serverPid = (JSON.parse(readFileSync(join(workDir, 'temporal-server.json'), 'utf8')) as { pid: number }).pid;
    runner.kill('SIGKILL');
    await runnerExit;
    const file = pipelineFile('cli-killed', 3);

    const sameId = await runCli(['run', file, '--work-dir', workDir, '--run-id', 'killed-1'], env, 60_000);
    expect(sameId.code).toBe(2);
    expect(sameId.stderr.trim()).toBe(
      `nas run: run killed-1 exists already (${join(root, 'artifacts')}/runs/killed-1): \`nas resume killed-1\` continues it; a new run needs another --run-id, or none for a fresh one`,
    );
    const plain = await runCli(['run', file, '--work-dir', workDir], env, 60_000);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('nas run: run killed-1 of pipeline "cli-killed" has not finished');
    expect(plain.stderr).toContain('`nas resume killed-1` continues it');

    const resumed = await runCli(['resume', 'killed-1', '--work-dir', workDir], env, 240_000);
    expectExitedZero(resumed);
    expect(resumed.stdout).toMatch(/test accuracy: 0\.\d{4}/);
    // One run of the pipeline, finished; the server the killed process left is gone with the last user.
    const runs = await listedWhen((rs) => rs.some((r) => r.runId === 'killed-1' && r.status === 'completed'));
    expect(runs.filter((r) => r.pipelineName === 'cli-killed').map((r) => [r.runId, r.status])).toEqual([['killed-1', 'completed']]);
    expect(existsSync(join(workDir, 'temporal-server.json'))).toBe(false);
    let alive = true;
    try {
      process.kill(serverPid, 0);
    } catch {
      alive = false;
    }
    expect(alive).toBe(false);
  });

  test('the dev server dying under nas run is said at once and in one line at the end, and nas resume carries the run on', async () => {
    const { runner, runnerExit } = await runPastStep('cli-server-lost', 4, 'lost-1', 25);
    const serverPid = (JSON.parse(readFileSync(join(workDir, 'temporal-server.json'), 'utf8')) as { pid: number }).pid;
    process.kill(serverPid, 'SIGKILL');
    await waitFor('nas run to notice', async () => (/the embedded Temporal server \(pid \d+\) has stopped; stopping the workers/.test(runner.output().stderr) ? true : undefined), 5000, 200);
    expect(await runnerExit).toBe(1);
    const stderr = runner.output().stderr;
    expect(stderr.split('\n')).toContainEqual(expect.stringMatching(/^nas run: the embedded Temporal server at 127\.0\.0\.1:\d+ stopped \(its log: .*temporal-server\.log\)\. Run lost-1 stays as its last checkpoint left it: `nas resume lost-1` starts the server again and continues it$/));
    expect(stderr).not.toMatch(/\n\s+at /);

    const resumed = await runCli(['resume', 'lost-1', '--work-dir', workDir], env, 240_000);
    expectExitedZero(resumed);
    expect(resumed.stdout).toMatch(/test accuracy: 0\.\d{4}/);
    expect(existsSync(join(workDir, 'temporal-server.json'))).toBe(false);
  });

  test('a second Ctrl-C quits at once, says how to go on, and leaves no server behind', async () => {
    // Steps of about a second (the first Ctrl-C waits for the running one and its checkpoint), so
    // that the second comes while the first is still being carried out.
    const { runner, runnerExit } = await runPastStep('cli-quit', 50, 'quit-1', 2, { filters: 32, batchSize: 1000 });
    runner.kill('SIGINT');
    await waitFor('nas run to say it is stopping', async () => (/SIGINT: stopping/.test(runner.output().stderr) ? true : undefined), 2000, 100);
    const second = Date.now();
    runner.kill('SIGINT');
    expect(await runnerExit).toBe(130);
    expect(Date.now() - second).toBeLessThan(5000);
    expect(runner.output().stderr.split('\n')).toContain(
      'nas run: interrupted by SIGINT: quit without waiting for a checkpoint; run quit-1 stays open, and `nas resume quit-1` continues it from its finished stages and checkpoints',
    );
    await waitFor('the dev server to be stopped', async () => (existsSync(join(workDir, 'temporal-server.json')) ? undefined : true), 15_000, 200);
    expectExitedZero(await nas(['cancel', '--terminate', 'quit-1']));
  });

  test('a dead TEMPORAL_ADDRESS is named in the error', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const result = await nas(['list'], cleanEnv({ TEMPORAL_ADDRESS: address }));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`nas list: cannot reach Temporal at ${address}`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
