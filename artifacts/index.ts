/**
 * One entry point from a user-written location to a store, so the CLI, workers and tests agree
 * on what `./runs`, `file:///data/runs` and `s3://bucket/prefix` mean.
 */
import { LocalArtifactStore } from './local-store';
import { parseArtifactLocation } from './location';
import { S3ArtifactStore, type S3StoreOptions } from './s3-store';
import type { ArtifactStore } from './store';

export * from './store';
export { LocalArtifactStore } from './local-store';
export { ArtifactLocationError, checkArtifactLocation, parseArtifactLocation, parseS3Location } from './location';
export { S3ArtifactStore } from './s3-store';
export type { S3StoreOptions } from './s3-store';

export type OpenArtifactStoreOptions = S3StoreOptions;

/** Throws `ArtifactLocationError` (or `ArtifactKeyError` for a bad S3 prefix) for a location of no known form. */
export function openArtifactStore(location: string, opts: OpenArtifactStoreOptions = {}): ArtifactStore {
  const parsed = parseArtifactLocation(location);
  return parsed.kind === 's3' ? new S3ArtifactStore(location, opts) : new LocalArtifactStore(parsed.root);
}
