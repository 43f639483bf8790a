/** The plugins that ship with nas; they register through the same path as user plugins. */
import type { Plugin } from '../api';
import random from './random';
import regularizedEvolution from './regularized-evolution';
import { proxylessGradient, proxylessReinforce } from './proxyless';
import { lut, macs, nodeCpu, wasm } from './targets';

export const BUILTIN_PLUGINS: readonly Plugin[] = [proxylessGradient, proxylessReinforce, random, regularizedEvolution, nodeCpu, wasm, lut, macs];
