// Activation patching sweeps over the residual stream (TransformerLens `patching.py`:
// get_act_patch_resid_pre / resid_post), computed the fast way.
//
// A patch of the residual stream at layer l cannot change anything computed below layer l, so each
// patched run starts at layer l from the corrupted run's cached residual stream instead of from the
// tokens (Heimersheim & Nanda 2024, "How to use and interpret activation patching"). Steps:
//   1. one clean and one corrupted forward, caching hook_resid_pre of every layer;
//   2. for each layer l: a batch with one row per patched position, each the corrupted residual
//      stream with that position replaced by the clean one, run from layer l to the logits;
//   3. only the last position's logits are unembedded (the metric reads the final prediction).
// A batch is split into chunks of bounded cost (CHUNK_BUDGET): one onnxruntime run cannot be interrupted,
// so the sweep checks for cancellation between chunks and stops within about one chunk's time.
// `patchingSweepByFullForwards` does the same with one full forward per (layer, position), the way a
// loop of hooked forwards does it; tests check both agree and the benchmark compares their speed.
import type { HookName } from '../hooks';
import { throwIfAborted, UserError } from '../errors';
import type { Model } from '../model';
import type { NamedTensor } from '../../shared/tensor';

export type ResidHook = 'hook_resid_pre' | 'hook_resid_post';

export interface SweepRequest {
  clean: number[];
  corrupted: number[];
  hook?: ResidHook;
  /** Positions to patch (default: all). */
  positions?: number[];
  /** Layers to patch (default: all). */
  layers?: number[];
  signal?: AbortSignal;
  onProgress?: (fraction: number) => void;
}

export interface SweepResult {
  layers: number[];
  positions: number[];
  /** Last-position logits of every patched run: [layer][position] -> Float32Array(d_vocab). */
  logits: Float32Array[][];
  cleanLogits: Float32Array;
  corruptedLogits: Float32Array;
}

function checkRequest(model: Model, req: SweepRequest): { layers: number[]; positions: number[]; hook: ResidHook } {
  if (req.clean.length !== req.corrupted.length) {
    throw new UserError(`Clean and corrupted prompts must have equal token lengths (got ${req.clean.length} and ${req.corrupted.length}).`);
  }
  const T = req.clean.length;
  const L = model.config.nLayers;
  const positions = req.positions ?? Array.from({ length: T }, (_, i) => i);
  const layers = req.layers ?? Array.from({ length: L }, (_, i) => i);
  for (const p of positions) if (!Number.isInteger(p) || p < 0 || p >= T) throw new UserError(`Position ${p} is outside the prompt (0..${T - 1}).`);
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= L) throw new UserError(`Layer ${l} is outside the model (0..${L - 1}).`);
  return { layers, positions, hook: req.hook ?? 'hook_resid_pre' };
}

/**
 * Work per onnxruntime run, in rows x positions x remaining layers x (d_model^2 + positions x d_model),
 * about the multiply-adds over 12. GPT-2-small runs about 8.5e9 of these per second on two cores (one
 * 64-row batch of 64 tokens took 3.4 s), so 2^28 is some 30 ms: a cancel is honoured well within 200 ms,
 * and small models (the bundled one: 400 rows of 10 tokens) still run a layer's whole batch at once.
 */
const CHUNK_BUDGET = 2 ** 28;

/** Rows per run for a batch of sequences of length T starting at `startLayer`. */
export function chunkRows(model: Model, T: number, startLayer: number, budget = CHUNK_BUDGET): number {
  const { dModel: d, nLayers: L } = model.config;
  const perRow = T * Math.max(1, L - startLayer) * (d * d + T * d);
  return Math.max(1, Math.floor(budget / perRow));
}

function lastRow(logits: NamedTensor, V: number): Float32Array {
  return logits.data.slice(logits.data.length - V);
}

export async function patchingSweep(model: Model, req: SweepRequest): Promise<SweepResult> {
  const { layers, positions, hook } = checkRequest(model, req);
  const { dModel: d, dVocab: V } = model.config;
  const T = req.clean.length;
  // resid_post of layer l is resid_pre of layer l + 1 (or the final residual stream when l = L - 1).
  const startOf = (l: number) => (hook === 'hook_resid_pre' ? l : l + 1);
  const cacheHooks = layers.map((l): HookName => `blocks.${l}.${hook}`);
  const clean = await model.forward({ tokens: [req.clean], hooks: cacheHooks, logits: 'last', signal: req.signal });
  const corrupted = await model.forward({ tokens: [req.corrupted], hooks: cacheHooks, logits: 'last', signal: req.signal });
  const out: Float32Array[][] = [];
  const total = layers.length * positions.length;
  let done = 0;
  for (const l of layers) {
    const cleanResid = clean.hooks.get(`blocks.${l}.${hook}`)!.data;
    const corruptResid = corrupted.hooks.get(`blocks.${l}.${hook}`)!.data;
    const rowsPerRun = chunkRows(model, T, startOf(l));
    const layerOut: Float32Array[] = [];
    for (let first = 0; first < positions.length; first += rowsPerRun) {
      throwIfAborted(req.signal);
      const chunk = positions.slice(first, first + rowsPerRun);
      const batch = new Float32Array(chunk.length * T * d);
      chunk.forEach((p, row) => {
        batch.set(corruptResid, row * T * d);
        batch.set(cleanResid.subarray(p * d, (p + 1) * d), (row * T + p) * d);
      });
      const r = await model.forward({
        resid: { shape: [chunk.length, T, d], dims: ['batch', 'pos', 'd_model'], data: batch },
        startLayer: startOf(l),
        logits: 'last',
        signal: req.signal,
      });
      for (let row = 0; row < chunk.length; row++) layerOut.push(r.logits!.data.slice(row * V, (row + 1) * V));
      done += chunk.length;
      throwIfAborted(req.signal); // no progress after a cancel
      req.onProgress?.(done / total);
    }
    out.push(layerOut);
  }
  return { layers, positions, logits: out, cleanLogits: lastRow(clean.logits!, V), corruptedLogits: lastRow(corrupted.logits!, V) };
}

/** The same sweep as a loop of full forwards with a patch intervention each (reference and baseline). */
export async function patchingSweepByFullForwards(model: Model, req: SweepRequest): Promise<SweepResult> {
  const { layers, positions, hook } = checkRequest(model, req);
  const V = model.config.dVocab;
  const clean = await model.run(req.clean, { signal: req.signal });
  const corrupted = await model.run(req.corrupted, { signal: req.signal });
  const out: Float32Array[][] = [];
  for (const l of layers) {
    const row: Float32Array[] = [];
    for (const p of positions) {
      throwIfAborted(req.signal);
      const logits = await model.run(req.corrupted, {
        interventions: [{ kind: 'patch', hook: `blocks.${l}.${hook}`, positions: [p], source: { tokens: req.clean } }],
        signal: req.signal,
      });
      row.push(lastRow(logits, V));
    }
    out.push(row);
  }
  return { layers, positions, logits: out, cleanLogits: lastRow(clean, V), corruptedLogits: lastRow(corrupted, V) };
}

/**
 * Logit difference between two answer tokens, normalised so 1 = clean behaviour, 0 = corrupted
 * (the usual patching metric).
 */
export function normalisedLogitDiff(result: SweepResult, correct: number, incorrect: number): number[][] {
  const diff = (l: Float32Array) => l[correct]! - l[incorrect]!;
  const c = diff(result.cleanLogits);
  const k = diff(result.corruptedLogits);
  const denom = c - k;
  return result.logits.map((row) => row.map((l) => (denom === 0 ? 0 : (diff(l) - k) / denom)));
}
