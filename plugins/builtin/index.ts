/** The plugins that ship with nas; they register through the same path as user plugins. */
import type { Plugin } from '../api';
import multiTrialStrategies from './strategies';
import { proxylessGradient, proxylessReinforce } from './proxyless';
import { browserWasm, browserWebgl, browserWebgpu } from './browser-targets';
import { lut, macs, nodeCpu, wasm } from './targets';

export const BUILTIN_PLUGINS: readonly Plugin[] = [proxylessGradient, proxylessReinforce, ...multiTrialStrategies, nodeCpu, wasm, browserWasm, browserWebgl, browserWebgpu, lut, macs];
