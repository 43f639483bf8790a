/**
 * Latency in a browser: a tfjs model folder served to the measuring page byte for byte, loaded
 * there with plain `tf.loadLayersModel`, then warm-up runs and timed runs inside the page. Single
 * ops are measured the same way, as the tiny model node-cpu times, saved as tfjs saves it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpSignature } from '../../../core/ops';
import { buildOpModel } from '../op-model';
import { opInputShape, opKey } from '../ops';
import { summarizeRuns, type LatencyResult } from '../timing';
import { withMeasuringPage, type BrowserConnection, type PageInfo, type PageSetup } from './session';

export interface BrowserTiming {
  batchSize: number;
  warmupRuns: number;
  repeats: number;
  onProgress?(done: number, total: number): void;
  signal?: AbortSignal;
}

export interface BrowserLatency extends LatencyResult {
  page: PageInfo;
}

/** Runs per round trip to the page: few enough that heartbeats and cancellation stay prompt on a slow net. */
const RUNS_PER_CALL = 5;

/**
 * A fresh page's first measurement warms up for at least this long before it times anything.
 * The page's first seconds of inference are slow whatever runs (the WebAssembly threads start,
 * V8 tiers the kernels up from its baseline compiler, the heap grows): a table measured without
 * this had its first six ops 1.5-3x the same ops measured later.
 */
export const PAGE_WARMUP_MS = 2000;

const warmedPages = new WeakSet<object>();

let loads = 0;

/** The files of a tfjs model folder (model.json and its weights), read as they are. */
export function readModelFolder(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) files.set(name, readFileSync(join(dir, name)));
  if (!files.has('model.json')) throw new Error(`${dir} holds no model.json`);
  return files;
}

/** Times the model whose files are `files` in a page of `connection` set up as `setup`. */
export async function measureFilesInBrowser(
  connection: BrowserConnection,
  setup: PageSetup,
  files: ReadonlyMap<string, Buffer>,
  inputShape: readonly number[],
  timing: BrowserTiming,
): Promise<BrowserLatency> {
  return withMeasuringPage(connection, setup, async (page, server, info) => {
    const id = `m${++loads}`;
    const url = server.addModel(id, files);
    try {
      await page.evaluate(`hwnasBench.load(${JSON.stringify(id)}, ${JSON.stringify(url)}, ${JSON.stringify(inputShape)}, ${timing.batchSize})`);
      if (!warmedPages.has(page)) {
        const until = Date.now() + PAGE_WARMUP_MS;
        while (Date.now() < until) {
          timing.signal?.throwIfAborted();
          await page.evaluate(`hwnasBench.run(${JSON.stringify(id)}, ${RUNS_PER_CALL})`);
          timing.onProgress?.(0, timing.warmupRuns + timing.repeats);
        }
        warmedPages.add(page);
      }
      const total = timing.warmupRuns + timing.repeats;
      const times: number[] = [];
      let done = 0;
      while (done < total) {
        timing.signal?.throwIfAborted();
        const runs = Math.min(RUNS_PER_CALL, total - done);
        const batch = (await page.evaluate(`hwnasBench.run(${JSON.stringify(id)}, ${runs})`)) as number[];
        for (const t of batch) if (done++ >= timing.warmupRuns) times.push(t);
        timing.onProgress?.(done, total);
      }
      return { ...summarizeRuns(times), page: info };
    } finally {
      server.removeModel(id);
      await page.evaluate(`hwnasBench.drop(${JSON.stringify(id)})`).catch(() => undefined);
    }
  });
}

/** Times the tfjs model folder `modelDir`: exactly the exported files. */
export function measureModelInBrowser(connection: BrowserConnection, setup: PageSetup, modelDir: string, inputShape: readonly number[], timing: BrowserTiming): Promise<BrowserLatency> {
  return measureFilesInBrowser(connection, setup, readModelFolder(modelDir), inputShape, timing);
}

/** Times one op built alone, as node-cpu times it. */
export async function measureOpInBrowser(connection: BrowserConnection, setup: PageSetup, op: OpSignature, timing: BrowserTiming): Promise<BrowserLatency> {
  const dir = mkdtempSync(join(tmpdir(), `nas-op-${opKey(op)}-`));
  try {
    const model = buildOpModel(op);
    try {
      await model.save(`file://${dir}`);
    } finally {
      model.dispose();
    }
    return await measureFilesInBrowser(connection, setup, readModelFolder(dir), opInputShape(op), timing);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
