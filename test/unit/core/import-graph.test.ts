/**
 * The folder-level import graph of the source tree, type imports included: a type import still
 * couples two folders (a change to the one breaks the other's build). The folders stand in layers;
 * a folder imports only from layers below it, so the graph has no loop and the ground floor can
 * be read, tested and bundled without what stands on it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { importsOf, isRelative, packageOf, resolveRelative } from './module-imports';

const root = path.resolve(__dirname, '..', '..', '..');

/** Bottom to top; a folder may import from the folders before it. */
const LAYERS: readonly { folder: string; why: string }[] = [
  { folder: 'core', why: 'the pure model every layer shares (space, ops, objectives, grid, contract); imports only zod' },
  { folder: 'artifacts', why: 'where runs keep their bytes (local folder, S3); knows no model, so any layer may store files' },
  { folder: 'engine', why: 'tensors and architecture math on the core model; no file format, plugins or store' },
  { folder: 'plugins', why: 'the plugin contract and the built-ins, which price and rank with engine math' },
  { folder: 'dsl', why: 'the pipeline file format; validates plugin configs and artifact locations' },
  { folder: 'activities', why: 'the side-effecting steps: data, training, measuring, storing' },
  { folder: 'workflows', why: 'durable orchestration; names activities by type only, the Temporal pattern' },
  { folder: 'infra', why: 'workers and the Temporal connection, which host the activities and workflows' },
  { folder: 'report', why: 'reads a finished run; the file shapes are typed by the workflows and activities that wrote them' },
  { folder: 'cli', why: 'the entry point; may use every layer' },
];

/** Edges against the order that this change could not remove, each with where it goes next. */
const ALLOWED_AGAINST_ORDER: readonly { edge: string; why: string }[] = [];

/** Packages core/ may import: it must stay loadable in the workflow sandbox and in any process. */
const CORE_PACKAGES = ['zod'];

const rank = new Map(LAYERS.map((l, i) => [l.folder, i]));
const rel = (file: string) => path.relative(root, file).split(path.sep).join('/');
const folderOf = (file: string) => rel(file).split('/')[0];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

interface Edge {
  from: string;
  to: string;
  /** `file: specifier` of each import making up the edge. */
  imports: string[];
}

function folderGraph(): Map<string, Edge> {
  const edges = new Map<string, Edge>();
  for (const { folder } of LAYERS) {
    for (const file of sourceFiles(path.join(root, folder))) {
      for (const { specifier } of importsOf(file)) {
        if (!isRelative(specifier)) continue;
        const target = resolveRelative(specifier, file);
        const to = target === undefined ? undefined : folderOf(target);
        if (to === undefined || to === folder || !rank.has(to)) continue;
        const key = `${folder} -> ${to}`;
        const edge = edges.get(key) ?? { from: folder, to, imports: [] };
        edge.imports.push(`${rel(file)}: ${specifier}`);
        edges.set(key, edge);
      }
    }
  }
  return edges;
}

/** A loop among the folders, as `a -> b -> a`, or undefined when there is none. */
function findLoop(edges: readonly Edge[]): string | undefined {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (folder: string): string | undefined => {
    if (state.get(folder) === 'open') return [...stack.slice(stack.indexOf(folder)), folder].join(' -> ');
    if (state.get(folder) === 'done') return undefined;
    state.set(folder, 'open');
    stack.push(folder);
    for (const to of next.get(folder) ?? []) {
      const loop = visit(to);
      if (loop) return loop;
    }
    stack.pop();
    state.set(folder, 'done');
    return undefined;
  };
  for (const { folder } of LAYERS) {
    const loop = visit(folder);
    if (loop) return loop;
  }
  return undefined;
}

const graph = folderGraph();
const allowed = new Set(ALLOWED_AGAINST_ORDER.map((a) => a.edge));
const kept = [...graph.values()].filter((e) => !allowed.has(`${e.from} -> ${e.to}`));

it('every folder imports only from the layers below it', () => {
  const against = kept.filter((e) => rank.get(e.from)! < rank.get(e.to)!).map((e) => `${e.from} -> ${e.to}: ${e.imports.join(', ')}`);
  expect(against).toEqual([]);
});

it('has no loop among the folders', () => {
  expect(findLoop(kept)).toBeUndefined();
});

it('allows only edges that are really there, so a fixed one leaves the list', () => {
  expect([...allowed].filter((edge) => !graph.has(edge))).toEqual([]);
});

it('core/ imports nothing but zod and core/', () => {
  const strays = sourceFiles(path.join(root, 'core')).flatMap((file) =>
    importsOf(file)
      .filter(({ specifier }) => {
        if (!isRelative(specifier)) return !CORE_PACKAGES.includes(packageOf(specifier));
        const target = resolveRelative(specifier, file);
        return target === undefined || folderOf(target) !== 'core';
      })
      .map(({ specifier }) => `${rel(file)}: ${specifier}`),
  );
  expect(strays).toEqual([]);
});

it('layers every folder the build compiles, but the benchmark scripts that nothing imports', () => {
  const built: string[] = JSON.parse(readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8')).include;
  expect([...LAYERS.map((l) => l.folder)].sort()).toEqual(built.filter((f) => f !== 'benchmarks').sort());
});
