/**
 * The multi-trial strategies this workflow bundle can run, by name. Nothing here names a strategy:
 * the worker's bundle entry (infra/workflow-bundle.ts) registers the modules it was built with, the
 * built-ins and a user's alike, when workflow code loads, before any workflow function runs. The
 * bundler gives every workflow execution its own module state, so each one sees exactly the set
 * its bundle was built with.
 */
import type { MultiTrialStrategyPlugin } from '../core/strategy-contract';
import { isMultiTrialStrategy, pluginsOfModule } from '../core/plugin-modules';

// any: each strategy's config and state types are private to it; the search loop only passes them back.
type AnyMultiTrialStrategy = MultiTrialStrategyPlugin<any, any>;

const strategies = new Map<string, AnyMultiTrialStrategy>();

/** Registers every multi-trial strategy the modules export; other plugins run in activities, not here. */
export function registerWorkflowStrategies(modules: readonly unknown[]): void {
  for (const plugin of modules.flatMap(pluginsOfModule)) {
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
