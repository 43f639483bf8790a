/**
 * `nas doctor`: one line per piece of the stack, each measured rather than assumed. Exits 1 when
 * anything the main job needs is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { openArtifactStore } from '../../artifacts';
import { backendInfo, loadTf } from '../../engine/backend';
import { fashionMnistDir, findFashionMnist } from '../../engine/data/fashion-mnist';
import { readIdxFile } from '../../engine/data/idx';
import { measureConvTrainingThroughput } from '../../engine/throughput';
import { findTemporalCli } from '../../infra/temporal-dev-server';
import { DEFAULT_CHROMIUM } from '../../plugins/builtin/browser-targets';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const HELP = `usage: nas doctor [--artifacts LOCATION] [--no-js-baseline] [--json]

  --artifacts LOCATION  the artifact store to test for writing (default .nas/artifacts)
  --no-js-baseline      skip timing the pure-JavaScript backend (it takes a few seconds)
  --json                print the checks as JSON`;

async function check(name: string, fn: () => Promise<string> | string): Promise<Check> {
  try {
    return { name, ok: true, detail: await fn() };
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message.split('\n')[0] };
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      artifacts: { type: 'string', default: '.nas/artifacts' },
      'no-js-baseline': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }

  const checks: Check[] = [];
  const report = (c: Check): void => {
    checks.push(c);
    if (!values.json) console.log(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(18)} ${c.detail}`);
  };

  report(
    await check('temporal cli', () => {
      const cli = findTemporalCli();
      return `${execFileSync(cli, ['--version'], { encoding: 'utf8' }).trim()} (${cli})`;
    }),
  );

  let nativeGflops: number | undefined;
  report(
    await check('tensor backend', () => {
      const info = backendInfo();
      if (info.backend !== 'tensorflow') throw new Error(`backend is ${info.backend}, expected the native "tensorflow"`);
      const lib = info.libtensorflowStaged ? `, libtensorflow ${info.libtensorflowStaged} from PyPI` : '';
      return `${info.backend} via ${info.package} (tfjs ${info.version}${lib})`;
    }),
  );
  report(
    await check('train throughput', async () => {
      loadTf();
      const m = await measureConvTrainingThroughput({ backend: 'tensorflow' });
      nativeGflops = m.gflops;
      return `${m.gflops.toFixed(2)} GFLOP/s, ${m.imagesPerSecond.toFixed(0)} images/s (native, small conv net, batch ${m.batchSize})`;
    }),
  );
  if (!values['no-js-baseline']) {
    report(
      await check('js baseline', async () => {
        const m = await measureConvTrainingThroughput({ backend: 'cpu' });
        const ratio = nativeGflops ? `; native is ${(nativeGflops / m.gflops).toFixed(0)}x faster` : '';
        return `${m.gflops.toFixed(3)} GFLOP/s on the pure-JS cpu backend, same net${ratio}`;
      }),
    );
  }
  report(
    await check('dataset', () => {
      const files = findFashionMnist();
      const train = readIdxFile(files[0]);
      const test = readIdxFile(files[2]);
      return `fashion-mnist in ${fashionMnistDir()} (${train.dims[0]} train, ${test.dims[0]} test images)`;
    }),
  );
  report(
    await check('artifact store', async () => {
      const location = /^[a-z0-9]+:\/\//i.test(values.artifacts!) ? values.artifacts! : path.resolve(values.artifacts!);
      const store = openArtifactStore(location);
      const key = `doctor/probe-${process.pid}`;
      const written = new TextEncoder().encode(`probe ${Date.now()}`);
      await store.put(key, written);
      const read = await store.get(key);
      await store.delete(key);
      if (Buffer.compare(Buffer.from(read), Buffer.from(written)) !== 0) throw new Error(`${location}: read back different bytes`);
      return `${location} is writable`;
    }),
  );
  report(
    await check('browser', () => {
      // Only the browser-* targets need it, so a machine without one is not failing a check.
      if (!existsSync(DEFAULT_CHROMIUM)) return `no Chromium at ${DEFAULT_CHROMIUM}: the browser-* targets need one (apt-get install chromium) or a DevTools endpoint`;
      const version = execFileSync(DEFAULT_CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      return `${version} at ${DEFAULT_CHROMIUM}, for the browser-* targets`;
    }),
  );

  if (values.json) console.log(JSON.stringify(checks, null, 2));
  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0 && !values.json) console.log(`\n${failed.length} check(s) failed: ${failed.map((c) => c.name).join(', ')}`);
  return failed.length === 0 ? 0 : 1;
}
