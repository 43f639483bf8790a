/**
 * The built-in multi-trial strategies: the modules every worker bundles into its workflow code
 * (infra/workflow-bundle.ts), through the same registration as a user's strategy module. Kept apart
 * from the hardware targets, which need Node and native code that workflow code may not import.
 */
import random from './random';
import regularizedEvolution from './regularized-evolution';
import successiveHalving from './successive-halving';

export default [random, regularizedEvolution, successiveHalving];
