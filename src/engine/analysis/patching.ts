// Activation patching sweeps with TransformerLens' coverage (`patching.py`: get_act_patch_resid_pre /
// resid_mid / resid_post, attn_out, mlp_out, attn_head_out_all_pos / by_pos, attn_head_q / k / v /
// pattern_all_pos), exact and by attribution patching, computed the fast way.
//
// Exact sweeps. A patch at layer l cannot change anything computed below layer l, so each patched run
// starts at layer l from the base run's cached residual stream instead of from the tokens (Heimersheim &
// Nanda 2024, "How to use and interpret activation patching"). Steps:
//   1. one clean and one corrupted forward, caching the swept hook and hook_resid_pre of every layer;
//   2. for each layer l: a batch with one row per cell (a position, a head, a head at a position), each
//      the base run (corrupted for denoising, clean for noising) with that cell of the hook replaced by the
//      source run's activation: residual sweeps edit the residual input itself, the others pass per-row
//      edits (x * keep + add) of the hook to a graph that starts at layer l;
//   3. only the last position's logits are unembedded; each row's metric is taken at once (a sweep's
//      logits would not fit in memory: 2,304 rows x 50,257 for GPT-2-small's heads x positions).
// Sweeps whose cells are positions go further (suffixSweepRows): a patch at position p leaves every position
// before p as the base run has it, so each patched row starts at p from the base run's key/value cache and
// computes only positions p..T-1 (GPT-2-small shape, T = 1024, last 32 positions x 12 layers: 40 s instead of
// 400 s in one run of bench:scale, peak RSS 2.5 GB instead of 4.0 GB).
// A batch is split into chunks of bounded cost (CHUNK_BUDGET): one onnxruntime run cannot be interrupted,
// so the sweep checks for cancellation between chunks and stops within about one chunk's time.
//
// Attribution patching (Nanda 2023, "Attribution patching"; Syed et al. 2023): the first-order estimate
// metric(patched) ~ metric(base) + (source - base activation) . d metric / d activation, the gradient taken
// on the base run. One onnxruntime run gives the whole sweep, whatever its size: a gradient run whose
// forward has two rows, the base and the source prompt (a batch-2 forward costs about 1.3 batch-1 ones at
// GPT-2-small's width and T = 16), seeding the base row only; it returns both rows' activations of the swept
// hook, the base row's gradients and both rows' last logits (the metric's values), and the backward stops
// at the earliest swept layer. Every metric is a linear function of the last logits and their logsumexp
// (metricWeights): logit differences directly (seeded at the unembedding's input where no soft cap bends
// them), p(target) as p x d log p, KL(clean || .) as -p_clean . logits + logsumexp. For denoising, p_clean
// is the softmax of the source (clean) row's logits in the same run, a constant for the gradient (the
// gradient graph's metric `probs`), so KL costs no forward of its own; for noising the
// base is the clean run, where the KL is at its minimum: its gradient, and so every estimate, is 0.
//
// `patchSweepByLoop` does an exact sweep with one full forward and a patch intervention per cell, the way a
// loop of hooked forwards does it; tests check it agrees and the benchmark compares their speed.
import * as ort from 'onnxruntime-node';
import { hookDims } from '../hooks';
import type { HookName, LayerHook } from '../hooks';
import { throwIfAborted, UserError } from '../errors';
import { computeGradients } from '../gradients';
import type { GradientRequest } from '../gradients';
import { UNEMBED_INPUT } from '../onnx/gradientGraph';
import type { HookEdit } from '../interventions';
import type { KvCache, Model } from '../model';
import { checkTokenIds, resolvePrompt } from '../prompt';
import type { AnalysisParams } from '../../shared/analyses';
import { SWEEP_HOOKS as SHARED_SWEEP_HOOKS } from '../../shared/patching';
import type { PatchDirection, PatchMethod, PatchMetric, PatchSweepKind, PatchSweepOutput } from '../../shared/patching';
import type { NamedTensor } from '../../shared/tensor';
import { logSoftmax } from '../../shared/logits';

// ---------------------------------------------------------------------------------------------------
// Layouts: what each sweep patches, its cells and its result's axes.

const SWEEP_HOOKS: Record<PatchSweepKind, LayerHook> = SHARED_SWEEP_HOOKS;

/** One cell of a layer: the position and / or head of the hook's activation it replaces (null: all). */
interface Cell {
  pos: number | null;
  head: number | null;
}

export interface SweepLayout {
  sweep: PatchSweepKind;
  local: LayerHook;
  /** The result's axes after 'layer'. */
  cellDims: string[];
  cellShape: number[];
  cells: Cell[];
  /** Residual sweeps patch the residual input of the run starting at startLayer (no edits needed). */
  viaResid: boolean;
  startLayer(l: number): number;
  /** The hook's activation for one row: shape and axes without batch, and where positions and heads are. */
  rowShape: number[];
  posAxis: number;
  headAxis: number;
}

export function sweepLayout(model: Model, sweep: PatchSweepKind, T: number): SweepLayout {
  const c = model.config;
  const local = SWEEP_HOOKS[sweep];
  if (local === 'hook_resid_mid' && c.parallelResidual) {
    throw new UserError(`${model.info.name} computes attention and MLP in parallel: it has no hook_resid_mid to patch. Sweep resid_pre, attn_out or mlp_out instead.`);
  }
  const { dims, shape } = hookDims(c, local, 1, T);
  const rowDims = dims.slice(1);
  const rowShape = shape.slice(1);
  const posAxis = rowDims.indexOf('pos') >= 0 ? rowDims.indexOf('pos') : rowDims.indexOf('query_pos');
  const headAxis = rowDims.indexOf('head') >= 0 ? rowDims.indexOf('head') : rowDims.indexOf('kv_head');
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const headName = headAxis >= 0 ? rowDims[headAxis]! : 'head';
  const nHeads = headAxis >= 0 ? rowShape[headAxis]! : 0;
  let cellDims: string[];
  let cells: Cell[];
  if (sweep === 'z_by_pos') {
    cellDims = ['head', 'pos'];
    cells = range(nHeads).flatMap((head) => range(T).map((pos) => ({ head, pos })));
  } else if (headAxis >= 0) {
    cellDims = [headName];
    cells = range(nHeads).map((head) => ({ head, pos: null }));
  } else {
    cellDims = ['pos'];
    cells = range(T).map((pos) => ({ pos, head: null }));
  }
  const viaResid = sweep === 'resid_pre' || sweep === 'resid_post';
  return {
    sweep,
    local,
    cellDims,
    cellShape: sweep === 'z_by_pos' ? [nHeads, T] : [cells.length],
    cells,
    viaResid,
    startLayer: (l) => (sweep === 'resid_post' ? l + 1 : l),
    rowShape,
    posAxis,
    headAxis,
  };
}

/**
 * Start offsets of the contiguous runs (of the last axis' length) a cell selects in one row of the hook's
 * activation. The position and head axes are never the last, so a cell is a set of whole last-axis runs.
 */
function cellRuns(lay: SweepLayout, cell: Cell): number[] {
  const shape = lay.rowShape;
  const last = shape[shape.length - 1]!;
  const outer = shape.slice(0, -1);
  const runs: number[] = [];
  const idx = new Array<number>(outer.length).fill(0);
  const n = outer.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    if ((cell.pos === null || idx[lay.posAxis] === cell.pos) && (cell.head === null || idx[lay.headAxis] === cell.head)) runs.push(i * last);
    for (let a = outer.length - 1; a >= 0; a--) {
      idx[a]!++;
      if (idx[a]! < outer[a]!) break;
      idx[a] = 0;
    }
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------------
// Metrics of the last position's logits.

/** A metric before its runs: what it is, and the clean logits where they are known. */
interface MetricSpec {
  kind: PatchMetric;
  target: number;
  baseline?: number;
  cleanLogits?: Float32Array;
}

export interface SweepMetric extends MetricSpec {
  cleanLogits: Float32Array;
  corruptedLogits: Float32Array;
}

/** The metric as a function of one row of last-position logits. */
export function metricFunction(m: SweepMetric): (logits: Float32Array) => number {
  const needsBaseline = m.kind === 'logit_diff' || m.kind === 'logit_diff_norm';
  if (needsBaseline && m.baseline === undefined) throw new UserError(`The ${m.kind} metric needs a baseline token (--baseline TOKEN).`);
  const diff = (l: Float32Array) => l[m.target]! - l[m.baseline!]!;
  switch (m.kind) {
    case 'logit_diff':
      return diff;
    case 'logit_diff_norm': {
      const clean = diff(m.cleanLogits);
      const corrupted = diff(m.corruptedLogits);
      const denom = clean - corrupted;
      // Equal clean and corrupted behaviour leaves nothing to recover: 0, as TransformerLens' users define it.
      return (l) => (denom === 0 ? 0 : (diff(l) - corrupted) / denom);
    }
    case 'prob':
      return (l) => Math.exp(logSoftmax(l)[m.target]!);
    case 'kl': {
      const pc = logSoftmax(m.cleanLogits);
      return (l) => {
        const q = logSoftmax(l);
        let kl = 0;
        for (let i = 0; i < pc.length; i++) {
          const p = Math.exp(pc[i]!);
          if (p > 0) kl += p * (pc[i]! - q[i]!);
        }
        return Math.max(0, kl);
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The cores: a sweep of one base run against given source activations.

/** Activations a sweep reads: the swept hook of every swept layer (batch 1, flat) and the base run's residual streams. */
export interface SweepInputs {
  lay: SweepLayout;
  layers: number[];
  /** Base run's tokens (corrupted for denoising). */
  base: number[];
  /** The source run's activation of the swept hook per layer (what each cell patches in). */
  source: Map<number, Float32Array>;
  /** The base run's hook_resid_pre per layer (hook_resid_post for resid_post sweeps): where patched runs start. */
  baseResid: Map<number, Float32Array>;
  /**
   * The base run's key/value cache (every layer and position). Given, a sweep whose cells are positions
   * (suffixApplies) runs each patched row from its first patched position on: positions before it are the
   * base run's, and the cache holds their keys and values.
   */
  baseCache?: KvCache;
  signal?: AbortSignal;
}

/**
 * Whether patched runs of these cells can start at their first patched position from the base run's cache: every
 * cell is one position, and position is the activation's outer axis (residual, attention and MLP outputs, z by
 * position; not head sweeps over all positions, nor patterns, whose keys span every position).
 */
export function suffixApplies(lay: SweepLayout, cells: readonly number[], T: number): boolean {
  return lay.posAxis === 0 && lay.rowShape[0] === T && cells.every((c) => lay.cells[c]!.pos !== null);
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

/**
 * Floats of key/value cache copied per run when rows of a batch start from the same cached prefix (each row
 * needs its own copy: onnxruntime's Concat does not broadcast). 64 MiB; one row always fits.
 */
const PAST_BUDGET = 2 ** 24;

/** Rows per run for `n` positions after a cached prefix of T - n, starting at `startLayer`. */
function suffixRows(model: Model, n: number, T: number, startLayer: number): number {
  const { dModel: d, nLayers: L, nKvHeads, dHead } = model.config;
  const layers = Math.max(1, L - startLayer);
  const perRow = n * layers * (d * d + T * d);
  const pastPerRow = 2 * layers * (T - n) * nKvHeads * dHead;
  return Math.max(1, Math.min(Math.floor(CHUNK_BUDGET / perRow), Math.floor(PAST_BUDGET / Math.max(1, pastPerRow))));
}

/** The first `s` positions of `cache`'s layers from `fromLayer` on, repeated for `rows` batch rows. */
function cachePrefix(model: Model, cache: KvCache, fromLayer: number, s: number, rows: number): KvCache {
  const { nLayers: L, nKvHeads: H, dHead: dh } = model.config;
  const T = cache.length;
  const tensors: Record<string, ort.Tensor> = {};
  for (let l = fromLayer; l < L; l++) {
    for (const kv of ['k', 'v']) {
      const name = `present.${l}.${kv}`;
      const full = cache.tensors[name]!;
      if (full.dims[0] !== 1 || full.dims[2] !== T) throw new Error(`internal: ${name} is not a batch-1 cache of ${T} positions`);
      const src = full.data as Float32Array;
      const out = new Float32Array(rows * H * s * dh);
      for (let h = 0; h < H; h++) {
        const head = src.subarray(h * T * dh, h * T * dh + s * dh);
        for (let r = 0; r < rows; r++) out.set(head, (r * H + h) * s * dh);
      }
      tensors[name] = new ort.Tensor('float32', out, [rows, H, s, dh]);
    }
  }
  return { length: s, tensors };
}

/**
 * Exact sweep: for each layer and cell, one patched run (rows of chunked batches); `onRow` gets each row's
 * last-position logits (a view, valid during the call).
 */
export async function exactSweepRows(
  model: Model,
  inp: SweepInputs,
  onRow: (layerIndex: number, cell: number, logits: Float32Array) => void,
  options: { cells?: number[]; onProgress?: (fraction: number) => void } = {},
): Promise<void> {
  const { lay, layers, base } = inp;
  const { dModel: d, dVocab: V } = model.config;
  const T = base.length;
  const cellIds = options.cells ?? lay.cells.map((_, i) => i);
  if (inp.baseCache && suffixApplies(lay, cellIds, T)) return suffixSweepRows(model, inp, cellIds, onRow, options.onProgress);
  const runs = cellIds.map((c) => cellRuns(lay, lay.cells[c]!));
  const last = lay.rowShape[lay.rowShape.length - 1]!;
  const perRow = lay.rowShape.reduce((a, b) => a * b, 1);
  const total = layers.length * cellIds.length;
  let done = 0;
  for (const [li, l] of layers.entries()) {
    const src = inp.source.get(l)!;
    const resid = inp.baseResid.get(l)!;
    const start = lay.startLayer(l);
    const rowsPerRun = chunkRows(model, T, start);
    for (let first = 0; first < cellIds.length; first += rowsPerRun) {
      throwIfAborted(inp.signal);
      const chunk = cellIds.slice(first, first + rowsPerRun);
      const B = chunk.length;
      const batch = new Float32Array(B * T * d);
      for (let row = 0; row < B; row++) batch.set(resid, row * T * d);
      let edits: Map<string, HookEdit> | undefined;
      if (lay.viaResid) {
        chunk.forEach((_, row) => {
          for (const off of runs[first + row]!) batch.set(src.subarray(off, off + last), row * T * d + off);
        });
      } else {
        const keep = new Float32Array(B * perRow).fill(1);
        const add = new Float32Array(B * perRow);
        chunk.forEach((_, row) => {
          for (const off of runs[first + row]!) {
            keep.fill(0, row * perRow + off, row * perRow + off + last);
            add.set(src.subarray(off, off + last), row * perRow + off);
          }
        });
        edits = new Map([[`blocks.${l}.${lay.local}`, { shape: [B, ...lay.rowShape], keep, add }]]);
      }
      const r = await model.forward({
        resid: { shape: [B, T, d], dims: ['batch', 'pos', 'd_model'], data: batch },
        startLayer: start,
        edits,
        logits: 'last',
        signal: inp.signal,
      });
      const logits = r.logits!.data;
      chunk.forEach((c, row) => onRow(li, c, logits.subarray(row * V, (row + 1) * V)));
      done += B;
      throwIfAborted(inp.signal); // no progress after a cancel
      options.onProgress?.(done / total);
    }
  }
}

/**
 * exactSweepRows for cells that are positions, from the base run's key/value cache: a patch at position p leaves
 * every position before p as the base run has it, so each patched row computes positions p.. only (from the patched
 * layer, reading the cached keys and values of the positions before), and its last position's logits are those of
 * the full patched run. Cells in position order make the batches; a batch starts at its first cell's position.
 */
async function suffixSweepRows(
  model: Model,
  inp: SweepInputs,
  cellIds: number[],
  onRow: (layerIndex: number, cell: number, logits: Float32Array) => void,
  onProgress?: (fraction: number) => void,
): Promise<void> {
  const { lay, layers, base } = inp;
  const { dModel: d, dVocab: V, nLayers: L } = model.config;
  const T = base.length;
  const last = lay.rowShape[lay.rowShape.length - 1]!;
  const perRow = lay.rowShape.reduce((a, b) => a * b, 1);
  const perPos = perRow / T; // position is the row's outer axis
  const order = [...cellIds].sort((a, b) => lay.cells[a]!.pos! - lay.cells[b]!.pos!);
  const minStart = Math.min(...layers.map((l) => lay.startLayer(l)));
  const total = layers.length * cellIds.length;
  let done = 0;
  for (let first = 0; first < order.length; ) {
    throwIfAborted(inp.signal);
    const s = lay.cells[order[first]!]!.pos!;
    const n = T - s;
    const chunk = order.slice(first, first + suffixRows(model, n, T, minStart));
    first += chunk.length;
    const B = chunk.length;
    const runs = chunk.map((c) => cellRuns(lay, lay.cells[c]!));
    const past = s > 0 && minStart < L ? cachePrefix(model, inp.baseCache!, minStart, s, B) : undefined;
    for (const [li, l] of layers.entries()) {
      throwIfAborted(inp.signal);
      const src = inp.source.get(l)!;
      const resid = inp.baseResid.get(l)!.subarray(s * d);
      const start = lay.startLayer(l);
      const batch = new Float32Array(B * n * d);
      for (let row = 0; row < B; row++) batch.set(resid, row * n * d);
      let edits: Map<string, HookEdit> | undefined;
      // Offsets into the suffix: the full row's, less the s positions before it.
      const shift = s * perPos;
      if (lay.viaResid) {
        runs.forEach((offs, row) => {
          for (const off of offs) batch.set(src.subarray(off, off + last), row * n * d + off - shift);
        });
      } else {
        const rowSize = n * perPos;
        const keep = new Float32Array(B * rowSize).fill(1);
        const add = new Float32Array(B * rowSize);
        runs.forEach((offs, row) => {
          for (const off of offs) {
            keep.fill(0, row * rowSize + off - shift, row * rowSize + off - shift + last);
            add.set(src.subarray(off, off + last), row * rowSize + off - shift);
          }
        });
        edits = new Map([[`blocks.${l}.${lay.local}`, { shape: [B, n, ...lay.rowShape.slice(1)], keep, add }]]);
      }
      const r = await model.forward({
        resid: { shape: [B, n, d], dims: ['batch', 'pos', 'd_model'], data: batch },
        startLayer: start,
        edits,
        logits: 'last',
        // After the last layer (resid_post of it) only the final norm runs, position by position: no cache.
        past: past && start < L ? past : undefined,
        signal: inp.signal,
      });
      const logits = r.logits!.data;
      chunk.forEach((c, row) => onRow(li, c, logits.subarray(row * V, (row + 1) * V)));
      done += B;
      throwIfAborted(inp.signal); // no progress after a cancel
      onProgress?.(done / total);
    }
  }
}

/**
 * The metric as the weights of a gradient run's metric (computeGradients' metricWeights, one row): its
 * gradient at a run, times `scale(metric, the run's metric output)`, is the metric's own. KL reads
 * `metric.cleanLogits` where given; without them its weights are `cleanProbs` times p_clean, the softmax
 * of the run's clean row (metricWeights' probs).
 */
function metricWeights(model: Model, metric: MetricSpec): { weights: Float32Array; logSumExp: number; cleanProbs?: number } {
  const V = model.config.dVocab;
  const weights = new Float32Array(V);
  switch (metric.kind) {
    case 'logit_diff':
    case 'logit_diff_norm':
      if (metric.baseline === undefined) throw new UserError(`The ${metric.kind} metric needs a baseline token (--baseline TOKEN).`);
      weights[metric.target] = 1;
      weights[metric.baseline]! -= 1;
      return { weights, logSumExp: 0 };
    case 'prob':
      // log p(target); d p = p d log p (scale)
      weights[metric.target] = 1;
      return { weights, logSumExp: 1 };
    case 'kl': {
      // KL(p_clean || softmax(l)) = sum p_clean log p_clean - p_clean . l + logsumexp(l)
      if (!metric.cleanLogits) return { weights, logSumExp: -1, cleanProbs: -1 };
      const pc = logSoftmax(metric.cleanLogits);
      for (let v = 0; v < V; v++) weights[v] = -Math.exp(pc[v]!);
      return { weights, logSumExp: -1 };
    }
  }
}

/** What the gradient of metricWeights' metric is multiplied by: `runMetric` is the run's metric output. */
function metricScale(metric: SweepMetric, runMetric: number): number {
  switch (metric.kind) {
    case 'logit_diff_norm': {
      const diff = (l: Float32Array) => l[metric.target]! - l[metric.baseline!]!;
      const denom = diff(metric.cleanLogits) - diff(metric.corruptedLogits);
      return denom === 0 ? 0 : 1 / denom;
    }
    case 'prob':
      return Math.exp(runMetric);
    default:
      return 1;
  }
}

/**
 * Per layer and cell, (source - base activation) . gradient, times `scale`; the three are the swept hook's
 * values of one row (views into the run's outputs, not copies).
 */
function cellDeltas(lay: SweepLayout, layers: number[], at: (l: number) => { grad: Float32Array; base: Float32Array; source: Float32Array }, scale: number): Float64Array {
  const out = new Float64Array(layers.length * lay.cells.length);
  const last = lay.rowShape[lay.rowShape.length - 1]!;
  const runs = lay.cells.map((cell) => cellRuns(lay, cell));
  for (const [li, l] of layers.entries()) {
    const { grad, base, source } = at(l);
    for (const [ci, cellRunsHere] of runs.entries()) {
      let s = 0;
      for (const off of cellRunsHere) for (let j = off; j < off + last; j++) s += (source[j]! - base[j]!) * grad[j]!;
      out[li * lay.cells.length + ci] = s * scale;
    }
  }
  return out;
}

/**
 * Attribution patching against given source activations: per layer and cell, (source - base activation)
 * . d metric / d activation on the base run, in the metric's units (add the base run's metric for the
 * estimated patched metric). One gradient run of the base prompt; patchSweep's own path batches the
 * source prompt into that run instead.
 */
export async function attributionSweepDeltas(model: Model, inp: SweepInputs, metric: SweepMetric): Promise<Float64Array> {
  const hooks = inp.layers.map((l) => `blocks.${l}.${inp.lay.local}`);
  const { weights, logSumExp } = metricWeights(model, metric);
  throwIfAborted(inp.signal);
  const g = await computeGradients(model, { tokens: [inp.base], wrt: hooks, activations: hooks, metricWeights: { weights, logSumExp: Float32Array.of(logSumExp) }, signal: inp.signal });
  return cellDeltas(inp.lay, inp.layers, (l) => ({ grad: g.grads.get(`blocks.${l}.${inp.lay.local}`)!.data, base: g.activations.get(`blocks.${l}.${inp.lay.local}`)!.data, source: inp.source.get(l)! }), metricScale(metric, g.metric![0]!));
}

// ---------------------------------------------------------------------------------------------------
// The public sweep: clean and corrupted prompts in, a metric per cell out.

export interface PatchSweepRequest {
  clean: number[];
  corrupted: number[];
  sweep: PatchSweepKind;
  direction?: PatchDirection;
  metric?: PatchMetric;
  method?: PatchMethod;
  target: number;
  baseline?: number;
  layers?: number[];
  /** Position sweeps: run patched rows from the base run's key/value cache (default; see suffixSweepRows). */
  reuseCache?: boolean;
  signal?: AbortSignal;
  onProgress?: (fraction: number) => void;
}

export interface PatchSweepValues {
  lay: SweepLayout;
  layers: number[];
  /** ['layer', ...the layout's cell dims] and their sizes. */
  dims: string[];
  shape: number[];
  exact?: Float32Array;
  attribution?: Float32Array;
  correlation?: number;
  cleanMetric: number;
  corruptedMetric: number;
  cleanLogits: Float32Array;
  corruptedLogits: Float32Array;
}

/**
 * Patching needs activations of equal shape in both runs, so equal token lengths; the message names where
 * the tokenisations part, which is usually the fix (a name that is two tokens in one prompt).
 */
export function checkEqualLengths(model: Model, clean: number[], corrupted: number[]): void {
  if (clean.length === corrupted.length) return;
  let i = 0;
  while (i < clean.length && i < corrupted.length && clean[i] === corrupted[i]) i++;
  const show = (ids: number[]) =>
    ids
      .slice(i, i + 4)
      .map((id) => JSON.stringify(model.tokenText(id)))
      .join(' ') + (ids.length > i + 4 ? ' ...' : '');
  throw new UserError(
    `Clean and corrupted prompts must have equal token lengths to patch position by position (clean ${clean.length} tokens, corrupted ${corrupted.length}). ` +
      `They part at position ${i}: clean ${show(clean) || '(end)'} vs corrupted ${show(corrupted) || '(end)'}.`,
  );
}

function checkLayers(model: Model, layers: number[] | undefined): number[] {
  const L = model.config.nLayers;
  const out = layers ?? Array.from({ length: L }, (_, i) => i);
  for (const l of out) if (!Number.isInteger(l) || l < 0 || l >= L) throw new UserError(`Layer ${l} is outside the model (0..${L - 1}).`);
  if (out.length === 0) throw new UserError('Give at least one layer to sweep.');
  return out;
}

/** Where a sweep's patched runs start: hook_resid_pre of each swept layer (hook_resid_post for resid_post sweeps). */
function startHooks(lay: SweepLayout, layers: number[]): HookName[] {
  return layers.map((l): HookName => (lay.sweep === 'resid_post' ? `blocks.${l}.hook_resid_post` : `blocks.${l}.hook_resid_pre`));
}

interface SweepRuns {
  source: Map<number, Float32Array>;
  /** Empty where no exact sweep follows. */
  baseResid: Map<number, Float32Array>;
  /** The base run's key/value cache, where asked for. */
  baseCache?: KvCache;
  sourceLogits: Float32Array;
  baseLogits: Float32Array;
}

/**
 * Whether a forward of T positions should run a graph of exactly its outputs (ForwardRequest.only) instead of the
 * main one, which holds every hook's buffer to the end of a run: when its attention scores and patterns alone pass
 * 256 MiB (GPT-2 small from T = 384; 1.2 GB at T = 1024). Below that the main session's reuse is worth more.
 */
function mainHoldsTooMuch(model: Model, T: number): boolean {
  const { nHeads, nLayers } = model.config;
  return 2 * nLayers * nHeads * T * T * 4 > 2 ** 28;
}

/** The source and base runs' activations a sweep needs, from two forwards (batch 1 each); with `cache`, the base run's key/value cache. */
async function sweepRuns(model: Model, lay: SweepLayout, layers: number[], base: number[], source: number[], signal?: AbortSignal, cache = false): Promise<SweepRuns> {
  const swept = layers.map((l): HookName => `blocks.${l}.${lay.local}`);
  const starts = startHooks(lay, layers);
  const only = mainHoldsTooMuch(model, base.length);
  const src = await model.forward({ tokens: [source], hooks: swept, logits: 'last', only, signal });
  const bas = await model.forward({ tokens: [base], hooks: starts, logits: 'last', returnCache: cache, only, signal });
  return {
    source: new Map(layers.map((l, i) => [l, src.hooks.get(swept[i]!)!.data])),
    baseResid: new Map(layers.map((l, i) => [l, bas.hooks.get(starts[i]!)!.data])),
    baseCache: bas.cache,
    sourceLogits: src.logits!.data,
    baseLogits: bas.logits!.data,
  };
}

/** Row r of a tensor whose dim 0 is rows (a view). */
function rowOf(t: NamedTensor, r: number): Float32Array {
  const n = t.data.length / t.shape[0]!;
  return t.data.subarray(r * n, (r + 1) * n);
}

/**
 * Attribution patching's runs (the header says why these): the estimated change of the metric per layer
 * and cell (`deltas`), and the runs' activations and logits as sweepRuns gives them, with the base run's
 * residual streams only when an exact sweep follows (`withResid`).
 */
async function attributionRuns(
  model: Model,
  lay: SweepLayout,
  layers: number[],
  prompts: { base: number[]; source: number[]; direction: PatchDirection },
  spec: MetricSpec,
  withResid: boolean,
  signal?: AbortSignal,
): Promise<{ runs: SweepRuns; deltas: Float64Array }> {
  const { base, source, direction } = prompts;
  if (spec.kind === 'kl' && direction === 'noise') {
    const runs = await sweepRuns(model, lay, layers, base, source, signal);
    return { runs: withResid ? runs : { ...runs, baseResid: new Map() }, deltas: new Float64Array(layers.length * lay.cells.length) };
  }
  const V = model.config.dVocab;
  const swept = layers.map((l): HookName => `blocks.${l}.${lay.local}`);
  const starts = withResid ? startHooks(lay, layers) : [];
  const { weights, logSumExp, cleanProbs } = metricWeights(model, spec);
  const rows = [base, source];
  // The source row is seeded with zeros: its gradient is not wanted.
  let seed: Pick<GradientRequest, 'metricWeights' | 'seeds'>;
  if (logSumExp === 0 && model.config.finalSoftcap === null) {
    // A logit difference's gradient at the unembedding's input is the constant weights . W_U: seeded there,
    // the backward does not go through the unembedding (a second read of W_U, the largest weight).
    const { dModel: d } = model.config;
    const W = model.spec.weights.W_U;
    const vector = new Float32Array(d);
    for (const [v, x] of weights.entries()) if (x !== 0) for (let i = 0; i < d; i++) vector[i]! += x * W[v * d + i]!;
    seed = { seeds: rows.map((_, r) => ({ hook: UNEMBED_INPUT, position: base.length - 1, vector: r === 0 ? vector : new Float32Array(d) })) };
  } else {
    const w = new Float32Array(rows.length * V);
    w.set(weights);
    const lse = new Float32Array(rows.length);
    lse[0] = logSumExp;
    // Denoising: the source row is the clean run.
    const probs = cleanProbs === undefined ? undefined : Float32Array.of(0, cleanProbs, 0, 0);
    seed = { metricWeights: { weights: w, logSumExp: lse, ...(probs ? { probs } : {}) } };
  }
  throwIfAborted(signal);
  const g = await computeGradients(model, { tokens: rows, wrt: swept, activations: [...new Set([...swept, ...starts])], ...seed, logits: true, signal });
  const baseLogits = g.logits!.subarray(0, V);
  const sourceLogits = g.logits!.subarray(V, 2 * V);
  const runs: SweepRuns = {
    source: new Map(layers.map((l, i) => [l, rowOf(g.activations.get(swept[i]!)!, 1)])),
    baseResid: new Map(starts.map((h, i) => [layers[i]!, rowOf(g.activations.get(h)!, 0)])),
    sourceLogits,
    baseLogits,
  };
  const [cleanLogits, corruptedLogits] = direction === 'denoise' ? [sourceLogits, baseLogits] : [baseLogits, sourceLogits];
  const scale = metricScale({ ...spec, cleanLogits, corruptedLogits }, g.metric?.[0] ?? 0);
  const deltas = cellDeltas(lay, layers, (l) => ({ grad: rowOf(g.grads.get(`blocks.${l}.${lay.local}`)!, 0), base: rowOf(g.activations.get(`blocks.${l}.${lay.local}`)!, 0), source: runs.source.get(l)! }), scale);
  return { runs, deltas };
}

export async function patchSweep(model: Model, req: PatchSweepRequest): Promise<PatchSweepValues> {
  checkEqualLengths(model, req.clean, req.corrupted);
  model.checkTokens([req.clean, req.corrupted]);
  checkTokenIds(model, { target: req.target, baseline: req.baseline });
  const direction = req.direction ?? 'denoise';
  const method = req.method ?? 'exact';
  const T = req.clean.length;
  const lay = sweepLayout(model, req.sweep, T);
  const layers = checkLayers(model, req.layers);
  const [base, source] = direction === 'denoise' ? [req.corrupted, req.clean] : [req.clean, req.corrupted];
  const spec: MetricSpec = { kind: req.metric ?? 'logit_diff_norm', target: req.target, baseline: req.baseline };
  let runs: SweepRuns;
  let deltas: Float64Array | undefined;
  if (method === 'exact') runs = await sweepRuns(model, lay, layers, base, source, req.signal, req.reuseCache !== false && suffixApplies(lay, lay.cells.map((_, i) => i), T));
  else ({ runs, deltas } = await attributionRuns(model, lay, layers, { base, source, direction }, spec, method === 'both', req.signal));
  const [cleanLogits, corruptedLogits] = direction === 'denoise' ? [runs.sourceLogits, runs.baseLogits] : [runs.baseLogits, runs.sourceLogits];
  const metric: SweepMetric = { ...spec, cleanLogits, corruptedLogits };
  const f = metricFunction(metric);
  const inp: SweepInputs = { lay, layers, base, source: runs.source, baseResid: runs.baseResid, baseCache: runs.baseCache, signal: req.signal };
  const nCells = lay.cells.length;
  const out: PatchSweepValues = {
    lay,
    layers,
    dims: ['layer', ...lay.cellDims],
    shape: [layers.length, ...lay.cellShape],
    cleanMetric: f(cleanLogits),
    corruptedMetric: f(corruptedLogits),
    cleanLogits,
    corruptedLogits,
  };
  if (deltas) {
    const baseMetric = f(runs.baseLogits);
    out.attribution = Float32Array.from(deltas, (x) => baseMetric + x);
    if (method === 'attribution') req.onProgress?.(1);
  }
  if (method !== 'attribution') {
    const exact = new Float32Array(layers.length * nCells);
    await exactSweepRows(model, inp, (li, c, logits) => (exact[li * nCells + c] = f(logits)), { onProgress: req.onProgress });
    out.exact = exact;
  }
  if (out.exact && out.attribution) out.correlation = pearson(out.exact, out.attribution);
  return out;
}

/** Pearson correlation; 0 when either side is constant (nothing to correlate). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]! - ma;
    const y = b[i]! - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return saa === 0 || sbb === 0 ? 0 : sab / Math.sqrt(saa * sbb);
}

/** The same exact sweep as a loop of full forwards with a patch intervention each (reference and baseline). */
export async function patchSweepByLoop(model: Model, req: PatchSweepRequest): Promise<Float32Array> {
  checkEqualLengths(model, req.clean, req.corrupted);
  const direction = req.direction ?? 'denoise';
  const lay = sweepLayout(model, req.sweep, req.clean.length);
  const layers = checkLayers(model, req.layers);
  const [base, source] = direction === 'denoise' ? [req.corrupted, req.clean] : [req.clean, req.corrupted];
  const V = model.config.dVocab;
  const lastOf = (t: NamedTensor) => t.data.slice(t.data.length - V);
  const cleanLogits = lastOf(await model.run(req.clean, { lastOnly: true, signal: req.signal }));
  const corruptedLogits = lastOf(await model.run(req.corrupted, { lastOnly: true, signal: req.signal }));
  const f = metricFunction({ kind: req.metric ?? 'logit_diff_norm', target: req.target, baseline: req.baseline, cleanLogits, corruptedLogits });
  const out = new Float32Array(layers.length * lay.cells.length);
  for (const [li, l] of layers.entries()) {
    for (const [ci, cell] of lay.cells.entries()) {
      throwIfAborted(req.signal);
      const logits = await model.run(base, {
        lastOnly: true,
        interventions: [
          {
            kind: 'patch',
            hook: `blocks.${l}.${lay.local}`,
            ...(cell.pos !== null ? { positions: [cell.pos] } : {}),
            ...(cell.head !== null ? { heads: [cell.head] } : {}),
            source: { tokens: source },
          },
        ],
        signal: req.signal,
      });
      out[li * lay.cells.length + ci] = f(lastOf(logits));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The residual sweep of `mechlens patch` without --sweep (its output fields are a public interface).

export type ResidHook = 'hook_resid_pre' | 'hook_resid_post';

export interface SweepRequest {
  clean: number[];
  corrupted: number[];
  hook?: ResidHook;
  /** Positions to patch (default: all). */
  positions?: number[];
  /** Layers to patch (default: all). */
  layers?: number[];
  /** Run patched rows from the corrupted run's key/value cache, from their patched position on (default). */
  reuseCache?: boolean;
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
  const positions = req.positions ?? Array.from({ length: T }, (_, i) => i);
  for (const p of positions) if (!Number.isInteger(p) || p < 0 || p >= T) throw new UserError(`Position ${p} is outside the prompt (0..${T - 1}).`);
  return { layers: checkLayers(model, req.layers), positions, hook: req.hook ?? 'hook_resid_pre' };
}

/** Denoising residual sweep (clean into corrupted), every patched run's last logits kept. */
export async function patchingSweep(model: Model, req: SweepRequest): Promise<SweepResult> {
  const { layers, positions, hook } = checkRequest(model, req);
  const lay = sweepLayout(model, hook === 'hook_resid_pre' ? 'resid_pre' : 'resid_post', req.clean.length);
  const runs = await sweepRuns(model, lay, layers, req.corrupted, req.clean, req.signal, req.reuseCache !== false);
  const at = new Map(positions.map((p, i) => [p, i]));
  const logits: Float32Array[][] = layers.map(() => new Array<Float32Array>(positions.length));
  await exactSweepRows(
    model,
    { lay, layers, base: req.corrupted, source: runs.source, baseResid: runs.baseResid, baseCache: runs.baseCache, signal: req.signal },
    (li, cell, row) => (logits[li]![at.get(cell)!] = row.slice()),
    { cells: positions, onProgress: req.onProgress },
  );
  return { layers, positions, logits, cleanLogits: runs.sourceLogits, corruptedLogits: runs.baseLogits };
}

/** The same sweep as a loop of full forwards with a patch intervention each (reference and baseline). */
export async function patchingSweepByFullForwards(model: Model, req: SweepRequest): Promise<SweepResult> {
  const { layers, positions, hook } = checkRequest(model, req);
  const V = model.config.dVocab;
  const lastRow = (t: NamedTensor) => t.data.slice(t.data.length - V);
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
      row.push(lastRow(logits));
    }
    out.push(row);
  }
  return { layers, positions, logits: out, cleanLogits: lastRow(clean), corruptedLogits: lastRow(corrupted) };
}

/**
 * Logit difference between two answer tokens, normalised so 1 = clean behaviour, 0 = corrupted
 * (the usual patching metric).
 */
export function normalisedLogitDiff(result: SweepResult, correct: number, incorrect: number): number[][] {
  const f = metricFunction({ kind: 'logit_diff_norm', target: correct, baseline: incorrect, cleanLogits: result.cleanLogits, corruptedLogits: result.corruptedLogits });
  return result.logits.map((row) => row.map((l) => f(l)));
}

/** The `patchSweep` analysis (registry entry): prompts resolved, the sweep run, its result shaped for clients. */
export async function patchSweepAnalysis(model: Model, p: AnalysisParams<'patchSweep'>, ctx: { signal?: AbortSignal; onProgress?: (message: string, fraction?: number) => void }): Promise<PatchSweepOutput> {
  const clean = resolvePrompt(model, p.clean);
  const corrupted = resolvePrompt(model, p.corrupted);
  const direction = p.direction ?? 'denoise';
  const metric = p.metric ?? 'logit_diff_norm';
  const method = p.method ?? 'exact';
  const r = await patchSweep(model, {
    ...p,
    clean: clean.ids,
    corrupted: corrupted.ids,
    direction,
    metric,
    method,
    signal: ctx.signal,
    onProgress: (f) => ctx.onProgress?.(method === 'attribution' ? 'Attribution patching' : 'Patching', f),
  });
  return {
    sweep: p.sweep,
    direction,
    metric,
    method,
    hook: `blocks.{l}.${r.lay.local}`,
    dims: r.dims,
    shape: r.shape,
    layers: r.layers,
    ...(r.exact ? { exact: r.exact } : {}),
    ...(r.attribution ? { attribution: r.attribution } : {}),
    ...(r.correlation !== undefined ? { correlation: r.correlation } : {}),
    cleanMetric: r.cleanMetric,
    corruptedMetric: r.corruptedMetric,
    prompt: clean,
    corruptedPrompt: corrupted,
  };
}
