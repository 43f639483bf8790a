/**
 * The check `nas run` and `nas resume` make before starting anything here: targets that say they
 * cannot measure on this machine are named with the reason, the others pass.
 */
import { unavailableTargets } from '../../../cli/target-preflight';
import { declaredTargets } from '../../../workflows/plan';
import { builtinRegistry } from '../../../plugins/registry';

test('a browser target without its browser is named with the path; timed Node targets and invalid configs pass', () => {
  const targets = declaredTargets({
    pipeline: {
      hardwareTargets: {
        web: { plugin: 'browser-wasm', config: { browser: { executable: '/no/such/chromium' } } },
        cpu: { plugin: 'node-cpu', config: {} },
        // Its config is validation's to refuse; the preflight does not report it twice.
        odd: { plugin: 'browser-webgl', config: { browser: { executable: 42 } } },
      },
    },
  } as never);
  expect(targets.map((t) => t.id)).toEqual(['web', 'cpu', 'odd']);
  const problems = unavailableTargets(targets, builtinRegistry());
  expect(problems).toHaveLength(1);
  expect(problems[0]).toMatch(/^hardwareTargets\.web \(browser-wasm\): no browser at \/no\/such\/chromium: install Debian's chromium/);
});

test('a plugin this registry does not know is left to the run (it is reported where plugins load)', () => {
  expect(unavailableTargets([{ id: 'x', plugin: 'not-registered', config: {} }], builtinRegistry())).toEqual([]);
});
