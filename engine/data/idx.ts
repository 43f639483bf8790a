/**
 * The IDX format of (Fashion-)MNIST: a magic number that names the element type and rank, the
 * dimensions as big-endian uint32, then the elements. Gzip is detected by its magic bytes.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export class DatasetFormatError extends Error {
  constructor(file: string, detail: string) {
    super(`${file}: not a valid IDX file: ${detail}`);
    this.name = 'DatasetFormatError';
  }
}

const UNSIGNED_BYTE = 0x08;

export function parseIdx(bytes: Uint8Array, file = '<buffer>'): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new DatasetFormatError(file, `gzip stream is damaged (${(err as Error).message})`);
    }
  }
  if (bytes.length < 4) throw new DatasetFormatError(file, 'shorter than its 4-byte header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== 0) throw new DatasetFormatError(file, 'magic number does not start with two zero bytes');
  const type = view.getUint8(2);
  if (type !== UNSIGNED_BYTE) throw new DatasetFormatError(file, `element type 0x${type.toString(16)} is not unsigned byte`);
  const rank = view.getUint8(3);
  const headerBytes = 4 + 4 * rank;
  if (rank === 0 || bytes.length < headerBytes) throw new DatasetFormatError(file, `bad rank ${rank}`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== headerBytes + count) {
    throw new DatasetFormatError(file, `header promises ${count} elements but the file holds ${bytes.length - headerBytes}`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

export function readIdxFile(file: string): IdxArray {
  return parseIdx(readFileSync(file), file);
}
