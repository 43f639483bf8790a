/**
 * Reading pipeline files: YAML or JSON text in, a validated pipeline out, or a list of problems
 * that each name the file, line and column.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isSeq, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { PipelineSchema, type Pipeline } from './pipeline';

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

export function formatProblem(p: PipelineProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.path || '(root)'}: ${p.message}`;
}

/** The YAML node at a path, or the deepest existing ancestor, so errors point near their cause. */
function nodeAt(root: YamlNode | null, path: PropertyKey[]): YamlNode | null {
  let node = root;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (!pair) return node;
      node = (pair.value as YamlNode | null) ?? (pair.key as YamlNode);
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as YamlNode | undefined;
      if (!item) return node;
      node = item;
    } else {
      return node;
    }
  }
  return node;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.message;
}

export function parsePipelineText(text: string, file: string): Pipeline {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PipelineValidationError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
        return { file, line: pos.line, column: pos.col, path: '', message: e.message.split('\n')[0] };
      }),
    );
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  const result = PipelineSchema.safeParse(value);
  if (result.success) return result.data;
  throw new PipelineValidationError(
    result.error.issues.map((issue) => {
      const node = nodeAt(doc.contents as YamlNode | null, issue.path);
      const pos = node?.range ? lineCounter.linePos(node.range[0]) : { line: 1, col: 1 };
      return { file, line: pos.line, column: pos.col, path: issue.path.join('.'), message: describeIssue(issue) };
    }),
  );
}

export function loadPipelineFile(file: string): Pipeline {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PipelineValidationError([
      { file, line: 1, column: 1, path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read file (${code})` },
    ]);
  }
  return parsePipelineText(text, file);
}
