/**
 * The multi-trial strategies this workflow bundle can run, by name. Nothing here names a strategy:
 * the worker's bundle entry (infra/workflow-bundle.ts) registers the modules it was built with, the
 * built-ins and a user's alike, when workflow code loads, before any workflow function runs. The
 * bundler gives every workflow execution its own module state, so each one sees exactly the set
 * its bundle was built with.
 */
import type { MultiTrialStrategyPlugin } from '../plugins/api';

// any: each strategy's config and state types are private to it; the search loop only passes them back.
type AnyMultiTrialStrategy = MultiTrialStrategyPlugin<any, any>;

const strategies = new Map<string, AnyMultiTrialStrategy>();

function isMultiTrialStrategy(value: unknown): value is AnyMultiTrialStrategy {
  const v = value as Partial<AnyMultiTrialStrategy> | null;
  return typeof v === 'object' && v !== null && v.kind === 'search-strategy' && v.mode === 'multi-trial' && typeof v.propose === 'function';
}

/** A plugin module's exports: one plugin or an array, as default export or as the module itself. */
function pluginsOf(mod: unknown): unknown[] {
  const value = mod && typeof mod === 'object' && 'default' in mod ? (mod as { default: unknown }).default : mod;
  return Array.isArray(value) ? value : [value];
}

/** Registers every multi-trial strategy the modules export; other plugins run in activities, not here. */
export function registerWorkflowStrategies(modules: readonly unknown[]): void {
  for (const plugin of modules.flatMap(pluginsOf)) {
    if (!isMultiTrialStrategy(plugin)) continue;
    const existing = strategies.get(plugin.name);
    if (existing && existing !== plugin) throw new Error(`two multi-trial strategies are named "${plugin.name}" in this workflow bundle`);
    strategies.set(plugin.name, plugin);
  }
}

export function workflowStrategy(name: string): AnyMultiTrialStrategy | undefined {
  return strategies.get(name);
}

export function workflowStrategyNames(): string[] {
  return [...strategies.keys()].sort();
}
