/**
 * What a run records of the plugins it uses (name, version, source, a user module's sha256), and the
 * check that a run about to go on still has them as they were: its history and checkpoints were made
 * by that code.
 */
import type { LoadedPipeline } from '../dsl/load';
import { packageVersion } from '../infra/paths';
import { fileSha256 } from '../infra/workflow-bundle';
import { KIND_LABEL } from '../plugins/registry';
import type { PluginProvenance } from '../workflows/pipeline';

/** Where a plugin came from: "built-in" or its module file. */
export function sourceOf(loaded: LoadedPipeline, kind: 'search-strategy' | 'hardware-target', name: string): string | undefined {
  return loaded.plugins.list(kind).find((e) => e.plugin.name === name)?.source;
}

/** Every plugin the pipeline uses, with its version and, for a user's, the hash of its module file. */
export function provenance(loaded: LoadedPipeline): PluginProvenance[] {
  const { pipeline } = loaded;
  const used: { kind: 'search-strategy' | 'hardware-target'; name: string }[] = [
    ...(pipeline.stages.baselineSearch ? [{ kind: 'search-strategy' as const, name: pipeline.stages.baselineSearch.strategy.plugin }] : []),
    ...[...new Set(Object.values(pipeline.hardwareTargets).map((t) => t.plugin))].map((name) => ({ kind: 'hardware-target' as const, name })),
  ];
  return used.flatMap(({ kind, name }) => {
    const plugin = loaded.plugins.get(kind, name);
    const source = sourceOf(loaded, kind, name);
    if (!plugin || !source) return [];
    return [source === 'built-in' ? { kind, name, version: plugin.version, source: `built-in (hwnas ${packageVersion()})` } : { kind, name, version: plugin.version, source, sha256: fileSha256(source) }];
  });
}

/**
 * The recorded user plugins whose module file is not what the run started with, each as a phrase
 * naming the file. A file that is not on this machine counts only where this machine must load it
 * (an embedded run); a cluster's workers have their own copies, keyed by the same hash.
 */
export function changedPlugins(recorded: readonly PluginProvenance[], missingCounts: boolean): string[] {
  return recorded.flatMap((p) => {
    if (!p.sha256) return [];
    const what = `${KIND_LABEL[p.kind]} ${p.source} (${p.name}@${p.version})`;
    let now: string;
    try {
      now = fileSha256(p.source);
    } catch {
      return missingCounts ? [`${what} is gone`] : [];
    }
    return now === p.sha256 ? [] : [`${what} changed since the run started (sha256 ${p.sha256.slice(0, 12)}, now ${now.slice(0, 12)})`];
  });
}
