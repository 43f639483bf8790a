/**
 * Chart.js's minified browser build (UMD, about 200 kB), read from node_modules so that the report
 * can inline it: the HTML then needs no network and no files beside it.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export function chartLibrarySource(): string {
  // The package's exports map hides dist/ files; its main entry sits in dist/ next to the UMD build.
  const main = require.resolve('chart.js');
  const file = path.join(path.dirname(main), 'chart.umd.min.js');
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read Chart.js's browser build at ${file} (${(err as Error).message}); run \`npm ci\``);
  }
}
