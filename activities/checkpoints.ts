/**
 * Checkpoints of long activities in the artifact store: numbered keys under one prefix, the newest
 * that verifies is the one to resume from, and older ones are pruned but for one spare, so a corrupt
 * newest checkpoint still leaves a way back.
 */
import { log } from '@temporalio/activity';
import { CorruptArtifactError, type ArtifactStore } from '../artifacts';
import { CheckpointFormatError } from '../engine/train/checkpoint';
import { isCheckpointKey } from '../core/run-layout';

/** Newest first, by the zero-padded step number in the key. */
async function checkpointKeys(store: ArtifactStore, prefix: string): Promise<string[]> {
  return (await store.list(prefix)).filter(isCheckpointKey).sort().reverse();
}

/**
 * Restores the newest checkpoint that reads back whole and decodes; returns its key, or undefined
 * when there is none. Other errors (a checkpoint of another model, say) are the caller's to judge.
 */
export async function restoreNewestCheckpoint(
  store: ArtifactStore,
  prefix: string,
  restore: (bytes: Uint8Array) => Promise<void>,
): Promise<string | undefined> {
  for (const key of await checkpointKeys(store, prefix)) {
    try {
      await restore(await store.get(key));
      return key;
    } catch (err) {
      if (err instanceof CorruptArtifactError || err instanceof CheckpointFormatError) {
        log.warn(`checkpoint ${key} is unusable (${err.message}); falling back to the one before it`);
        continue;
      }
      throw err;
    }
  }
  return undefined;
}

/** Deletes checkpoints older than `newest`, keeping `spare` of them. */
export async function pruneCheckpoints(store: ArtifactStore, prefix: string, newest: string, spare = 1): Promise<void> {
  const older = (await checkpointKeys(store, prefix)).filter((k) => k < newest);
  for (const stale of older.slice(spare)) await store.delete(stale);
}

/** Deletes every checkpoint under `prefix`: for work whose result is stored, they lead nowhere. */
export async function removeCheckpoints(store: ArtifactStore, prefix: string): Promise<void> {
  for (const key of await checkpointKeys(store, prefix)) await store.delete(key);
}
