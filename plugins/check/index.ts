/**
 * `nas plugin check`: a plugin module against the contract. Static checks come first (exports,
 * then determinism of strategy modules) so a module that would misbehave is never executed; only
 * then is it loaded, checked by shape like the registry does, and a multi-trial strategy replayed
 * twice from the same seed, which must give the same decisions and JSON-safe state.
 */
import { resolve } from 'node:path';
import type { MultiTrialStrategyPlugin, Plugin } from '../api';
import { pluginShapeProblems } from '../contract';
import { loadPluginModule, resolvePluginSpec } from '../load';
import { seededRng } from '../../core/random';
import { checkContractStatically } from './contract-static';
import { checkDeterminism } from './determinism';
import type { Finding } from './findings';

export { formatFinding, type Finding } from './findings';

export interface PluginCheckResult {
  findings: Finding[];
  plugins: Plugin[];
  ok: boolean;
}

/** Replays a multi-trial strategy and returns a problem, or null when it behaved. */
export function replayProblem(plugin: MultiTrialStrategyPlugin<any, unknown>): string | null { // any: the config type is the plugin's own
  const space = { options: [3, 4, 1, 5, 2, 6] };
  const run = (): string[] => {
    const ctx = { config: plugin.configSchema.parse({}), space };
    let state = plugin.init(ctx);
    const log: string[] = [JSON.stringify(state)];
    for (let call = 0; call < 40; call++) {
      const proposal = plugin.propose(state, seededRng(1234, call), ctx);
      state = proposal.state;
      log.push(JSON.stringify(proposal));
      if (proposal.done) break;
      if (!proposal.candidate) continue;
      const score = proposal.candidate.choices.reduce((sum, c, i) => sum + c * (i + 1), 0);
      state = plugin.observe(state, { ...proposal.candidate, score }, ctx);
      log.push(JSON.stringify(state));
      const roundTrip = JSON.stringify(JSON.parse(JSON.stringify(state) ?? 'null'));
      if (roundTrip !== JSON.stringify(state)) throw new Error('state is not a JSON value');
    }
    return log;
  };
  try {
    const a = run();
    const b = run();
    const at = a.findIndex((line, i) => line !== b[i]);
    if (at >= 0 || a.length !== b.length) return `two runs from the same seed diverged at step ${Math.max(at, 0)}: the strategy is not deterministic`;
    return null;
  } catch (err) {
    return `replay with default config failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

export function checkPlugin(path: string, options: { trustedRoot?: string } = {}): PluginCheckResult {
  const file = resolvePluginSpec(resolve(path), process.cwd());
  const { findings, declared } = checkContractStatically(file);
  // A kind that cannot be read statically is treated as a strategy: checking too much is the safe side.
  if (declared.length === 0 || declared.some((d) => d.kind !== 'hardware-target')) {
    findings.push(...checkDeterminism(file, options));
  }
  const errors = () => findings.filter((f) => f.severity === 'error').length;
  if (errors() > 0) return { findings, plugins: [], ok: false };

  const plugins: Plugin[] = [];
  let values: unknown[] = [];
  try {
    values = loadPluginModule(file);
  } catch (err) {
    findings.push({ file, line: 1, column: 1, severity: 'error', message: (err as Error).message });
  }
  values.forEach((value, i) => {
    const line = declared[i]?.line ?? 1;
    const problems = pluginShapeProblems(value);
    for (const message of problems) findings.push({ file, line, column: 1, severity: 'error', message });
    if (problems.length > 0) return;
    const plugin = value as Plugin;
    plugins.push(plugin);
    if (plugin.kind === 'search-strategy' && plugin.mode === 'multi-trial') {
      const problem = replayProblem(plugin);
      if (problem) findings.push({ file, line, column: 1, severity: 'error', message: problem });
    }
  });
  return { findings, plugins, ok: errors() === 0 };
}
