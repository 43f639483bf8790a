/**
 * Bounds on the DSL's free-text fields. A path or name is handed to the file system, to S3 or to a
 * plugin registry, none of which takes a NUL character or a megabyte of text; refusing both at the
 * schema reports them at their line instead of as a crash (or a hang) later.
 */
import { z } from 'zod';

/** Linux's PATH_MAX: no longer path can be opened anyway. */
export const MAX_PATH_LENGTH = 4096;
/** Plugin names and the like. */
export const MAX_NAME_LENGTH = 200;

const noNul = (s: string) => !s.includes('\0');
const NUL_MESSAGE = 'must not contain NUL characters';
/** A value that fails one bound is not checked further: one problem, not a cascade about the same text. */
const stop = { abort: true } as const;

/** A non-empty path (or URL) of at most MAX_PATH_LENGTH characters, without NUL. */
export function pathString() {
  return z.string().min(1, stop).max(MAX_PATH_LENGTH, stop).refine(noNul, { message: NUL_MESSAGE, ...stop });
}

/** A non-empty name of at most MAX_NAME_LENGTH characters, without NUL. */
export function nameString() {
  return z.string().min(1, stop).max(MAX_NAME_LENGTH, stop).refine(noNul, { message: NUL_MESSAGE, ...stop });
}
