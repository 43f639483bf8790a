/** Runs the real `nas` CLI (the compiled one in dist/, as users run it) in a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../../infra/paths';

export const NAS_BIN = join(repoRoot(), 'bin', 'nas.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without Temporal or AWS settings leaking in from the developer's shell. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('TEMPORAL_') || key.startsWith('AWS_') || key.startsWith('NAS_S3')) delete env[key];
  }
  return { ...env, ...extra };
}

export function startCli(args: string[], env: NodeJS.ProcessEnv, cwd = repoRoot()): ChildProcess & { output: () => CliResult } {
  const child = spawn(process.execPath, [NAS_BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return Object.assign(child, { output: () => ({ code: child.exitCode, stdout, stderr }) });
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 300_000, cwd?: string): Promise<CliResult> {
  const child = startCli(args, env, cwd);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nas ${args.join(' ')} timed out after ${timeoutMs} ms\n${child.output().stdout}\n${child.output().stderr}`));
    }, timeoutMs);
    // 'close', not 'exit': it fires only once the pipes have drained, so no output is cut off.
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ ...child.output(), code });
    });
  });
}

/**
 * Fails unless the CLI exited 0, with the end of what it printed: a bare "expected 0, received 1"
 * says nothing about a failure seen once in CI.
 */
export function expectExitedZero(result: CliResult): void {
  if (result.code === 0) return;
  const tail = (text: string) => (text.length > 6000 ? `...${text.slice(-6000)}` : text);
  throw new Error(`nas exited with ${result.code}\n--- stderr ---\n${tail(result.stderr)}\n--- stdout ---\n${tail(result.stdout)}`);
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Stops a child: SIGTERM, then SIGKILL if it has not gone within the grace period. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await closed;
  clearTimeout(timer);
}

/**
 * Ends the embedded dev server a `nas run` left behind in `workDir` (one killed, or stopped by a
 * failed test: a later `nas resume` would reuse it), found through its state file.
 */
export function stopLeftoverDevServer(workDir: string): void {
  const stateFile = join(workDir, 'temporal-server.json');
  if (!existsSync(stateFile)) return;
  const { pid } = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number };
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
}
