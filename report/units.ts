/**
 * What a hardware target's "latency" numbers are. Timed targets give milliseconds; the `macs`
 * target gives multiply-adds times a constant, in "ms" only so the search can trade it like
 * latency. Printed as plain ms it reads as a measurement of a very fast device, which it is not.
 */
import type { Pipeline } from '../dsl/pipeline';

/** The plugins whose numbers are not timings. */
const PROXY_PLUGINS = new Set(['macs']);

export function isProxyTarget(plugin: string): boolean {
  return PROXY_PLUGINS.has(plugin);
}

/** The unit to print after a target's numbers: `ms`, or the proxy's own. */
export function latencyUnit(target: { id: string; plugin: string }, pipeline: Pipeline | undefined): string {
  if (!isProxyTarget(target.plugin)) return 'ms';
  const config = pipeline?.hardwareTargets?.[target.id]?.config as { msPerMegaMac?: number } | undefined;
  return `MAC proxy, not timed: ${config?.msPerMegaMac ?? 0.01} per M MACs`;
}
