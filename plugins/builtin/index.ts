/** The plugins that ship with nas; they register through the same path as user plugins. */
import type { Plugin } from '../api';
import multiTrialStrategies from './strategies';
import { proxylessGradient, proxylessReinforce } from './proxyless';
import { lut, macs, nodeCpu, wasm } from './targets';

export const BUILTIN_PLUGINS: readonly Plugin[] = [proxylessGradient, proxylessReinforce, ...multiTrialStrategies, nodeCpu, wasm, lut, macs];
