/**
 * What the compiled CLI prints reaches a pipe whole: a reader that is slow to start (a `jq` still
 * loading, a busy machine) must get the entire document, not the first 64 KiB the pipe buffered
 * before the process exited.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, NAS_BIN } from './support/cli';
import { COMMANDS } from '../../cli/main';

test('a large --json output piped into a slow reader parses whole', () => {
  // The reader starts a second late, so everything past the pipe's buffer waits in the process.
  const piped = spawnSync('bash', ['-c', `"${process.execPath}" "${NAS_BIN}" arch describe efficientnet-b6 --resolution 528 --json | (sleep 1; cat)`], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  expect(piped.status).toBe(0);
  expect(piped.stdout.length).toBeGreaterThan(65_536);
  const description = JSON.parse(piped.stdout) as { params?: unknown };
  expect(description).toEqual(expect.objectContaining({ params: expect.anything() }));
});

test('an unknown option is one line and exit 2 for every command, never a stack', () => {
  for (const command of Object.keys(COMMANDS)) {
    const result = spawnSync(process.execPath, [NAS_BIN, command, '--no-such-option', 'x'], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS: '' } });
    expect({ command, code: result.status, lines: result.stderr.trim().split('\n').length, stack: /\n\s+at /.test(result.stderr) }).toEqual({ command, code: 2, lines: 1, stack: false });
    expect(result.stderr).toMatch(new RegExp(`^nas ${command}: .*no-such-option`));
  }
});

/** The compiled CLI on `args`; Temporal points at a closed port, so nothing can start a run for real. */
function nas(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [NAS_BIN, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: cleanEnv({ TEMPORAL_ADDRESS: '127.0.0.1:1', ...env }),
  });
  return { code: result.status, stderr: result.stderr, lines: result.stderr.trim().split('\n'), stack: /\n\s+at /.test(result.stderr) };
}

describe('bad input is refused in one line, exit 2, before anything is written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nas-cli-input-'));
  const artifacts = join(dir, 'artifacts');
  const pipeline = join(dir, 'ids.yaml');
  writeFileSync(pipeline, `version: 1\nname: ids\ndataset: { name: fashion-mnist }\nstages: { train: {} }\nartifacts: { location: ${artifacts} }\n`);

  test('a run id that is not one key segment, for nas run and the commands taking a run', () => {
    for (const id of ['alpha/train', '../alpha', '.hidden', 'a'.repeat(101), 'tab\there']) {
      const run = nas(['run', pipeline, '--run-id', id]);
      expect({ id, code: run.code, lines: run.lines.length, stack: run.stack }).toEqual({ id, code: 2, lines: 1, stack: false });
      expect(run.stderr).toMatch(/^nas run: invalid run id ".*": a run id /);
    }
    expect(existsSync(artifacts)).toBe(false);
    for (const command of ['status', 'watch', 'cancel', 'resume', 'report']) {
      const result = nas([command, 'alpha/train']);
      expect({ command, code: result.code, lines: result.lines.length }).toEqual({ command, code: 2, lines: 1 });
      expect(result.stderr).toContain(`nas ${command}: invalid run id "alpha/train": a run id may only use letters, digits, '.', '_' and '-'`);
    }
  });

  test('an artifact location nas cannot open is a problem at its line, for nas validate and nas run', () => {
    const file = join(dir, 'gs.yaml');
    writeFileSync(file, 'version: 1\nname: gs\ndataset: { name: fashion-mnist }\nstages: { train: {} }\nartifacts: { location: gs://bucket }\n');
    for (const command of ['validate', 'run']) {
      const result = nas([command, file]);
      expect({ command, code: result.code, stack: result.stack }).toEqual({ command, code: 2, stack: false });
      expect(result.lines[0]).toBe(`${file}:5:24: artifacts.location: unsupported artifact store location "gs://bucket": scheme "gs:" is not supported; use a folder path, file:///path or s3://bucket/prefix`);
    }
  });

  test('a TypeScript pipeline whose top level never finishes is refused after the time limit, not a hang', () => {
    const file = join(dir, 'loops.ts');
    writeFileSync(file, 'for (;;) {}\nexport default {};\n');
    for (const command of ['validate', 'run']) {
      const started = Date.now();
      const result = nas([command, file], { NAS_MODULE_LOAD_TIMEOUT_MS: '1000' });
      expect({ command, code: result.code, stack: result.stack }).toEqual({ command, code: 2, stack: false });
      expect(result.lines[0].startsWith(`${file}:1:1: (root): ${file} did not finish loading within 1 s`)).toBe(true);
      expect(Date.now() - started).toBeLessThan(15_000);
    }
  });
});
