/**
 * The second half of validation: load the user plugins a pipeline declares, then check every
 * plugin reference (strategy, hardware targets) against the registry and its config against the
 * plugin's own schema, with positions in the pipeline file. Works on the raw document value, so it
 * reports alongside schema problems instead of after them.
 */
import type { z } from 'zod';
import type { Plugin, PluginKind } from '../plugins/api';
import { loadDeclaredPlugin, PluginLoadError } from '../plugins/load';
import { builtinRegistry, KIND_LABEL, type PluginRegistry } from '../plugins/registry';
import { issuesToProblems, problemAt, type Path, type PipelineProblem, type SourceDocument } from './problems';
import { pathString } from './strings';
import { closest } from './suggest';

export interface PluginReference {
  kind: PluginKind;
  /** Path of the `{ plugin, config }` object in the pipeline. */
  path: (string | number)[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where a pipeline names plugins. Adding a plugin-valued field means adding it here. */
export function pluginReferences(value: unknown): PluginReference[] {
  if (!isRecord(value)) return [];
  const refs: PluginReference[] = [];
  const stages = isRecord(value.stages) ? value.stages : {};
  if (isRecord(stages.baselineSearch) && isRecord(stages.baselineSearch.strategy)) {
    refs.push({ kind: 'search-strategy', path: ['stages', 'baselineSearch', 'strategy'] });
  }
  if (isRecord(value.hardwareTargets)) {
    for (const [id, ref] of Object.entries(value.hardwareTargets)) if (isRecord(ref)) refs.push({ kind: 'hardware-target', path: ['hardwareTargets', id] });
  }
  return refs;
}

export interface ResolvedPluginConfigs {
  registry: PluginRegistry;
  /** Plugins loaded from the pipeline's `plugins:` list, in order. */
  userPlugins: Plugin[];
  /** Parsed configs (defaults filled) by the path of their reference, joined with dots. */
  configs: Map<string, Record<string, unknown>>;
  problems: PipelineProblem[];
}

/**
 * `value` is the parsed pipeline when the schema accepted it (so defaulted references such as the
 * default strategy are checked too), else the raw document value.
 */
export function resolvePluginConfigs(doc: SourceDocument, value: unknown = doc.value): ResolvedPluginConfigs {
  const registry = builtinRegistry();
  const problems: PipelineProblem[] = [];
  const userPlugins: Plugin[] = [];
  const raw = isRecord(doc.value) ? doc.value : {};
  const specs = Array.isArray(raw.plugins) ? raw.plugins : [];
  specs.forEach((spec, i) => {
    if (!pathString().safeParse(spec).success) return; // the schema reports it (empty, NUL, too long)
    try {
      userPlugins.push(...loadDeclaredPlugin(spec, doc.file, registry));
    } catch (err) {
      if (!(err instanceof PluginLoadError)) throw err;
      problems.push(problemAt(doc, ['plugins', i], `plugin "${spec}": ${err.message}`));
    }
  });

  const configs = new Map<string, Record<string, unknown>>();
  for (const ref of pluginReferences(value)) {
    const node = ref.path.reduce<unknown>((v, k) => (isRecord(v) ? v[k] : undefined), value) as Record<string, unknown>;
    const name = node.plugin;
    if (typeof name !== 'string') continue; // the schema reports it
    const plugin = registry.get(ref.kind, name);
    if (!plugin) {
      const known = registry.names(ref.kind);
      const otherKind = (Object.keys(KIND_LABEL) as PluginKind[]).find((k) => k !== ref.kind && registry.get(k, name));
      const hint = otherKind
        ? ` ("${name}" is a ${KIND_LABEL[otherKind]})`
        : closest(name, known)
          ? ` (did you mean "${closest(name, known)}"?)`
          : '';
      const loadHint = otherKind ? '' : '; a user plugin must be listed under plugins:';
      problems.push(problemAt(doc, [...ref.path, 'plugin'], `unknown ${KIND_LABEL[ref.kind]} "${name}"${hint}; known: ${known.join(', ')}${loadHint}`));
      continue;
    }
    const configPath: Path = [...ref.path, 'config'];
    const config = node.config ?? {};
    const schema = plugin.configSchema as z.ZodType;
    const result = schema.safeParse(config);
    if (result.success) configs.set(ref.path.join('.'), result.data as Record<string, unknown>);
    else problems.push(...issuesToProblems(result.error.issues, doc, schema, configPath));
  }
  return { registry, userPlugins, configs, problems };
}
