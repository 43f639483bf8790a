/**
 * Loads the user plugins a pipeline declares under `plugins:`: paths (relative to the pipeline
 * file) or package names resolved from the pipeline's folder. Nothing is discovered implicitly.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Plugin } from './api';
import { builtinRegistry, PluginRegistrationError, type PluginRegistry } from './registry';
import { pluginsOfModule } from './module-exports';
import { ensureTypeScriptRequire } from './ts-require';

export class PluginLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PluginLoadError';
  }
}

const EXTENSIONS = ['.ts', '.js', '.cjs'];

function isPathSpec(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..' || isAbsolute(spec);
}

/** Where a declared plugin lives: a file, a folder's index, or a package's main. */
export function resolvePluginSpec(spec: string, baseDir: string): string {
  if (isPathSpec(spec)) {
    const base = resolve(baseDir, spec);
    const candidates = [base, ...EXTENSIONS.map((e) => base + e), ...EXTENSIONS.map((e) => join(base, 'index' + e))];
    const found = candidates.find((c) => existsSync(c) && statSync(c).isFile());
    if (!found) throw new PluginLoadError(`no plugin file at ${spec} (looked for ${spec}, ${spec}.ts, ${spec}/index.ts and .js)`);
    return found;
  }
  try {
    return require.resolve(spec, { paths: [baseDir] });
  } catch {
    throw new PluginLoadError(`package "${spec}" not found from ${baseDir}; install it or give a path starting with ./`);
  }
}

export function loadPluginModule(file: string): unknown[] {
  ensureTypeScriptRequire();
  let mod: unknown;
  try {
    mod = require(file);
  } catch (err) {
    throw new PluginLoadError(`loading failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  return pluginsOfModule(mod);
}

/** Loads one declared plugin module into the registry; returns what it registered. */
export function loadDeclaredPlugin(spec: string, pipelineFile: string, registry: PluginRegistry): Plugin[] {
  const file = resolvePluginSpec(spec, dirname(resolve(pipelineFile)));
  const values = loadPluginModule(file);
  const registered: Plugin[] = [];
  for (const value of values) {
    try {
      registered.push(registry.register(value, file));
    } catch (err) {
      if (err instanceof PluginRegistrationError) throw new PluginLoadError(`${file}: ${err.problems.join('; ')}`);
      throw err;
    }
  }
  return registered;
}

/** The built-ins plus the user plugin modules a pipeline declared, as workers rebuild it per activity. */
export function registryWithPluginFiles(files: readonly string[]): PluginRegistry {
  const registry = builtinRegistry();
  for (const file of files) for (const plugin of loadPluginModule(file)) registry.register(plugin, file);
  return registry;
}
