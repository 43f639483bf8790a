/**
 * What a plugin module exports, read the same way by the Node loader (plugins/load.ts) and by
 * workflow code (workflows/strategy-registry.ts), so nothing here may touch Node APIs.
 */
import type { MultiTrialStrategyPlugin } from './strategy-contract';

/** The module's default export; a plain CommonJS module's `module.exports` counts as one. */
export function defaultExport(mod: unknown): unknown {
  if (mod && typeof mod === 'object' && 'default' in mod) return (mod as { default: unknown }).default;
  if (mod && typeof mod === 'object' && (mod as { __esModule?: boolean }).__esModule) return undefined;
  return mod;
}

/** A module may export one plugin or an array of them, as default export or as module.exports. */
export function pluginsOfModule(mod: unknown): unknown[] {
  const value = defaultExport(mod);
  return Array.isArray(value) ? value : [value];
}

// any: each strategy's config and state types are private to it; callers only pass them back.
export function isMultiTrialStrategy(value: unknown): value is MultiTrialStrategyPlugin<any, any> {
  const v = value as Partial<MultiTrialStrategyPlugin> | null;
  return typeof v === 'object' && v !== null && v.kind === 'search-strategy' && v.mode === 'multi-trial' && typeof v.propose === 'function';
}
