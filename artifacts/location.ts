/**
 * What a user-written artifact location means: `./runs` and `/data/runs` are folders,
 * `file:///data/runs` is one too, `s3://bucket/prefix` is S3, anything else is refused. One
 * reading, used by openArtifactStore (artifacts/index.ts) to open a store and by the pipeline
 * schema (dsl/pipeline.ts) to report a bad `artifacts.location` at its line. No backend is loaded
 * here, so the DSL can use it without the S3 client.
 */
import { fileURLToPath } from 'node:url';

import { ArtifactKeyError, validateKey } from './store';

/** A location no store can be opened at. `nas` reports it in one line, as bad input. */
export class ArtifactLocationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArtifactLocationError';
  }
}

export type ArtifactLocation = { kind: 's3'; bucket: string; prefix: string } | { kind: 'local'; root: string };

const EXPECTED = 'give a folder path, file:///path or s3://bucket/prefix';

/**
 * Throws `ArtifactLocationError` for a location of no known form, and `ArtifactKeyError` for an
 * S3 prefix that is no valid key.
 */
export function parseArtifactLocation(location: string): ArtifactLocation {
  if (location.trim() === '') throw new ArtifactLocationError(`artifact store location is empty: ${EXPECTED}`);
  if (location.includes('\0')) throw new ArtifactLocationError(`artifact store location ${JSON.stringify(location)} contains a NUL character`);
  if (location.startsWith('s3://')) return { kind: 's3', ...parseS3Location(location) };
  if (location.startsWith('file://')) {
    let root: string;
    try {
      root = fileURLToPath(location);
    } catch (err) {
      // file://relative/x: the "relative" is a host, which a local folder cannot have.
      throw new ArtifactLocationError(`invalid file URL ${JSON.stringify(location)} for the artifact store: ${(err as Error).message}; use file:///absolute/path or a plain folder path`);
    }
    if (root.includes('\0')) throw new ArtifactLocationError(`artifact store location ${JSON.stringify(location)} decodes to a path with a NUL character`);
    return { kind: 'local', root };
  }
  // A URL scheme we do not speak must not be mistaken for a relative folder named "gs:".
  // Two letters minimum so Windows drive letters (C:\runs) still read as paths.
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]+):/.exec(location);
  if (scheme) {
    throw new ArtifactLocationError(
      `unsupported artifact store location ${JSON.stringify(location)}: ` +
        `scheme "${scheme[1]}:" is not supported; use a folder path, file:///path or s3://bucket/prefix`,
    );
  }
  return { kind: 'local', root: location };
}

/** Why no store can be opened at `location`, in one sentence; undefined when one can. */
export function checkArtifactLocation(location: string): string | undefined {
  try {
    parseArtifactLocation(location);
    return undefined;
  } catch (err) {
    if (err instanceof ArtifactKeyError) return `invalid S3 prefix in ${location}: ${err.message}`;
    return err instanceof Error ? err.message : String(err);
  }
}

export function parseS3Location(location: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(location);
  if (!match) throw new ArtifactLocationError(`not an S3 location: ${JSON.stringify(location)} (expected s3://bucket/prefix)`);
  const bucket = match[1];
  // The S3 bucket naming rules, less the rarely hit ones (no IP-address names, no "xn--").
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ArtifactLocationError(
      `invalid S3 bucket name ${JSON.stringify(bucket)} in ${location}: ` +
        'use 3-63 lowercase letters, digits, dots and hyphens',
    );
  }
  const rawPrefix = (match[2] ?? '').replace(/\/+$/, '');
  if (rawPrefix) validateKey(rawPrefix);
  return { bucket, prefix: rawPrefix ? rawPrefix + '/' : '' };
}
