/**
 * The workflow bundle's closure: every module the Temporal bundler packs into the workflow sandbox,
 * found by following the value imports of workflows/index.ts. Workflow code must be deterministic
 * and cannot load TensorFlow, Node APIs or the artifact store; it stays that way only if nothing it
 * reaches imports them, so this walks the imports instead of trusting care. Type-only imports are
 * erased before bundling (that is how workflows name activity types), so they are not followed.
 */
import * as path from 'node:path';
import { importsOf, isRelative, packageOf, resolveRelative } from './module-imports';

const root = path.resolve(__dirname, '..', '..', '..');

/** Folders whose modules may be bundled: the workflows and the pure ground floor they stand on. */
const BUNDLED_FOLDERS = ['workflows', 'core'];
/** Packages the workflow sandbox provides or that are pure (zod validates inputs, no I/O). */
const BUNDLED_PACKAGES = ['@temporalio/workflow', 'zod'];

interface Closure {
  /** Every module reached, repository-relative. */
  modules: string[];
  /** What the bundle must not hold, each with the chain of imports that reached it. */
  outside: string[];
}

const rel = (file: string) => path.relative(root, file).split(path.sep).join('/');

/** Follows value imports from `entry`; a module outside `folders` is reported, not walked. */
function bundleClosure(entry: string, folders: readonly string[] = BUNDLED_FOLDERS): Closure {
  const bundledFolder = (file: string) => folders.some((folder) => rel(file).startsWith(`${folder}/`));
  const reachedFrom = new Map<string, string | undefined>([[entry, undefined]]);
  const outside: string[] = [];
  const chain = (file: string): string => {
    const links: string[] = [];
    for (let at: string | undefined = file; at !== undefined; at = reachedFrom.get(at)) links.unshift(rel(at));
    return links.join(' -> ');
  };
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const { specifier, typeOnly } of importsOf(file)) {
      if (typeOnly) continue;
      if (!isRelative(specifier)) {
        if (!BUNDLED_PACKAGES.includes(packageOf(specifier))) outside.push(`${chain(file)} -> ${specifier}`);
        continue;
      }
      const target = resolveRelative(specifier, file);
      if (target === undefined) {
        outside.push(`${chain(file)} -> ${specifier} (not a TypeScript module)`);
        continue;
      }
      if (reachedFrom.has(target)) continue;
      reachedFrom.set(target, file);
      if (bundledFolder(target)) queue.push(target);
      else outside.push(chain(target));
    }
  }
  return { modules: [...reachedFrom.keys()].map(rel).sort(), outside };
}

/** The fixtures stand in for workflow modules: their folder counts as bundled. */
const FIXTURES = 'test/fixtures/bundle-closure';
const fixtureClosure = (name: string) => bundleClosure(path.join(root, FIXTURES, name), [...BUNDLED_FOLDERS, FIXTURES]);

describe('the workflow bundle', () => {
  const closure = bundleClosure(path.join(root, 'workflows', 'index.ts'));

  it('reaches only workflows/, core/, @temporalio/workflow and zod', () => {
    expect(closure.outside).toEqual([]);
  });

  it('is walked through, not stopped at the entry', () => {
    expect(closure.modules).toEqual(expect.arrayContaining(['workflows/pipeline.ts', 'workflows/strategy-driver.ts', 'core/space.ts', 'core/random.ts']));
  });
});

describe('the closure check', () => {
  it('fails on a module that reaches loadTf through a helper, naming the chain', () => {
    expect(fixtureClosure('reaches-tf.ts').outside).toEqual([`${FIXTURES}/reaches-tf.ts -> ${FIXTURES}/tf-helper.ts -> engine/backend.ts`]);
  });

  it('fails on a package the sandbox does not provide', () => {
    expect(fixtureClosure('reads-files.ts').outside).toEqual([`${FIXTURES}/reads-files.ts -> node:fs`]);
  });

  it('passes a module that names engine and activity types only', () => {
    const closure = fixtureClosure('names-types.ts');
    expect(closure.outside).toEqual([]);
    expect(closure.modules).toContain('core/space.ts');
  });
});
