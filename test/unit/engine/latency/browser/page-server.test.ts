import { randomBytes } from 'node:crypto';
import { startPageServer, type PageServer } from '../../../../../engine/latency/browser/page-server';

let server: PageServer;
beforeAll(async () => {
  server = await startPageServer();
});
afterAll(() => server.close());

test('serves a model byte for byte, under cross-origin isolation headers, until removed', async () => {
  const weights = randomBytes(4099);
  const json = Buffer.from('{"modelTopology":{},"weightsManifest":[{"paths":["weights.bin"],"weights":[]}]}\n');
  const url = server.addModel('m 1', new Map([['model.json', json], ['weights.bin', weights]]));
  expect(url).toBe(`${server.origin}/models/m%201/model.json`);
  const got = await fetch(url.replace('model.json', 'weights.bin'));
  expect(got.status).toBe(200);
  expect(got.headers.get('cross-origin-opener-policy')).toBe('same-origin');
  expect(got.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
  expect(Buffer.from(await got.arrayBuffer()).equals(weights)).toBe(true);
  expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(json)).toBe(true);
  server.removeModel('m 1');
  expect((await fetch(url)).status).toBe(404);
});

test('the page loads the bundles asked for, from this install, and the page script', async () => {
  const page = await (await fetch(server.pageUrl(['tfjs', 'wasm']))).text();
  expect(page).toContain('<script src="/tfjs/tf.min.js"></script><script src="/tfjs/tf-backend-wasm.min.js"></script><script src="/bench.js"></script>');
  const bundle = await fetch(`${server.origin}/tfjs/tf-backend-wasm.min.js`);
  expect(bundle.headers.get('content-type')).toBe('text/javascript');
  const wasm = await fetch(`${server.origin}/tfjs/tfjs-backend-wasm-threaded-simd.wasm`);
  expect(wasm.headers.get('content-type')).toBe('application/wasm');
  expect(Buffer.from(await wasm.arrayBuffer()).subarray(0, 4).toString('latin1')).toBe('\0asm');
  expect(await (await fetch(`${server.origin}/bench.js`)).text()).toContain('globalThis.hwnasBench');
  expect((await fetch(`${server.origin}/tfjs/../package.json`)).status).toBe(404);
});
