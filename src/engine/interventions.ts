// Compiles Intervention objects (shared/interventions.ts) into the per-hook `keep` and `add` tensors
// the forward graph applies as x * keep + add. Several interventions on one hook compose in order:
// applying (k2, a2) after (k1, a1) gives x * k1 k2 + (a1 k2 + a2).
import { UserError } from './errors';
import { hookDims, isWritable, parseHookName } from './hooks';
import type { ModelConfig } from './architectures/spec';
import type { Intervention } from '../shared/interventions';
import { numel, strides } from '../shared/tensor';
import type { NamedTensor } from '../shared/tensor';

export interface HookEdit {
  shape: number[];
  keep: Float32Array;
  add: Float32Array;
}

/** Activations an intervention needs from other runs (patch sources, mean references). */
export interface SourceActivations {
  /** The hook's activation on the source prompt, batch 1. */
  patch(intervention: Intervention & { kind: 'patch' }): NamedTensor;
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

export function compileInterventions(list: readonly Intervention[], ctx: EditContext, sources: SourceActivations): Map<string, HookEdit> {
  const edits = new Map<string, HookEdit>();
  const { config, batch, seq, offset } = ctx;
  for (const [i, iv] of list.entries()) {
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
    }
    applySelection(edit, shape, posAxis, headAxis, offset, iv, k, value);
  }
  return edits;
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
