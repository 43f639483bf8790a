/**
 * Reading a stored JSON file through the schema its writer satisfies (core/artifact-files.ts). A
 * file that is not what its reader expects (another version's, a half-edited one, a wrong key)
 * fails here, naming the key and the first field that is wrong, instead of surfacing later as an
 * `undefined` deep in a report or a model card.
 */
import type { z } from 'zod';
import type { ArtifactStore } from './store';

/** A stored file that is not JSON, or not the file its reader expects. */
export class ArtifactFileError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = 'ArtifactFileError';
  }
}

type Issue = z.core.$ZodIssue;

/** What zod says of a union that matched no branch, unless the schema gave the union a message of its own. */
const UNION_DEFAULT_MESSAGE = 'Invalid input';

/**
 * The issue to show for a union that matched no branch: the branch that came closest (fewest
 * issues, then the deepest one), so `model.label: expected string` rather than `model: Invalid input`.
 * Branches are listed most specific first in the schemas, so a tie goes to the earlier one.
 */
function closestIssue(issue: Issue): { path: PropertyKey[]; message: string } {
  if (issue.code !== 'invalid_union' || issue.message !== UNION_DEFAULT_MESSAGE || issue.errors.length === 0) return { path: issue.path, message: issue.message };
  const branches = issue.errors.filter((b) => b.length > 0);
  if (branches.length === 0) return { path: issue.path, message: issue.message };
  const depth = (b: Issue[]) => Math.max(...b.map((i) => i.path.length));
  const best = branches.reduce((a, b) => (b.length < a.length || (b.length === a.length && depth(b) > depth(a)) ? b : a));
  const inner = closestIssue(best[0]);
  return { path: [...issue.path, ...inner.path], message: inner.message };
}

/** `candidates.3.macs: expected number, received string`, and how many other problems there are. */
export function describeIssues(issues: readonly Issue[]): string {
  const { path, message } = closestIssue(issues[0]);
  const where = path.length > 0 ? path.map(String).join('.') : '(top level)';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  // zod's "Invalid input: expected number, received string" says "invalid" twice with the sentence before it.
  return `${where}: ${message.replace(/^Invalid input: /, '')}${more}`;
}

/** What the schema describes, for the message: its `.describe()` text, such as "a scaling table". */
function whatOf(schema: z.ZodType): string {
  return schema.description ?? 'the file its reader expects';
}

/**
 * The file at `key`, parsed with `schema`. Throws ArtifactFileError naming the key and the first
 * wrong field (`runs/r1/scaling/table.json is not a scaling table: candidates.3.macs: expected
 * number, received string`); a store error (a missing key, a failed integrity check) passes through.
 */
export async function readArtifactFile<S extends z.ZodType>(store: ArtifactStore, key: string, schema: S): Promise<z.output<S>> {
  const text = new TextDecoder().decode(await store.get(key));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ArtifactFileError(key, `${key} is not JSON, so not ${whatOf(schema)}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ArtifactFileError(key, `${key} is not ${whatOf(schema)}: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

/** As readArtifactFile, or undefined when the store has no such key (a stage that has not written it). */
export async function readOptionalArtifactFile<S extends z.ZodType>(store: ArtifactStore, key: string, schema: S): Promise<z.output<S> | undefined> {
  if (!(await store.head(key))) return undefined;
  return readArtifactFile(store, key, schema);
}
