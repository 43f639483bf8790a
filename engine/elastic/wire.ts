/**
 * The data plane's message format: a JSON header and float32 payloads in one binary body,
 * [u32 header length][header][padding to 4 bytes][float32 values]. Plain HTTP bodies, so the
 * plane crosses machines and proxies without anything but Node's own http module.
 */
export const WIRE_CONTENT_TYPE = 'application/x-nas-elastic';

/**
 * A header as JSON, refusing NaN and +-Infinity: JSON.stringify would write them as `null`, which
 * the other side reads as 0 (a diverged worker's loss once crossed the plane that way unnoticed).
 */
export function headerJson(header: object): string {
  return JSON.stringify(header, (key, value: unknown) => {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new NonFiniteHeaderError(key, value);
    return value;
  });
}

/** A header field that is NaN or infinite: refused when encoding, never sent as `null`. */
export class NonFiniteHeaderError extends Error {
  constructor(field: string, value: number) {
    super(`data-plane message field ${field || '(header)'} is ${value}: non-finite numbers are not sent (JSON would turn them into null)`);
    this.name = 'NonFiniteHeaderError';
  }
}

export function encodeMessage(header: object, ...payloads: Float32Array[]): Buffer {
  const json = Buffer.from(headerJson(header), 'utf8');
  const dataStart = Math.ceil((4 + json.length) / 4) * 4;
  const prefix = Buffer.alloc(dataStart);
  prefix.writeUInt32LE(json.length, 0);
  json.copy(prefix, 4);
  return payloads.length ? Buffer.concat([prefix, floatBytes(...payloads)]) : prefix;
}

/** Float vectors back to back, as the payload of a message. */
export function floatBytes(...payloads: Float32Array[]): Buffer {
  return Buffer.concat(payloads.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

export class WireFormatError extends Error {
  constructor(detail: string) {
    super(`malformed data-plane message: ${detail}`);
    this.name = 'WireFormatError';
  }
}

export function decodeMessage<H>(body: Uint8Array): { header: H; values: Float32Array } {
  if (body.length < 4) throw new WireFormatError('shorter than its length prefix');
  const view = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const length = view.readUInt32LE(0);
  if (4 + length > body.length) throw new WireFormatError('header runs past the end');
  let header: H;
  try {
    header = JSON.parse(view.subarray(4, 4 + length).toString('utf8')) as H;
  } catch (err) {
    throw new WireFormatError(`header is not JSON (${(err as Error).message})`);
  }
  const dataStart = Math.ceil((4 + length) / 4) * 4;
  const bytes = body.length - dataStart;
  if (bytes < 0 || bytes % 4 !== 0) throw new WireFormatError('payload is not whole float32 values');
  // Copy so the floats are aligned whatever the offset of the received buffer.
  const values = new Float32Array(bytes / 4);
  new Uint8Array(values.buffer).set(body.subarray(dataStart));
  return { header, values };
}
