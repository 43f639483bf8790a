import { definePlugin, z } from '../../../plugins';
import { pluginShapeProblems } from '../../../plugins/contract';
import { builtinRegistry, PluginRegistrationError, PluginRegistry } from '../../../plugins/registry';

it('registers the built-ins through the same path as user plugins', () => {
  const registry = builtinRegistry();
  expect(registry.names('search-strategy')).toEqual(['proxyless-gradient', 'proxyless-reinforce', 'random', 'regularized-evolution', 'successive-halving']);
  expect(registry.names('hardware-target')).toEqual(['node-cpu', 'wasm', 'browser-wasm', 'browser-webgl', 'browser-webgpu', 'lut', 'macs']);
  expect(registry.list().every((e) => e.source === 'built-in')).toBe(true);
});

it('gives each pipeline a fresh registry', () => {
  const a = builtinRegistry();
  a.register(definePlugin({ kind: 'hardware-target', name: 'mine', version: '1.0.0', configSchema: z.object({}) }), 'x.ts');
  expect(builtinRegistry().get('hardware-target', 'mine')).toBeUndefined();
});

it('refuses a second plugin of the same kind and name', () => {
  const registry = builtinRegistry();
  const clash = definePlugin({ kind: 'hardware-target', name: 'macs', version: '1.0.0', configSchema: z.object({}) });
  expect(() => registry.register(clash, 'mine.ts')).toThrow(/already registered \(built-in\)/);
});

it('checks plugins by shape and says what is wrong', () => {
  expect(pluginShapeProblems(42)).toEqual([expect.stringContaining('not a plugin')]);
  expect(pluginShapeProblems({ kind: 'optimizer', name: 'x', version: '1.0.0', configSchema: z.object({}) })).toEqual([
    'kind: must be one of search-strategy, hardware-target',
  ]);
  const problems = pluginShapeProblems({ kind: 'search-strategy', mode: 'multi-trial', name: 'Bad Name', version: '1', configSchema: {}, init: () => 0 });
  expect(problems).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^name: must be lowercase/),
      expect.stringMatching(/^version: must be a semantic version/),
      expect.stringMatching(/^configSchema: must be a zod 4 schema/),
      'propose: a multi-trial strategy must define this function',
    ]),
  );
  expect(() => new PluginRegistry().register({}, 'x')).toThrow(PluginRegistrationError);
});
