// Compiles Intervention objects (shared/interventions.ts) into the per-hook `keep` and `add` tensors
// the forward graph applies as x * keep + add. Several interventions on one hook compose in order:
// applying (k2, a2) after (k1, a1) gives x * k1 k2 + (a1 k2 + a2). A subspace interchange is not
// elementwise (h' = h + R R^T (h_src - h) mixes a vector's entries), so it needs h itself: Model.forward
// first runs the same input under the interventions before it and captures h there (SourceActivations.base);
// the edit is then keep 0, add h' on its entries, exact however it composes with the others.
import { UserError } from './errors';
import { hookDims, isWritable, parseHookName } from './hooks';
import type { ModelConfig } from './architectures/spec';
import type { Intervention } from '../shared/interventions';
import { numel, strides } from '../shared/tensor';
import type { NamedTensor } from '../shared/tensor';
import { orthonormalBasis, subspaceInterchange } from '../shared/subspace';

export interface HookEdit {
  shape: number[];
  keep: Float32Array;
  add: Float32Array;
}

/** Activations an intervention needs from other runs (patch sources, mean references, subspace bases). */
export interface SourceActivations {
  /** The hook's activation on the source prompt, batch 1. */
  patch(intervention: { hook: string; source: { tokens: number[] } }): NamedTensor;
  /**
   * A subspace intervention's h: this run's activation at its hook under the interventions before it (on
   * earlier hooks, and earlier in the list on this hook), [batch, seq, ...] (Model.forward runs it first).
   */
  base(intervention: Intervention & { kind: 'subspace' }): NamedTensor;
  /** Mean over the reference prompts' positions: the hook's trailing dims (e.g. [d] or [H, dh]). */
  mean(intervention: Intervention & { kind: 'mean' }): Float32Array;
}

export interface EditContext {
  config: ModelConfig;
  batch: number;
  /** New positions in this run. */
  seq: number;
  /** Absolute position of the first new token (> 0 when decoding with a key/value cache). */
  offset: number;
}

/** Which axes of a hook's tensor hold positions and heads. */
function axesOf(dims: readonly string[]): { pos: number; head: number } {
  return {
    pos: dims.indexOf('pos') >= 0 ? dims.indexOf('pos') : dims.indexOf('query_pos'),
    head: dims.indexOf('head') >= 0 ? dims.indexOf('head') : dims.indexOf('kv_head'),
  };
}

/** `only`: compile just the interventions whose index it accepts (the rest are skipped; messages keep list numbers). */
export function compileInterventions(list: readonly Intervention[], ctx: EditContext, sources: SourceActivations, only?: (index: number) => boolean): Map<string, HookEdit> {
  const edits = new Map<string, HookEdit>();
  const { config, batch, seq, offset } = ctx;
  for (const [i, iv] of list.entries()) {
    // Model.forward turns feature interventions into adds first (their deltas need this run's activations).
    if (iv.kind === 'feature') throw new UserError(`Intervention ${i + 1}: a transcoder feature intervention needs its own run's activations; use it in a forward run (run, generate, the views), not in this analysis.`);
    if (only && !only(i)) continue;
    const parsed = parseHookName(iv.hook, config);
    if (!isWritable(parsed.local)) throw new UserError(`Intervention ${i + 1}: ${iv.hook} is a derived statistic and cannot be changed; intervene on a residual, attention or MLP hook.`);
    const { dims, shape } = hookDims(config, parsed.local, batch, seq, offset + seq);
    const { pos: posAxis, head: headAxis } = axesOf(dims);
    if (iv.heads && headAxis < 0) throw new UserError(`Intervention ${i + 1}: ${iv.hook} has no head axis; remove "heads".`);
    const nHeads = headAxis >= 0 ? shape[headAxis]! : 0;
    for (const h of iv.heads ?? []) if (h >= nHeads) throw new UserError(`Intervention ${i + 1}: head ${h} is out of range (the model has ${nHeads}).`);
    for (const r of iv.rows ?? []) if (r >= batch) throw new UserError(`Intervention ${i + 1}: row ${r} is out of range (batch of ${batch}).`);
    for (const p of iv.positions ?? []) if (p >= config.nCtx) throw new UserError(`Intervention ${i + 1}: position ${p} is beyond the context (${config.nCtx}).`);

    let edit = edits.get(iv.hook);
    if (!edit) {
      const n = numel(shape);
      edit = { shape, keep: new Float32Array(n).fill(1), add: new Float32Array(n) };
      edits.set(iv.hook, edit);
    }
    const lastDim = shape[shape.length - 1]!;
    let value: ((idx: number[], flat: number) => number) | null = null;
    let k = 0;
    switch (iv.kind) {
      case 'zero':
        k = 0;
        value = () => 0;
        break;
      case 'scale':
        k = iv.factor;
        value = () => 0;
        break;
      case 'add': {
        if (iv.vector.length !== lastDim) throw new UserError(`Intervention ${i + 1}: the vector has ${iv.vector.length} entries but ${iv.hook} has ${lastDim} in its last dimension.`);
        const s = iv.scale ?? 1;
        k = 1;
        value = (idx) => iv.vector[idx[idx.length - 1]!]! * s;
        break;
      }
      case 'mean': {
        const m = sources.mean(iv);
        k = 0;
        // The mean has the trailing dims after the position axis (and head axis, if any).
        const trailing = shape.slice(posAxis + 1);
        const tStrides = strides(trailing);
        value = (idx) => {
          let j = 0;
          for (let a = 0; a < trailing.length; a++) j += idx[posAxis + 1 + a]! * tStrides[a]!;
          return m[j]!;
        };
        break;
      }
      case 'patch': {
        const src = sources.patch(iv);
        const srcStrides = strides(src.shape);
        const srcLen = src.shape[posAxis]!;
        k = 0;
        value = (idx) => {
          let j = 0;
          for (let a = 1; a < idx.length; a++) {
            let v = idx[a]!;
            if (a === posAxis) v += offset;
            if (v >= src.shape[a]!) {
              throw new UserError(`Intervention ${i + 1}: the source prompt has ${srcLen} tokens, too few to patch position ${idx[posAxis]! + offset}. Clean and corrupted prompts must have equal token lengths.`);
            }
            j += v * srcStrides[a]!;
          }
          return src.data[j]!;
        };
        break;
      }
      case 'subspace': {
        const h = subspaceValues(iv, i + 1, shape, dims, posAxis, headAxis, offset, sources);
        k = 0;
        value = (_idx, flat) => h[flat]!;
        break;
      }
    }
    applySelection(edit, shape, posAxis, headAxis, offset, iv, k, value);
  }
  return edits;
}

/**
 * A subspace intervention's values h + R R^T (h_source - h) (or h - R R^T h without a source) on the entries it
 * selects, [batch, seq, ...] like the hook (other entries 0). The vectors R acts on are the last dimension at
 * each (row, position[, head]), or, when R is as wide as the chosen heads together, those heads' values side by
 * side (a DAS site over several heads).
 */
function subspaceValues(iv: Intervention & { kind: 'subspace' }, n: number, shape: number[], dims: readonly string[], posAxis: number, headAxis: number, offset: number, sources: SourceActivations): Float32Array {
  if (posAxis !== 1 || dims.includes('key_pos')) throw new UserError(`Intervention ${n}: ${iv.hook} is not a per-position activation; a subspace lives in a residual, attention or MLP hook (attention patterns have none).`);
  const basis = orthonormalBasis(iv.basis);
  if (!basis) throw new UserError(`Intervention ${n}: the subspace's columns are linearly dependent.`);
  const { R, dim, rank } = basis;
  const last = shape[shape.length - 1]!;
  const [B, T] = shape as [number, number];
  const heads = headAxis >= 0 ? (iv.heads ?? Array.from({ length: shape[headAxis]! }, (_, h) => h)) : [];
  // Each vector R acts on is a list of element offsets within one (row, position) slab.
  const groups: number[][] = [];
  if (dim === last) {
    for (const h of headAxis >= 0 ? heads : [0]) groups.push(Array.from({ length: last }, (_, j) => h * last + j));
  } else if (headAxis >= 0 && dim === heads.length * last) {
    groups.push(heads.flatMap((h) => Array.from({ length: last }, (_, j) => h * last + j)));
  } else {
    const wide = headAxis >= 0 ? ` (or ${heads.length} chosen heads x ${last} = ${heads.length * last})` : '';
    throw new UserError(`Intervention ${n}: the subspace's basis has ${dim} rows but ${iv.hook} has ${last}${wide} values per position; a basis is [dim][rank] with dim the hook's width (was it saved for another site or model?).`);
  }
  if (rank > dim) throw new UserError(`Intervention ${n}: the subspace has rank ${rank} but dimension ${dim}.`);
  const h = sources.base(iv);
  if (h.data.length !== numel(shape)) throw new Error('internal: subspace base of the wrong size');
  const src = iv.source ? sources.patch({ hook: iv.hook, source: iv.source }) : null;
  const slab = numel(shape.slice(2));
  const srcLen = src ? src.shape[1]! : 0;
  const out = new Float32Array(h.data.length);
  const a = new Float32Array(dim);
  const b = new Float32Array(dim);
  const positions = iv.positions ? new Set(iv.positions) : null;
  for (let row = 0; row < B; row++) {
    if (iv.rows && !iv.rows.includes(row)) continue;
    for (let p = 0; p < T; p++) {
      if (positions && !positions.has(p + offset)) continue;
      if (src && p + offset >= srcLen) throw new UserError(`Intervention ${n}: the source prompt has ${srcLen} tokens, too few to patch position ${p + offset}. Clean and corrupted prompts must have equal token lengths.`);
      const o = (row * T + p) * slab;
      for (const g of groups) {
        g.forEach((e, j) => {
          a[j] = h.data[o + e]!;
          b[j] = src ? src.data[(p + offset) * slab + e]! : 0;
        });
        const v = subspaceInterchange(a, b, R, dim, rank);
        g.forEach((e, j) => (out[o + e] = v[j]!));
      }
    }
  }
  return out;
}

function applySelection(
  edit: HookEdit,
  shape: number[],
  posAxis: number,
  headAxis: number,
  offset: number,
  iv: Intervention,
  k: number,
  value: (idx: number[], flat: number) => number,
): void {
  const rows = iv.rows ? new Set(iv.rows) : null;
  const positions = iv.positions ? new Set(iv.positions) : null;
  const heads = iv.heads ? new Set(iv.heads) : null;
  const n = numel(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    const selected =
      (!rows || rows.has(idx[0]!)) && (!positions || positions.has(idx[posAxis]! + offset)) && (!heads || headAxis < 0 || heads.has(idx[headAxis]!));
    if (selected) {
      edit.keep[flat] = edit.keep[flat]! * k;
      edit.add[flat] = edit.add[flat]! * k + value(idx, flat);
    }
    // advance the multi-index
    for (let a = shape.length - 1; a >= 0; a--) {
      idx[a]!++;
      if (idx[a]! < shape[a]!) break;
      idx[a] = 0;
    }
  }
}
