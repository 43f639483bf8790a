/**
 * Jest's node environment, except that typed arrays and array buffers are the Node realm's own.
 *
 * Jest runs a test file in a vm context with its own Float32Array, Uint8Array, ... while tensors
 * that native TensorFlow computed hand out the main realm's typed arrays. tfjs checks weights with
 * `instanceof Float32Array` when it encodes a model for saving, so in the default environment
 * saving any model trained on the native backend fails with "Unsupported TypedArray subtype:
 * Float32Array" (a fresh model saves: its initial weights come from JavaScript). Tests that
 * export trained models opt in with a docblock:
 *
 *   @jest-environment ./test/support/node-realm-environment.js
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer', 'SharedArrayBuffer', 'DataView',
  'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array',
  'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
];

class NodeRealmEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = NodeRealmEnvironment;
