/**
 * SGD with (Nesterov) momentum whose slots are keyed by weight name. tfjs's own optimizers key
 * their slots by the position of a variable in the list passed to each update; a supernet passes a
 * different list every step (the active paths), so their slots would be applied to the wrong
 * weights. Here a path's momentum lives under its weights' names, is created the first time the
 * path is active and is left untouched while the path is not sampled (as PyTorch's SGD skips
 * parameters without a gradient, which is what the paper's code relies on).
 */
import type { Tensor, Variable } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';

export interface WeightOptimizerSpec {
  learningRate: number;
  momentum: number;
  nesterov: boolean;
  /** L2 added to kernel gradients (not BatchNorm or biases): wd * w. */
  weightDecay: number;
}

export const DEFAULT_WEIGHT_OPTIMIZER: WeightOptimizerSpec = { learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0 };

export interface NamedVariable {
  /** Stable name (the layer weight's originalName): the key of slots and checkpoints. */
  key: string;
  variable: Variable;
  /** Conv, depthwise and dense kernels get weight decay. */
  decays: boolean;
}

export class KeyedMomentum {
  private readonly slots = new Map<string, Variable>();

  constructor(public spec: WeightOptimizerSpec) {}

  /** Applies the gradients (keyed like `vars`) with the given learning rate; other slots are untouched. */
  apply(vars: readonly NamedVariable[], grads: readonly Tensor[], learningRate = this.spec.learningRate): void {
    const tf = loadTf();
    const { momentum, nesterov, weightDecay } = this.spec;
    tf.tidy(() => {
      vars.forEach((nv, i) => {
        let g = grads[i];
        if (weightDecay > 0 && nv.decays) g = tf.add(g, tf.mul(nv.variable, weightDecay));
        let slot = this.slots.get(nv.key);
        if (!slot) {
          slot = tf.variable(tf.zerosLike(nv.variable), false);
          this.slots.set(nv.key, slot);
        }
        const v = tf.add(tf.mul(slot, momentum), g);
        slot.assign(v);
        const step = nesterov ? tf.add(g, tf.mul(v, momentum)) : v;
        nv.variable.assign(tf.sub(nv.variable, tf.mul(step, learningRate)));
      });
    });
  }

  /** Slots by key, live (do not dispose them). */
  slotEntries(): { name: string; tensor: Tensor }[] {
    return [...this.slots.entries()].map(([name, v]) => ({ name, tensor: v }));
  }

  /** Replaces all slots by copies of the given tensors. */
  setSlots(entries: readonly { name: string; tensor: Tensor }[]): void {
    const tf = loadTf();
    this.dispose();
    // A variable shares (and references) the tensor's buffer, so the caller may dispose the tensor.
    for (const { name, tensor } of entries) this.slots.set(name, tf.variable(tensor, false));
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
  }
}
