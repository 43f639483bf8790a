/**
 * What runs inside the measuring page: plain JavaScript, served as /bench.js next to the tfjs
 * bundles. It is a string, not a function handed to `page.evaluate`, because a function's source
 * is what the page receives, and the TypeScript runners (tsx, ts-jest) rewrite function bodies with
 * helpers that do not exist in the page. Node calls it with string expressions (`hwnasBench.x(...)`).
 *
 * The page times exactly what a web app pays per inference: `model.predict` on a resident input,
 * `await data()` (which waits for the GPU or the WebAssembly threads), and disposing the output.
 * Runs are timed with `performance.now()`, which a cross-origin-isolated page gets at 5 us
 * resolution (100 us otherwise).
 */
export const PAGE_SCRIPT = String.raw`
(() => {
  const loaded = new Map();

  async function init(setup) {
    const tf = globalThis.tf;
    if (!tf) throw new Error('tfjs did not load in the page');
    if (setup.backend === 'wasm') {
      tf.wasm.setWasmPaths(location.origin + '/tfjs/');
      tf.env().set('WASM_HAS_SIMD_SUPPORT', setup.simd);
      if (setup.threads !== undefined) {
        if (setup.threads > 1 && !globalThis.crossOriginIsolated) throw new Error('the page is not cross-origin isolated, so WebAssembly threads are unavailable');
        tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', setup.threads > 1);
        tf.wasm.setThreadsCount(setup.threads);
      }
    }
    if (setup.backend === 'webgpu') {
      if (!navigator.gpu) return { unavailable: 'navigator.gpu is undefined: this browser build or its flags offer no WebGPU' };
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) return { unavailable: 'navigator.gpu.requestAdapter() returned null: WebGPU is exposed but no adapter (GPU or software) is available' };
    }
    let ok = false;
    try {
      ok = await tf.setBackend(setup.backend);
    } catch (err) {
      return { unavailable: 'tf.setBackend(' + JSON.stringify(setup.backend) + ') threw: ' + (err && err.message ? err.message : String(err)) };
    }
    if (!ok || tf.getBackend() !== setup.backend) return { unavailable: 'tf.setBackend(' + JSON.stringify(setup.backend) + ') failed to initialise the backend' };
    await tf.ready();
    const info = { backend: tf.getBackend(), crossOriginIsolated: !!globalThis.crossOriginIsolated, userAgent: navigator.userAgent, cores: navigator.hardwareConcurrency };
    if (setup.backend === 'wasm') {
      info.threads = tf.wasm.getThreadsCount();
      info.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    }
    if (setup.backend === 'webgl') {
      const gl = document.createElement('canvas').getContext('webgl2');
      const ext = gl && gl.getExtension('WEBGL_debug_renderer_info');
      info.renderer = gl ? (ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)) : 'none';
    }
    return info;
  }

  async function load(id, url, inputShape, batchSize) {
    const tf = globalThis.tf;
    const model = await tf.loadLayersModel(url);
    const input = tf.randomUniform([batchSize].concat(inputShape), 0, 1, 'float32', 1);
    loaded.set(id, { model, input });
  }

  async function run(id, runs) {
    const entry = loaded.get(id);
    if (!entry) throw new Error('model ' + id + ' is not loaded in the page');
    const times = [];
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      const out = entry.model.predict(entry.input);
      await out.data();
      out.dispose();
      times.push(performance.now() - start);
    }
    return times;
  }

  function drop(id) {
    const entry = loaded.get(id);
    if (!entry) return;
    entry.input.dispose();
    entry.model.dispose();
    loaded.delete(id);
  }

  globalThis.hwnasBench = { init, load, run, drop };
})();
`;
