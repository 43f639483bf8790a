/**
 * A checkpoint is one binary blob: magic, a JSON header (training position and tensor specs),
 * then the raw tensor bytes. One blob means one atomic write, so weights, optimizer slots and
 * position can never come from different steps.
 */
import type { NamedTensorMap, Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';

const MAGIC = 'NASCKPT1';

interface TensorSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  offset: number;
  byteLength: number;
}

interface Header<M> {
  meta: M;
  groups: Record<string, TensorSpec[]>;
}

export class CheckpointFormatError extends Error {
  constructor(detail: string) {
    super(`checkpoint is unreadable: ${detail}`);
    this.name = 'CheckpointFormatError';
  }
}

/** Named tensor lists by group ("model", "optimizer", ...) plus JSON metadata. */
export interface CheckpointContents<M> {
  meta: M;
  groups: Record<string, { name: string; tensor: Tensor }[]>;
}

export async function encodeCheckpoint<M>(contents: CheckpointContents<M>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const groups: Record<string, TensorSpec[]> = {};
  for (const [group, tensors] of Object.entries(contents.groups)) {
    groups[group] = [];
    for (const { name, tensor } of tensors) {
      if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') {
        throw new CheckpointFormatError(`tensor ${name} has unsupported dtype ${tensor.dtype}`);
      }
      const data = await tensor.data();
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
      groups[group].push({ name, shape: tensor.shape, dtype: tensor.dtype, offset, byteLength: bytes.byteLength });
      chunks.push(bytes);
      offset += bytes.byteLength;
    }
  }
  const header = new TextEncoder().encode(JSON.stringify({ meta: contents.meta, groups } satisfies Header<M>));
  const out = new Uint8Array(MAGIC.length + 4 + header.length + offset);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, header.length);
  out.set(header, MAGIC.length + 4);
  let at = MAGIC.length + 4 + header.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export function decodeCheckpoint<M>(bytes: Uint8Array): CheckpointContents<M> {
  const tf = loadTf();
  if (bytes.length < MAGIC.length + 4 || new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) {
    throw new CheckpointFormatError('missing magic header');
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(MAGIC.length);
  const dataStart = MAGIC.length + 4 + headerLength;
  if (dataStart > bytes.length) throw new CheckpointFormatError('header runs past the end of the file');
  let header: Header<M>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(MAGIC.length + 4, dataStart))) as Header<M>;
  } catch (err) {
    throw new CheckpointFormatError(`header is not JSON (${(err as Error).message})`);
  }
  const groups: CheckpointContents<M>['groups'] = {};
  for (const [group, specs] of Object.entries(header.groups)) {
    groups[group] = specs.map((spec) => {
      const start = dataStart + spec.offset;
      if (start + spec.byteLength > bytes.length) throw new CheckpointFormatError(`tensor ${spec.name} is truncated`);
      const raw = bytes.slice(start, start + spec.byteLength);
      const values = spec.dtype === 'float32' ? new Float32Array(raw.buffer) : new Int32Array(raw.buffer);
      return { name: spec.name, tensor: tf.tensor(values, spec.shape, spec.dtype) };
    });
  }
  return { meta: header.meta, groups };
}

export function disposeCheckpoint(contents: CheckpointContents<unknown>): void {
  for (const tensors of Object.values(contents.groups)) for (const { tensor } of tensors) tensor.dispose();
}

export type { NamedTensorMap };
