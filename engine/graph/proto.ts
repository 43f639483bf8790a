/**
 * The few TensorFlow protocol buffers a compiled training step needs, encoded by hand-picked field
 * numbers (tensorflow/core/framework/{graph,node_def,attr_value,tensor_shape}.proto and
 * tensorflow/core/protobuf/{saved_model,meta_graph}.proto): a GraphDef of NodeDefs, wrapped in a
 * SavedModel with one meta graph tagged `serve`, which is the one graph format tfjs-node's native
 * binding can load into a TensorFlow session. Only what the session loader reads is written: no
 * signatures (the step is run by tensor name), no variables (weights are fed on every run).
 */
import protobuf from 'protobufjs';

const { Writer } = protobuf;
type Writer = protobuf.Writer;

/** tensorflow.DataType values. */
export const DT = { float: 1, int32: 3, int64: 9, bool: 10 } as const;
export type DataType = (typeof DT)[keyof typeof DT];

export type AttrValue =
  | { type: DataType }
  | { shape: number[] }
  | { i: number }
  | { f: number }
  | { b: boolean }
  | { s: string }
  | { ints: number[] }
  | { tensor: ConstTensor };

/** A constant's value: int32 or float32 values with their shape. */
export interface ConstTensor {
  dtype: typeof DT.int32 | typeof DT.float;
  shape: number[];
  values: ArrayLike<number>;
}

export interface NodeDef {
  name: string;
  op: string;
  /** `node`, `node:1`, or `^node` for a control input. */
  inputs: string[];
  attrs: Record<string, AttrValue>;
}

const LEN = 2;
const VARINT = 0;
const FIXED32 = 5;
const tag = (field: number, wire: number) => (field << 3) | wire;

function shapeProto(w: Writer, dims: number[]): void {
  for (const d of dims) w.uint32(tag(2, LEN)).fork().uint32(tag(1, VARINT)).int64(d).ldelim();
}

function tensorProto(w: Writer, t: ConstTensor): void {
  w.uint32(tag(1, VARINT)).int32(t.dtype);
  w.uint32(tag(2, LEN)).fork();
  shapeProto(w, t.shape);
  w.ldelim();
  // tensor_content: the values' little-endian bytes, as TensorFlow's own writers store them.
  const bytes = t.dtype === DT.float ? new Uint8Array(Float32Array.from(t.values).buffer) : new Uint8Array(Int32Array.from(t.values).buffer);
  w.uint32(tag(4, LEN)).bytes(bytes);
}

function attrValue(w: Writer, a: AttrValue): void {
  if ('type' in a) w.uint32(tag(6, VARINT)).int32(a.type);
  else if ('shape' in a) {
    w.uint32(tag(7, LEN)).fork();
    shapeProto(w, a.shape);
    w.ldelim();
  } else if ('i' in a) w.uint32(tag(3, VARINT)).int64(a.i);
  else if ('f' in a) w.uint32(tag(4, FIXED32)).float(a.f);
  else if ('b' in a) w.uint32(tag(5, VARINT)).bool(a.b);
  else if ('s' in a) w.uint32(tag(2, LEN)).bytes(Buffer.from(a.s, 'utf8'));
  else if ('ints' in a) {
    // AttrValue.list (1) holding ListValue.i (3), packed.
    w.uint32(tag(1, LEN)).fork().uint32(tag(3, LEN)).fork();
    for (const v of a.ints) w.int64(v);
    w.ldelim().ldelim();
  } else {
    w.uint32(tag(8, LEN)).fork();
    tensorProto(w, a.tensor);
    w.ldelim();
  }
}

function nodeDef(w: Writer, n: NodeDef): void {
  w.uint32(tag(1, LEN)).string(n.name).uint32(tag(2, LEN)).string(n.op);
  for (const input of n.inputs) w.uint32(tag(3, LEN)).string(input);
  // attr is a map<string, AttrValue>: repeated entries of (key = 1, value = 2); sorted, as TF writes them.
  for (const key of Object.keys(n.attrs).sort()) {
    w.uint32(tag(5, LEN)).fork().uint32(tag(1, LEN)).string(key).uint32(tag(2, LEN)).fork();
    attrValue(w, n.attrs[key]);
    w.ldelim().ldelim();
  }
}

/**
 * GraphDef producer version: the graph's semantics are those of TensorFlow at that version.
 * 1286 is TensorFlow 2.12's; any libtensorflow from 2.12 on runs it unchanged.
 */
const PRODUCER = 1286;

/** saved_model.pb bytes: SavedModel { schema version 1, one MetaGraphDef { tags [serve], graph } }. */
export function encodeSavedModel(nodes: readonly NodeDef[]): Uint8Array {
  const w = Writer.create();
  w.uint32(tag(1, VARINT)).int64(1);
  w.uint32(tag(2, LEN)).fork();
  w.uint32(tag(1, LEN)).fork().uint32(tag(4, LEN)).string('serve').ldelim();
  w.uint32(tag(2, LEN)).fork();
  for (const n of nodes) {
    w.uint32(tag(1, LEN)).fork();
    nodeDef(w, n);
    w.ldelim();
  }
  w.uint32(tag(4, LEN)).fork().uint32(tag(1, VARINT)).int32(PRODUCER).ldelim();
  w.ldelim();
  w.ldelim();
  return w.finish();
}
