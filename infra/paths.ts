/** Where the project's own installed tools live, whether code runs from source or from dist/. */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

/** The folder holding this project's package.json (walks up, so dist/ and source agree). */
export function repoRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'hwnas') {
      return (cached = dir);
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the hwnas package root above ${__dirname}`);
    dir = parent;
  }
}

/** The first executable among an env override, the project's install folders, and PATH. */
export function findTool(name: string, envVar: string, projectPaths: string[]): string | undefined {
  const fromEnv = process.env[envVar]?.trim();
  if (fromEnv) return fromEnv;
  const candidates = projectPaths.map((p) => path.join(repoRoot(), p));
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, name));
  return candidates.find((c) => existsSync(c));
}

/** This package's version, as package.json says. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
