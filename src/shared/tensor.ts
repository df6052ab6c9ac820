// Tensors that cross a boundary: a flat row-major typed array plus shape and named dims,
// so views pick axes by name (`dims: ['batch','pos','head','d_head']`).

export type DimName =
  | 'batch'
  | 'pos'
  | 'query_pos'
  | 'key_pos'
  | 'head'
  | 'kv_head'
  | 'd_model'
  | 'd_head'
  | 'd_mlp'
  | 'd_vocab'
  | 'one'
  | 'layer'
  | 'feature';

export interface NamedTensor {
  shape: number[];
  dims: DimName[];
  data: Float32Array;
}

/** A one-row batch without its batch axis ([1, ...] → [...], the same data). */
export function withoutBatch(t: NamedTensor): NamedTensor {
  return { shape: t.shape.slice(1), dims: t.dims.slice(1), data: t.data };
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Row-major strides of a shape. */
export function strides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) out[i] = out[i + 1]! * shape[i + 1]!;
  return out;
}
