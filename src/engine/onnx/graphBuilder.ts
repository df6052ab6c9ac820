// A small builder for ONNX graphs (onnx-proto / protobufjs), so the model graph reads as code.
// Values are named strings; `op()` adds a node and returns its output names. Weights are either
// graph inputs (fed from shared float32 arrays, so several graphs share one copy) or initializers.
import { onnx } from 'onnx-proto';

export const OPSET = 20; // Gelu(approximate="tanh") needs 20; onnxruntime 1.30 loads 17-26.

type AttrValue = number | string | number[] | { tensor: onnx.ITensorProto };

export interface WeightRef {
  name: string;
  data: Float32Array;
  dims: number[];
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly consts = new Map<string, string>();
  /** Constant name -> its values (integer constants are read back by the gradient builder). */
  private readonly constValueOf = new Map<string, number[]>();
  /** Static dims of graph inputs, weights and constants (strings for symbolic dims). */
  private readonly staticDims = new Map<string, Array<number | string>>();
  private readonly weightNames = new Set<string>();
  /** Weights this graph reads as inputs (to be fed by the session wrapper). */
  readonly weightInputs: WeightRef[] = [];
  private counter = 0;

  constructor(private readonly weightsAsInputs: boolean) {}

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  input(name: string, elemType: onnx.TensorProto.DataType, dims: Array<number | string>): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    this.staticDims.set(name, dims);
    return name;
  }

  output(name: string, elemType: onnx.TensorProto.DataType = onnx.TensorProto.DataType.FLOAT): void {
    this.outputs.push(valueInfo(name, elemType, undefined));
  }

  /** A model weight: a graph input fed at run time, or an initializer baked into the graph. */
  weight(name: string, data: Float32Array, dims: number[]): string {
    if (this.weightNames.has(name)) return name;
    this.weightNames.add(name);
    this.staticDims.set(name, dims);
    if (this.weightsAsInputs) {
      this.inputs.push(valueInfo(name, onnx.TensorProto.DataType.FLOAT, dims));
      this.weightInputs.push({ name, data, dims });
    } else {
      this.initializers.push({
        name,
        dims,
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      });
    }
    return name;
  }

  constF(values: number[], dims: number[] = [values.length]): string {
    return this.constant('f', values, dims, () => ({
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(Float32Array.from(values).buffer),
    }));
  }

  constI64(values: number[], dims: number[] = [values.length]): string {
    return this.constant('i', values, dims, () => ({
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer),
    }));
  }

  private constant(kind: string, values: number[], dims: number[], make: () => onnx.ITensorProto): string {
    const key = `${kind}:${dims.join('x')}:${values.join(',')}`;
    const existing = this.consts.get(key);
    if (existing) return existing;
    const name = this.fresh(`const_${kind}`);
    this.initializers.push({ ...make(), name, dims });
    this.consts.set(key, name);
    this.constValueOf.set(name, values);
    this.staticDims.set(name, dims);
    return name;
  }

  /** The values of a constant made by constF / constI64, or undefined for any other value. */
  constValues(name: string): number[] | undefined {
    return this.constValueOf.get(name);
  }

  /** Static dims of a graph input, weight or constant; undefined for computed values. */
  dimsOf(name: string): ReadonlyArray<number | string> | undefined {
    return this.staticDims.get(name);
  }

  private liveNodes(): onnx.INodeProto[] {
    return liveNodesOf(this.nodes, this.outputs);
  }

  /** The nodes so far, in the order added (a topological order). */
  get nodeList(): readonly onnx.INodeProto[] {
    return this.nodes;
  }

  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputNames?: string[] | number): string[] {
    const outs = Array.isArray(outputNames)
      ? outputNames
      : Array.from({ length: outputNames ?? 1 }, () => this.fresh(type.toLowerCase()));
    this.nodes.push({
      opType: type,
      input: inputs,
      output: outs,
      name: this.fresh(`n_${type}`),
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
    });
    return outs;
  }

  /** Single-output op. */
  op1(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputName?: string): string {
    return this.op(type, inputs, attrs, outputName ? [outputName] : 1)[0]!;
  }

  /**
   * Exposes a value as a graph output under `name`. The node that produced it is renamed in place
   * (no copy), which works because hooks are exposed before anything consumes the value; graph inputs
   * and values already exposed under another name get an Identity node instead.
   */
  expose(value: string, name: string): void {
    const producer = this.nodes.findLast((n) => n.output?.includes(value));
    const outputs = producer?.output ?? [];
    const idx = outputs.indexOf(value);
    const consumed = this.nodes.some((n) => n.input?.includes(value));
    const alreadyOutput = this.outputs.some((o) => o.name === value);
    if (producer && idx >= 0 && !consumed && !alreadyOutput) outputs[idx] = name;
    else this.op1('Identity', [value], {}, name);
    this.output(name);
  }

  build(graphName: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 9,
      producerName: 'mechlens',
      opsetImport: [{ domain: '', version: OPSET }],
      graph: {
        name: graphName,
        node: this.liveNodes(),
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/**
 * The nodes some graph output depends on, in order. Builders emit whole forward passes and then read
 * only part of them (a frozen model reads its MLP outputs and attention patterns from inputs, a backward
 * graph stops at its seeds); onnxruntime would still run the rest on every call.
 */
function liveNodesOf(nodes: readonly onnx.INodeProto[], outputs: readonly onnx.IValueInfoProto[]): onnx.INodeProto[] {
  const needed = new Set(outputs.map((o) => o.name!));
  const live = new Array<boolean>(nodes.length).fill(false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!n.output!.some((o) => needed.has(o))) continue;
    live[i] = true;
    for (const x of n.input ?? []) if (x) needed.add(x);
  }
  return nodes.filter((_, i) => live[i]);
}

function valueInfo(name: string, elemType: onnx.TensorProto.DataType, dims: Array<number | string> | undefined): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: dims ? { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined,
      },
    },
  };
}

function attribute(name: string, v: AttrValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  return { name, type: T.TENSOR, t: v.tensor };
}
