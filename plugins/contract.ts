/**
 * The run-time half of the plugin contract: a value loaded from a user module is checked by shape
 * (never `instanceof`, since plugins may import another copy of the API) before it is registered.
 */
import { z } from 'zod';
import { PLUGIN_KINDS, PLUGIN_NAME_PATTERN, type Plugin } from './api';

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

const isZod4Schema = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && '_zod' in v && typeof (v as { safeParse?: unknown }).safeParse === 'function';

const fn = z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', 'must be a function');

const Base = {
  name: z.string().regex(PLUGIN_NAME_PATTERN, 'must be lowercase letters, digits and dashes, starting with a letter'),
  version: z.string().regex(SEMVER, 'must be a semantic version such as 1.0.0'),
  description: z.string().max(200).optional(),
  configSchema: z.custom((v) => isZod4Schema(v), 'must be a zod 4 schema (use the `z` exported by the plugin API)'),
};

const MULTI_TRIAL_MEMBERS = ['init', 'propose', 'observe', 'best'];
const ONE_SHOT_MEMBERS = ['init', 'sample', 'update'];

/** Which members each kind has; optional members must be functions when present. */
const PluginShape = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('search-strategy'),
    ...Base,
    mode: z.enum(['multi-trial', 'one-shot']),
    init: fn.optional(),
    propose: fn.optional(),
    observe: fn.optional(),
    best: fn.optional(),
    sample: fn.optional(),
    update: fn.optional(),
    weightStepsPerArchStep: fn.optional(),
  }),
  z.object({ kind: z.literal('hardware-target'), ...Base, measureOp: fn.optional(), measureModel: fn.optional(), timed: z.boolean().optional(), unavailable: fn.optional() }),
]);

export function pluginShapeProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return ['not a plugin: export definePlugin({ kind, name, version, configSchema, ... })'];
  const result = PluginShape.safeParse(value);
  // Checked outside zod so it is reported together with field problems, not after them.
  const v = value as Record<string, unknown>;
  const required = v.kind !== 'search-strategy' ? [] : v.mode === 'multi-trial' ? MULTI_TRIAL_MEMBERS : v.mode === 'one-shot' ? ONE_SHOT_MEMBERS : [];
  const missing = required.filter((m) => v[m] === undefined).map((m) => `${m}: a ${String(v.mode)} strategy must define this function`);
  if (result.success) return missing;
  const problems = result.error.issues.map((issue) => {
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    if (issue.code === 'invalid_union' && issue.path[0] === 'kind') return `kind: must be one of ${PLUGIN_KINDS.join(', ')}`;
    return where + issue.message.replace(/^Invalid input: expected (\w+), received undefined$/, 'missing ($1 expected)');
  });
  return [...problems, ...missing];
}

export function isPlugin(value: unknown): value is Plugin {
  return pluginShapeProblems(value).length === 0;
}
