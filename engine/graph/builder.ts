/**
 * Builds a TensorFlow GraphDef one node at a time. Tensors are referred to as TensorFlow names
 * them (`node` for output 0, `node:1`), which is also how a session is fed and fetched. The
 * helpers cover the ops the layer emitters use, each with the attributes its kernel needs; the
 * session fills in the rest from the op registry's defaults.
 */
import { DT, type AttrValue, type DataType, type NodeDef } from './proto';

export type T = string;

const F: AttrValue = { type: DT.float };

export class GraphBuilder {
  readonly nodes: NodeDef[] = [];
  private readonly used = new Set<string>();
  private scope = '';

  /** Runs `body` with node names prefixed by `name/`, so a layer's nodes read as its own in TensorFlow's messages. */
  within<R>(name: string, body: () => R): R {
    const outer = this.scope;
    this.scope = `${outer}${name.replace(/[^A-Za-z0-9_.\-/]/g, '_')}/`;
    try {
      return body();
    } finally {
      this.scope = outer;
    }
  }

  private unique(name: string): string {
    const base = `${this.scope}${name}`;
    let candidate = base;
    for (let i = 1; this.used.has(candidate); i++) candidate = `${base}_${i}`;
    this.used.add(candidate);
    return candidate;
  }

  /** Adds a node; returns its output names, `outputs` of them. */
  op(op: string, inputs: T[], attrs: Record<string, AttrValue> = {}, name: string = op, outputs = 1): T[] {
    const node = this.unique(name);
    this.nodes.push({ name: node, op, inputs, attrs });
    return Array.from({ length: outputs }, (_, i) => (i === 0 ? node : `${node}:${i}`));
  }

  one(op: string, inputs: T[], attrs: Record<string, AttrValue> = {}, name: string = op): T {
    return this.op(op, inputs, attrs, name)[0];
  }

  placeholder(name: string, dtype: DataType, shape: number[]): T {
    if (this.used.has(name)) throw new Error(`graph already has a node ${name}`);
    this.used.add(name);
    this.nodes.push({ name, op: 'Placeholder', inputs: [], attrs: { dtype: { type: dtype }, shape: { shape } } });
    return name;
  }

  ints(values: number[], name = 'Const'): T {
    return this.one('Const', [], { dtype: { type: DT.int32 }, value: { tensor: { dtype: DT.int32, shape: [values.length], values } } }, name);
  }

  intScalar(value: number, name = 'Const'): T {
    return this.one('Const', [], { dtype: { type: DT.int32 }, value: { tensor: { dtype: DT.int32, shape: [], values: [value] } } }, name);
  }

  scalar(value: number, name = 'Const'): T {
    return this.one('Const', [], { dtype: F, value: { tensor: { dtype: DT.float, shape: [], values: [value] } } }, name);
  }

  floats(values: number[], shape: number[], name = 'Const'): T {
    return this.one('Const', [], { dtype: F, value: { tensor: { dtype: DT.float, shape, values } } }, name);
  }

  /** `x` under exactly `name` (outside any scope): what a session fetches as `name:0`. */
  output(x: T, name: string): T {
    if (this.used.has(name)) throw new Error(`graph already has a node ${name}`);
    this.used.add(name);
    this.nodes.push({ name, op: 'Identity', inputs: [x], attrs: { T: F } });
    return name;
  }

  unary(op: 'Relu6' | 'Relu' | 'Sigmoid' | 'Square' | 'Floor' | 'Reciprocal', x: T): T {
    return this.one(op, [x], { T: F });
  }

  /** Relu6Grad / ReluGrad (gradients, features); SigmoidGrad (y, dy). */
  grad(op: 'Relu6Grad' | 'ReluGrad' | 'SigmoidGrad', a: T, b: T): T {
    return this.one(op, [a, b], { T: F });
  }

  binary(op: 'Mul' | 'Add' | 'AddV2' | 'Sub' | 'RealDiv', a: T, b: T): T {
    return this.one(op, [a, b], { T: F });
  }

  /** Sum of same-shaped tensors; the identity for one. */
  addN(xs: T[]): T {
    if (xs.length === 0) throw new Error('addN of nothing');
    if (xs.length === 1) return xs[0];
    return this.one('AddN', xs, { N: { i: xs.length }, T: F });
  }

  reduce(op: 'Mean' | 'Sum', x: T, axes: number[], keepDims: boolean): T {
    return this.one(op, [x, this.ints(axes)], { T: F, Tidx: { type: DT.int32 }, keep_dims: { b: keepDims } });
  }

  shape(x: T): T {
    return this.one('Shape', [x], { T: F, out_type: { type: DT.int32 } });
  }

  reshape(x: T, shape: T | number[]): T {
    const s = typeof shape === 'string' ? shape : this.ints(shape);
    return this.one('Reshape', [x, s], { T: F, Tshape: { type: DT.int32 } });
  }

  broadcastTo(x: T, shape: T): T {
    return this.one('BroadcastTo', [x, shape], { T: F, Tidx: { type: DT.int32 } });
  }

  matMul(a: T, b: T, transposeA = false, transposeB = false): T {
    return this.one('MatMul', [a, b], { T: F, transpose_a: { b: transposeA }, transpose_b: { b: transposeB } });
  }

  /** Concatenation of rank-1 float tensors. */
  concat(xs: T[], axis = 0): T {
    return this.one('ConcatV2', [...xs, this.intScalar(axis)], { N: { i: xs.length }, T: F, Tidx: { type: DT.int32 } });
  }
}
