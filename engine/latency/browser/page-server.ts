/**
 * The measuring page's web server, on loopback: the tfjs bundles from this install's node_modules
 * (nothing is fetched from a CDN), the page script, and the models being measured, each served
 * byte for byte from the files it was given.
 *
 * Every response carries COOP/COEP headers, so the page is cross-origin isolated: that is what
 * gives it SharedArrayBuffer, hence tfjs's threaded WebAssembly build, and the fine-grained timer.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { PAGE_SCRIPT } from './page-script';

/** tfjs bundles the page may load: the union package (cpu and webgl), and the wasm and webgpu backends. */
const BUNDLES = {
  tfjs: ['@tensorflow/tfjs', 'tf.min.js'],
  wasm: ['@tensorflow/tfjs-backend-wasm', 'tf-backend-wasm.min.js'],
  webgpu: ['@tensorflow/tfjs-backend-webgpu', 'tf-backend-webgpu.min.js'],
} as const;
const WASM_BINARIES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

export type PageBundle = keyof typeof BUNDLES;

function distDir(pkg: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'dist');
}

const CONTENT_TYPES: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.html': 'text/html; charset=utf-8' };

function contentType(path: string): string {
  const ext = path.slice(path.lastIndexOf('.'));
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

export interface PageServer {
  /** Origin of the server, e.g. http://127.0.0.1:41234. */
  origin: string;
  /** URL of the page that loads `bundles` and the page script. */
  pageUrl(bundles: readonly PageBundle[]): string;
  /** Serves `files` (name -> bytes) under /models/<id>/ until `removeModel`; returns the URL of its model.json. */
  addModel(id: string, files: ReadonlyMap<string, Buffer>): string;
  removeModel(id: string): void;
  close(): Promise<void>;
}

/** Starts the server on `host:port` (port 0: any free one). */
export async function startPageServer(host = '127.0.0.1', port = 0): Promise<PageServer> {
  const statics = new Map<string, Buffer>();
  const bundle = (name: PageBundle): Buffer => {
    const [pkg, file] = BUNDLES[name];
    try {
      return readFileSync(join(distDir(pkg), file));
    } catch {
      throw new Error(`the measuring page needs ${pkg} (npm install ${pkg}@4.22.0): ${file} not found`);
    }
  };
  const models = new Map<string, ReadonlyMap<string, Buffer>>();
  statics.set('/bench.js', Buffer.from(PAGE_SCRIPT));

  const lookup = (path: string): Buffer | undefined => {
    const model = /^\/models\/([^/]+)\/([^/]+)$/.exec(path);
    if (model) return models.get(decodeURIComponent(model[1]))?.get(decodeURIComponent(model[2]));
    const hit = statics.get(path);
    if (hit) return hit;
    // Bundles are read on first request, so a page that never asks for webgpu does not need it installed.
    const named = /^\/tfjs\/(.+)$/.exec(path)?.[1];
    if (!named) return undefined;
    const found = (Object.keys(BUNDLES) as PageBundle[]).find((b) => BUNDLES[b][1] === named);
    const body = found ? bundle(found) : WASM_BINARIES.includes(named) ? readFileSync(join(distDir(BUNDLES.wasm[0]), named)) : undefined;
    if (body) statics.set(path, body);
    return body;
  };

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://page').pathname;
    const headers = {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
      'cache-control': 'no-store',
    };
    if (path === '/' || path === '/bench.html') {
      const wanted = (new URL(req.url ?? '/', 'http://page').searchParams.get('bundles') ?? 'tfjs').split(',').filter((b): b is PageBundle => Object.hasOwn(BUNDLES, b));
      const scripts = (['tfjs', ...wanted.filter((b) => b !== 'tfjs')] as PageBundle[]).map((b) => `<script src="/tfjs/${BUNDLES[b][1]}"></script>`).join('');
      res.writeHead(200, { ...headers, 'content-type': CONTENT_TYPES['.html'] });
      res.end(`<!doctype html><meta charset="utf-8"><title>hwnas latency</title>${scripts}<script src="/bench.js"></script>`);
      return;
    }
    let body: Buffer | undefined;
    try {
      body = lookup(path);
    } catch (err) {
      res.writeHead(500, { ...headers, 'content-type': 'text/plain' });
      res.end(err instanceof Error ? err.message : String(err));
      return;
    }
    res.writeHead(body ? 200 : 404, { ...headers, 'content-type': contentType(path) });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  return {
    origin,
    pageUrl: (bundles) => `${origin}/bench.html?bundles=${bundles.join(',')}`,
    addModel(id, files) {
      models.set(id, files);
      return `${origin}/models/${encodeURIComponent(id)}/model.json`;
    },
    removeModel: (id) => void models.delete(id),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
