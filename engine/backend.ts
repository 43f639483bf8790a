/**
 * The one place that chooses the tensor backend.
 *
 * `@tensorflow/tfjs-node-gpu` is taken when it is installed and a CUDA device is visible;
 * otherwise `@tensorflow/tfjs-node` (native libtensorflow on the CPU). Everything else imports
 * `tf` from here, so no module can end up on a different backend than the rest of the process.
 * `NAS_BACKEND=cpu-js` forces the pure-JavaScript backend, which exists only so the doctor can
 * show how much the native one buys.
 */
import { existsSync, readdirSync } from 'node:fs';

type Tf = typeof import('@tensorflow/tfjs-node');

export type BackendPackage = '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';

let loaded: { tf: Tf; pkg: BackendPackage } | undefined;

function cudaDeviceVisible(): boolean {
  if (process.env.CUDA_VISIBLE_DEVICES === '' || process.env.CUDA_VISIBLE_DEVICES === '-1') return false;
  try {
    return readdirSync('/dev').some((name) => /^nvidia\d+$/.test(name));
  } catch {
    return false;
  }
}

function gpuPackageInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node-gpu');
    return true;
  } catch {
    return false;
  }
}

/** Which package `loadTf` will take, without loading it. */
export function selectBackendPackage(): BackendPackage {
  const wanted = process.env.NAS_TENSOR_PACKAGE;
  if (wanted === '@tensorflow/tfjs-node' || wanted === '@tensorflow/tfjs-node-gpu') return wanted;
  return gpuPackageInstalled() && cudaDeviceVisible() ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
}

export class NativeBackendError extends Error {
  constructor(pkg: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    super(
      `could not load the native TensorFlow backend from ${pkg}: ${detail}\n` +
        `  run infra/setup.sh (it stages libtensorflow from PyPI and builds the addon), then \`nas doctor\``,
    );
    this.name = 'NativeBackendError';
  }
}

/** Loads the selected backend once per process and returns the `tf` namespace bound to it. */
export function loadTf(): Tf {
  if (loaded) return loaded.tf;
  const pkg = selectBackendPackage();
  // libtensorflow's INFO lines (oneDNN, CPU features) would drown the CLI's own output.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  let tf: Tf;
  try {
    // A dynamic require is the point: only the selected package's native addon may load.
    tf = require(pkg) as Tf;
  } catch (err) {
    throw new NativeBackendError(pkg, err);
  }
  if (process.env.NAS_BACKEND === 'cpu-js') {
    tf.setBackend('cpu');
  } else if (tf.getBackend() !== 'tensorflow') {
    throw new NativeBackendError(pkg, new Error(`backend is "${tf.getBackend()}", not "tensorflow"`));
  }
  loaded = { tf, pkg };
  return tf;
}

export interface BackendInfo {
  package: BackendPackage;
  backend: string;
  version: string;
  libtensorflowStaged?: string;
}

export function backendInfo(): BackendInfo {
  const tf = loadTf();
  const pkg = loaded!.pkg;
  const info: BackendInfo = { package: pkg, backend: tf.getBackend(), version: tf.version['tfjs-core'] };
  const stagedMarker = require.resolve(`${pkg}/package.json`).replace(/package\.json$/, 'scripts/custom-binary.json');
  if (existsSync(stagedMarker)) {
    const match = /libtensorflow-([\d.]+)/.exec(JSON.stringify(require(stagedMarker)));
    if (match) info.libtensorflowStaged = match[1];
  }
  return info;
}
