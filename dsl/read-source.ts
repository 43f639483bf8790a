/**
 * Reading a pipeline file's bytes defensively: a size cap before anything is parsed, binary and
 * encoding checks with the position of the first bad byte, so a wrong file fails in milliseconds
 * with a message that says what it is.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { PipelineValidationError } from './problems';

/** Pipelines are a few kilobytes; a megabyte is generous and bounds parse time to about a second. */
export const MAX_PIPELINE_BYTES = 1024 * 1024;

function fail(file: string, message: string, line = 1, column = 1): never {
  throw new PipelineValidationError([{ file, line, column, path: '', message }]);
}

export function readPipelineBytes(file: string, maxBytes = MAX_PIPELINE_BYTES): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(file, code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, not a pipeline file' : `cannot read file (${code})`);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) fail(file, 'is a folder, not a pipeline file');
    if (stat.isFile() && stat.size > maxBytes) fail(file, `file is ${formatBytes(stat.size)}; pipeline files are limited to ${formatBytes(maxBytes)}`);
    // Read at most one byte past the cap, which also bounds pipes and devices whose size stat cannot tell.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) fail(file, `file is larger than ${formatBytes(maxBytes)}, the limit for pipeline files`);
    }
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof PipelineValidationError) throw err;
    fail(file, `cannot read file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  } finally {
    closeSync(fd);
  }
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}

function positionOf(bytes: Buffer, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  // Columns count characters, not bytes: skip UTF-8 continuation bytes.
  let column = 1;
  for (let i = lineStart; i < offset; i++) if ((bytes[i] & 0xc0) !== 0x80) column++;
  return { line, column };
}

/** Offset of the first byte that breaks UTF-8, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    if (i + need >= bytes.length) return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += need + 1;
  }
  return -1;
}

/** The file's text, or a problem saying why it is not UTF-8 text. */
export function decodePipelineText(bytes: Buffer, file: string): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    fail(file, 'file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8');
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    const p = positionOf(bytes, nul);
    fail(file, 'file contains NUL bytes: it is binary or UTF-16/32 text, not a UTF-8 pipeline file', p.line, p.column);
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    const p = positionOf(bytes, bad);
    fail(file, `not valid UTF-8 (byte 0x${bytes[bad].toString(16).padStart(2, '0')} at offset ${bad}); save the file as UTF-8`, p.line, p.column);
  }
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
