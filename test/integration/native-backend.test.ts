/**
 * The native TensorFlow backend is the one in use: not the pure-JS fallback that tfjs silently
 * takes when its addon is missing, which would be a thousand times slower.
 */
import type { Tensor4D } from '@tensorflow/tfjs-node';
import { backendInfo, loadTf } from '../../engine/backend';
import { cleanEnv, expectExitedZero, runCli } from './support/cli';

test('tfjs runs on the native "tensorflow" backend from @tensorflow/tfjs-node', () => {
  const tf = loadTf();
  expect(tf.getBackend()).toBe('tensorflow');
  const info = backendInfo();
  expect(info.package).toBe('@tensorflow/tfjs-node');
  expect(info.backend).toBe('tensorflow');
  // A convolution executes through libtensorflow and gives the hand-computed answer.
  const x = tf.ones([1, 3, 3, 1]) as Tensor4D;
  const k = tf.ones([2, 2, 1, 1]) as Tensor4D;
  const y = tf.conv2d(x, k, 1, 'valid');
  expect(Array.from(y.dataSync())).toEqual([4, 4, 4, 4]);
  tf.dispose([x, k, y]);
});

test('nas doctor reports the native backend, its throughput and the pure-JS baseline, and exits 0', async () => {
  const result = await runCli(['doctor', '--artifacts', `${require('node:os').tmpdir()}/nas-doctor-${process.pid}`], cleanEnv(), 180_000);
  expect(result.stderr).toBe('');
  expectExitedZero(result);
  expect(result.stdout).toMatch(/^ok\s+temporal cli\s+temporal version \d+\.\d+\.\d+/m);
  expect(result.stdout).toMatch(/^ok\s+tensor backend\s+tensorflow via @tensorflow\/tfjs-node/m);
  expect(result.stdout).toMatch(/^ok\s+train throughput\s+[\d.]+ GFLOP\/s/m);
  expect(result.stdout).toMatch(/^ok\s+js baseline\s+[\d.]+ GFLOP\/s on the pure-JS cpu backend, same net; native is \d+x faster/m);
  expect(result.stdout).toMatch(/^ok\s+dataset\s+fashion-mnist in .* \(60000 train, 10000 test images\)/m);
  expect(result.stdout).toMatch(/^ok\s+artifact store\s+.* is writable/m);
  // The test tools install Chromium, for the browser targets.
  expect(result.stdout).toMatch(/^ok\s+browser\s+Chromium \d+\S* .*at \/usr\/bin\/chromium, for the browser-\* targets/m);
});

test('nas doctor exits 1 and names what is missing', async () => {
  const result = await runCli(['doctor', '--no-js-baseline'], cleanEnv({ NAS_FASHION_MNIST_DIR: '/nonexistent', NAS_TEMPORAL_CLI: '/nonexistent/temporal' }), 180_000);
  expect(result.code).toBe(1);
  expect(result.stdout).toMatch(/^FAIL\s+dataset\s+Fashion-MNIST file train-images-idx3-ubyte\(\.gz\) not found in \/nonexistent/m);
  expect(result.stdout).toMatch(/^FAIL\s+temporal cli/m);
  expect(result.stdout).toMatch(/2 check\(s\) failed: temporal cli, dataset/);
});
