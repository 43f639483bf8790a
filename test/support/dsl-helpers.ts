// Shared by the dsl-*.test.ts files (not a test itself: no .test. in the name).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineValidationError, type PipelineProblem } from '../../dsl/load';

export function problemsOf(fn: () => unknown): PipelineProblem[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof PipelineValidationError) return err.problems;
    throw err;
  }
  throw new Error('expected the pipeline to be invalid');
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'nas-dsl-'));
}

export function writeTemp(dir: string, name: string, content: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}
