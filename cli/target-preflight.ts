/**
 * Before a run starts on this machine's workers: every declared hardware target that says it
 * cannot measure here (a browser target without a browser) refuses the run, naming the target,
 * so nothing is started that would fail at its first measurement. Runs submitted to a cluster
 * are measured on its workers, which this machine cannot speak for.
 */
import type { LoadedPipeline } from '../dsl/load';

export function unavailableTargets(loaded: LoadedPipeline): string[] {
  const problems: string[] = [];
  for (const [id, ref] of Object.entries(loaded.pipeline.hardwareTargets)) {
    const plugin = loaded.plugins.get('hardware-target', ref.plugin);
    if (!plugin?.unavailable) continue;
    const parsed = plugin.configSchema.safeParse(ref.config ?? {});
    // An invalid config was reported by validation already; nothing to check here.
    if (!parsed.success) continue;
    const why = plugin.unavailable(parsed.data);
    if (why) problems.push(`hardwareTargets.${id} (${ref.plugin}): ${why}`);
  }
  return problems;
}
