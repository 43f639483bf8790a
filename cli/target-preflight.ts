/**
 * Before a run starts or resumes on this machine's workers: every hardware target that says it
 * cannot measure here (a browser target without a browser) refuses the run, naming the target,
 * so nothing is started that would fail at its first measurement. Runs submitted to a cluster
 * are measured on its workers, which this machine cannot speak for.
 */
import type { TargetRef } from '../core/refs';
import type { PluginRegistry } from '../plugins/registry';

/** One line per target that cannot measure here: `hardwareTargets.<id> (<plugin>): <why>`. */
export function unavailableTargets(targets: readonly TargetRef[], plugins: Pick<PluginRegistry, 'get'>): string[] {
  const problems: string[] = [];
  for (const ref of targets) {
    const plugin = plugins.get('hardware-target', ref.plugin);
    if (!plugin?.unavailable) continue;
    const parsed = plugin.configSchema.safeParse(ref.config ?? {});
    // An invalid config was reported by validation already (or, resuming, by the run's first start).
    if (!parsed.success) continue;
    const why = plugin.unavailable(parsed.data);
    if (why) problems.push(`hardwareTargets.${ref.id} (${ref.plugin}): ${why}`);
  }
  return problems;
}
