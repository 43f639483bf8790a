/**
 * One entry point from a user-written location to a store, so the CLI, workers and tests agree
 * on what `./runs`, `file:///data/runs` and `s3://bucket/prefix` mean.
 */
import { fileURLToPath } from 'node:url';

import { LocalArtifactStore } from './local-store';
import { S3ArtifactStore, type S3StoreOptions } from './s3-store';
import type { ArtifactStore } from './store';

export * from './store';
export { LocalArtifactStore } from './local-store';
export { S3ArtifactStore, parseS3Location } from './s3-store';
export type { S3StoreOptions } from './s3-store';

export type OpenArtifactStoreOptions = S3StoreOptions;

export function openArtifactStore(location: string, opts: OpenArtifactStoreOptions = {}): ArtifactStore {
  if (location.trim() === '') {
    throw new Error('artifact store location is empty: give a folder path, file:///path or s3://bucket/prefix');
  }
  if (location.startsWith('s3://')) return new S3ArtifactStore(location, opts);
  if (location.startsWith('file://')) return new LocalArtifactStore(fileURLToPath(location));
  // A URL scheme we do not speak must not be mistaken for a relative folder named "gs:".
  // Two letters minimum so Windows drive letters (C:\runs) still read as paths.
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]+):/.exec(location);
  if (scheme) {
    throw new Error(
      `unsupported artifact store location ${JSON.stringify(location)}: ` +
        `scheme "${scheme[1]}:" is not supported; use a folder path, file:///path or s3://bucket/prefix`,
    );
  }
  return new LocalArtifactStore(location);
}
