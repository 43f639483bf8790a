/**
 * Problems found in a pipeline file, each tied to a file, line and column, and the translation of
 * zod issues into messages for people.
 */
import type { z } from 'zod';
import { closest } from './suggest';

export interface PipelineProblem {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
}

export class PipelineValidationError extends Error {
  constructor(readonly problems: PipelineProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'PipelineValidationError';
  }
}

/** More problems than this are not read by anyone; the count of the rest is. */
export const MAX_PROBLEMS = 100;

export function formatProblem(p: PipelineProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.path || '(root)'}: ${p.message}`;
}

export type Path = readonly PropertyKey[];

export interface Position {
  line: number;
  column: number;
}

/** A parsed pipeline source: its plain value and where each part of it was written. */
export interface SourceDocument {
  file: string;
  value: unknown;
  /** Where the value at `path` starts, or its nearest ancestor that exists. */
  position(path: Path): Position;
  /** Where the key `key` of the mapping at `path` is written. */
  keyPosition(path: Path, key: string): Position;
}

export function problemAt(doc: Pick<SourceDocument, 'file' | 'position'>, path: Path, message: string): PipelineProblem {
  return { file: doc.file, ...doc.position(path), path: formatPath(path), message };
}

export function formatPath(path: Path): string {
  return path.map((k) => (typeof k === 'number' ? `[${k}]` : String(k))).join('.').replace(/\.\[/g, '[');
}

export function sortProblems(problems: PipelineProblem[]): PipelineProblem[] {
  return [...problems].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
}

// ---------------------------------------------------------------------------------------------
// zod issues

type AnySchema = z.core.$ZodType;

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** Wrapper schemas (optional, default, pipe, ...) around the one that describes the value. */
function unwrap(schema: AnySchema, value: unknown): AnySchema {
  let s = schema;
  for (let guard = 0; guard < 32; guard++) {
    // zod keeps structure in `_zod.def`; its union type is wide, so the fields read here are narrowed by hand.
    const def = s._zod.def as unknown as { type: string; innerType?: AnySchema; in?: AnySchema; options?: AnySchema[]; discriminator?: string };
    if (def.innerType) s = def.innerType;
    else if (def.type === 'pipe' && def.in) s = def.in;
    else if (def.type === 'union' && def.options) {
      const match = def.options.find((o) => {
        const shape = (unwrap(o, value)._zod.def as { shape?: Record<string, AnySchema> }).shape;
        if (!shape || !def.discriminator) return false;
        const discriminant = shape[def.discriminator];
        return discriminant !== undefined && (discriminant as unknown as z.ZodType).safeParse(valueAt(value, [def.discriminator])).success;
      });
      if (!match) return s;
      s = match;
    } else return s;
  }
  return s;
}

/** The schema describing the value at `path`, to learn e.g. which keys an object knows. */
export function schemaAt(schema: AnySchema, root: unknown, path: Path): AnySchema | undefined {
  let s = unwrap(schema, root);
  for (let i = 0; i < path.length; i++) {
    const def = s._zod.def as unknown as { type: string; shape?: Record<string, AnySchema>; element?: AnySchema; valueType?: AnySchema };
    const next = def.type === 'object' ? def.shape?.[String(path[i])] : def.type === 'array' ? def.element : def.type === 'record' ? def.valueType : undefined;
    if (!next) return undefined;
    s = unwrap(next, valueAt(root, path.slice(0, i + 1)));
  }
  return s;
}

export function knownKeys(schema: AnySchema, root: unknown, path: Path): string[] {
  const s = schemaAt(schema, root, path);
  const shape = s && (s._zod.def as { shape?: Record<string, AnySchema> }).shape;
  return shape ? Object.keys(shape).filter((k) => k !== '$schema') : [];
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `"${v.length > 40 ? v.slice(0, 40) + '...' : v}"`;
  return String(v);
}

function listValues(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
}

function suggestion(actual: unknown, candidates: readonly unknown[]): string {
  if (typeof actual !== 'string') return '';
  const match = closest(actual, candidates.filter((c): c is string => typeof c === 'string'));
  return match ? ` (did you mean "${match}"?)` : '';
}

function boundMessage(issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall): string {
  const small = issue.code === 'too_small';
  const bound = small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum;
  const inclusive = issue.inclusive !== false;
  switch (issue.origin) {
    case 'array':
    case 'set':
      return small ? `needs at least ${bound} item${bound === 1 ? '' : 's'}` : `allows at most ${bound} item${bound === 1 ? '' : 's'}`;
    case 'string':
      return small ? (Number(bound) === 1 ? 'must not be empty' : `needs at least ${bound} characters`) : `allows at most ${bound} characters`;
    default:
      return `must be ${small ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<'} ${bound}`;
  }
}

/**
 * Problems for zod issues. `schema` is the schema that produced them and `base` where its value
 * sits in the document, so plugin configs (validated on their own) report full paths.
 */
export function issuesToProblems(issues: readonly z.core.$ZodIssue[], doc: SourceDocument, schema: AnySchema, base: Path = []): PipelineProblem[] {
  const rootValue = valueAt(doc.value, base);
  const problems: PipelineProblem[] = [];
  // Past the cap problems are only counted: locating and suggesting for 60k junk keys costs seconds.
  let omitted = 0;
  for (const issue of issues) {
    if (problems.length >= MAX_PROBLEMS) {
      omitted += issue.code === 'unrecognized_keys' ? issue.keys.length : 1;
      continue;
    }
    const path = [...base, ...issue.path];
    const actual = valueAt(doc.value, path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeys(schema, rootValue, issue.path);
        for (const key of issue.keys) {
          if (problems.length >= MAX_PROBLEMS) {
            omitted++;
            continue;
          }
          const match = closest(key, known);
          const hint = match ? ` (did you mean "${match}"?)` : known.length ? `; known keys: ${known.join(', ')}` : '';
          problems.push({ file: doc.file, ...doc.keyPosition(path, key), path: formatPath([...path, key]), message: `unknown key "${key}"${hint}` });
        }
        continue;
      }
      case 'invalid_type':
        problems.push(problemAt(doc, path, actual === undefined ? `required (${issue.expected} expected)` : `expected ${issue.expected}, got ${describeValue(actual)}`));
        continue;
      case 'invalid_value': {
        const message = issue.values.length === 1 ? `must be ${listValues(issue.values)}` : `must be one of: ${listValues(issue.values)}`;
        problems.push(problemAt(doc, path, `${message}, got ${describeValue(actual)}${suggestion(actual, issue.values)}`));
        continue;
      }
      case 'invalid_union': {
        const u = issue as z.core.$ZodIssueInvalidUnion & { note?: string; discriminator?: string; options?: unknown[] };
        if (u.note === 'No matching discriminator' && u.options) {
          const options = u.options;
          problems.push(problemAt(doc, path, `must be one of: ${listValues(options)}, got ${describeValue(actual)}${suggestion(actual, options)}`));
        } else {
          problems.push(problemAt(doc, path, issue.message));
        }
        continue;
      }
      case 'too_small':
      case 'too_big':
        problems.push(problemAt(doc, path, boundMessage(issue)));
        continue;
      case 'invalid_key': {
        const key = String(path[path.length - 1]);
        const inner = issue.issues[0]?.message ?? issue.message;
        problems.push({ file: doc.file, ...doc.keyPosition(path.slice(0, -1), key), path: formatPath(path), message: `invalid key "${key}": ${inner}` });
        continue;
      }
      case 'invalid_format':
        problems.push(problemAt(doc, path, issue.message.startsWith('Invalid') ? `must match ${issue.pattern ?? issue.format}` : issue.message));
        continue;
      default:
        problems.push(problemAt(doc, path, issue.message));
    }
  }
  if (omitted > 0) problems.push({ file: doc.file, line: Number.MAX_SAFE_INTEGER, column: 1, path: '', message: `and ${omitted} more problems` });
  return problems;
}
