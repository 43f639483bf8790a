/**
 * The plugins a pipeline may use, by kind and name. A registry starts with the built-ins and gains
 * only the user plugins that one pipeline declares, so what a pipeline can run is visible in it.
 */
import type { HardwareTargetPlugin, Plugin, PluginKind, SearchStrategyPlugin } from './api';
import { BUILTIN_PLUGINS } from './builtin';
import { pluginShapeProblems } from './contract';

export interface RegisteredPlugin {
  plugin: Plugin;
  /** "built-in", or the file the plugin was loaded from. */
  source: string;
}

export class PluginRegistrationError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'PluginRegistrationError';
  }
}

export const KIND_LABEL: Record<PluginKind, string> = { 'search-strategy': 'search strategy', 'hardware-target': 'hardware target' };

export class PluginRegistry {
  private readonly entries = new Map<string, RegisteredPlugin>();

  register(plugin: unknown, source: string): Plugin {
    const problems = pluginShapeProblems(plugin);
    if (problems.length > 0) throw new PluginRegistrationError(problems);
    const p = plugin as Plugin;
    const existing = this.entries.get(key(p.kind, p.name));
    if (existing) {
      throw new PluginRegistrationError([`a ${KIND_LABEL[p.kind]} named "${p.name}" is already registered (${existing.source}); choose another name`]);
    }
    this.entries.set(key(p.kind, p.name), { plugin: p, source });
    return p;
  }

  get(kind: 'search-strategy', name: string): SearchStrategyPlugin | undefined;
  get(kind: 'hardware-target', name: string): HardwareTargetPlugin | undefined;
  get(kind: PluginKind, name: string): Plugin | undefined;
  get(kind: PluginKind, name: string): Plugin | undefined {
    return this.entries.get(key(kind, name))?.plugin;
  }

  list(kind?: PluginKind): RegisteredPlugin[] {
    return [...this.entries.values()].filter((e) => !kind || e.plugin.kind === kind);
  }

  names(kind: PluginKind): string[] {
    return this.list(kind).map((e) => e.plugin.name);
  }
}

function key(kind: PluginKind, name: string): string {
  return `${kind}/${name}`;
}

/** A fresh registry holding the built-ins; each pipeline gets its own, so user plugins never leak. */
export function builtinRegistry(): PluginRegistry {
  const registry = new PluginRegistry();
  for (const plugin of BUILTIN_PLUGINS) registry.register(plugin, 'built-in');
  return registry;
}
