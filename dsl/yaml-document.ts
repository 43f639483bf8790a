/**
 * YAML (and JSON, which YAML 1.2 contains) into a `SourceDocument`, with limits that keep hostile
 * files cheap: flow nesting is bounded before the recursive parser sees it, nesting and aliases are
 * bounded after, and duplicate keys are found in one linear pass (the parser's own `uniqueKeys`
 * check is quadratic in the number of keys).
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import { PipelineValidationError, type Path, type PipelineProblem, type Position, type SourceDocument } from './problems';

/** Far deeper than any pipeline (about 6 levels) or plugin config needs. */
export const MAX_NESTING = 64;
/** Aliases may be used for sharing a block or two; bombs need thousands. */
export const MAX_ALIASES = 100;

/**
 * Depth of `[`/`{` nesting outside quotes and comments. Approximate (a plain scalar may contain a
 * bracket), which is fine for a limit this far above real use.
 */
function flowNestingTooDeep(text: string, limit: number): number {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
      else if (c === '\n' && quote === "'") quote = null;
      continue;
    }
    if (c === '#' && (i === 0 || /\s/.test(text[i - 1]))) {
      const end = text.indexOf('\n', i);
      if (end < 0) break;
      i = end;
    } else if (c === '"' || (c === "'" && (i === 0 || /[\s[{,:]/.test(text[i - 1])))) quote = c;
    else if (c === '[' || c === '{') {
      if (++depth > limit) return i;
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return -1;
}

export function parseYamlDocument(text: string, file: string): SourceDocument {
  const lineCounter = new LineCounter();
  const at = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const fail = (problems: PipelineProblem[]): never => {
    throw new PipelineValidationError(problems);
  };

  const deepAt = flowNestingTooDeep(text, MAX_NESTING);
  if (deepAt >= 0) {
    // The line counter is filled by parsing, which is what must not happen here; count by hand.
    const before = text.slice(0, deepAt);
    const line = before.split('\n').length;
    fail([{ file, line, column: deepAt - before.lastIndexOf('\n'), path: '', message: `nested deeper than ${MAX_NESTING} levels` }]);
  }

  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, strict: true });
  const syntax = [...doc.errors, ...doc.warnings];
  if (syntax.length > 0) {
    fail(
      syntax.map((e) => {
        const pos = e.pos ? at(e.pos[0]) : { line: 1, column: 1 };
        const message = /call stack/i.test(e.message) ? `nested too deeply to parse` : e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return { file, ...pos, path: '', message };
      }),
    );
  }

  // One iterative pass: depth, alias count, duplicate keys. Aliases are leaves here, so a bomb
  // costs no more to walk than its text.
  const problems: PipelineProblem[] = [];
  let aliases = 0;
  const stack: { node: unknown; depth: number }[] = [{ node: doc.contents, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (isAlias(node)) {
      if (++aliases > MAX_ALIASES && node.range) {
        fail([{ file, ...at(node.range[0]), path: '', message: `more than ${MAX_ALIASES} aliases: refusing a possible alias bomb` }]);
      }
      continue;
    }
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > MAX_NESTING) {
      fail([{ file, ...at(node.range?.[0] ?? 0), path: '', message: `nested deeper than ${MAX_NESTING} levels` }]);
    }
    const seen = new Set<string>();
    for (const item of node.items) {
      if (isPair(item)) {
        const key = isScalar(item.key) ? String(item.key.value) : null;
        if (key !== null) {
          if (seen.has(key)) problems.push({ file, ...at((item.key as YamlNode).range?.[0] ?? 0), path: '', message: `duplicate key "${key}"` });
          seen.add(key);
        }
        stack.push({ node: item.key, depth: depth + 1 }, { node: item.value, depth: depth + 1 });
      } else {
        stack.push({ node: item, depth: depth + 1 });
      }
    }
  }
  if (problems.length > 0) fail(problems);

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    // The parser's own limit counts expanded aliases, which the walk above (counting written ones) cannot.
    const bomb = err instanceof ReferenceError && /alias/i.test(err.message);
    const message = bomb ? 'aliases expand to too many nodes: refusing a possible alias bomb' : `cannot expand the document: ${err instanceof Error ? err.message : String(err)}`;
    fail([{ file, line: 1, column: 1, path: '', message }]);
  }

  // Key lookups are indexed once per mapping: a file with many thousand unknown keys asks for each.
  const indexes = new WeakMap<object, Map<string, Pair>>();
  const pairOf = (map: YAMLMap, key: string): Pair | undefined => {
    let index = indexes.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) if (isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p);
      indexes.set(map, index);
    }
    return index.get(key);
  };
  const nodeAt = (path: Path): YamlNode | null => {
    let node = doc.contents as YamlNode | null;
    for (const key of path) {
      if (isMap(node)) {
        const pair = pairOf(node, String(key));
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
  };
  const start = (node: YamlNode | null | undefined): Position => (node?.range ? at(node.range[0]) : { line: 1, column: 1 });

  return {
    file,
    value,
    position: (path) => start(nodeAt(path)),
    keyPosition: (path, key) => {
      const node = nodeAt(path);
      if (isMap(node)) {
        const pair = pairOf(node, key);
        if (pair) return start(pair.key as YamlNode);
      }
      return start(node);
    },
  };
}
