// Logit lens (nostalgebraist 2020): decode every layer's residual stream as if it were the last.
// Steps: 1. one forward caching the residual stream entering each layer (or mid-block, or leaving it)
// plus the final residual; 2. all of them go, as one batch, through a graph that starts after the
// last block: the final norm with each position's own statistics, then the unembedding;
// 3. softmax, top-k and the probability and rank of chosen target tokens per layer and position.
// The last row is the model's own final residual stream, so it equals the model's logits (tested).
// A tuned lens (Belrose et al. 2023) applies one learned affine map per layer before step 2.
//
// `positions` decodes only those positions (step 2 is most of the time: every row is a d_model x vocab
// product). A panel asks for the positions on screen first and the rest next (issue #13: first paint), so the
// residual streams of step 1 are kept for the model's last request and a follow-up on the same prompt,
// stream and interventions skips the forward.
import type { HookName } from '../hooks';
import { UserError } from '../errors';
import type { Intervention } from '../../shared/interventions';
import type { Model } from '../model';
import { withoutBatch, type NamedTensor } from '../../shared/tensor';
import { rankOf, softmax, topIndices } from '../../shared/logits';
import type { LensStream } from '../../shared/analyses';
import type { LensResult as SharedLensResult, TopToken } from '../../shared/protocol';


/** Tuned lens: per layer, resid' = resid + resid @ A + b ([d, d] and [d], row-major). */
export interface TunedLens {
  layers: Array<{ A: Float32Array; b: Float32Array }>;
}

export interface LensRequest {
  tokens: number[];
  stream?: LensStream;
  topK?: number;
  targets?: number[];
  /** Keep the full [layer][pos][vocab] logits (large). */
  full?: boolean;
  tuned?: TunedLens;
  /** Run the prompt under these interventions (the lens then reads the changed residual streams). */
  interventions?: readonly Intervention[];
  /** Decode only these positions (distinct, in this order); every position when absent. */
  positions?: readonly number[];
  /**
   * Also return the model's own logits for the prompt, [pos][vocab], from the lens' forward (inline inspection
   * needs both: one forward instead of two).
   */
  modelLogits?: boolean;
  signal?: AbortSignal;
}

/** The shared result, plus the full logits when asked for (kept out of RPC replies: they are large). */
export type LensResult = SharedLensResult & {
  /** [layer][pos][vocab] when `full` (pos indexing `positions` when given). */
  logits?: Float32Array[][];
  /** The model's logits, [pos, vocab], when `modelLogits`. */
  modelLogits?: NamedTensor;
};

/** The residual streams of a model's last lens request: [rows = labels, T, d]. */
interface ResidCache {
  key: string;
  rows: Float32Array;
}
const residCache = new WeakMap<Model, ResidCache>();
const MAX_CACHED_BYTES = 256 * 2 ** 20;
/** Rows (layers × positions) per summary run: enough for the product's full speed, few enough for memory. */
const SUMMARY_ROWS = 1024;

export async function logitLens(model: Model, req: LensRequest): Promise<LensResult> {
  const { nLayers: L, dModel: d, dVocab: V } = model.config;
  const stream = req.stream ?? 'pre';
  if (stream === 'mid' && model.config.parallelResidual) throw new UserError('This model has a parallel residual: there is no mid-block residual stream. Use pre or post.');
  const hookOf = (l: number): HookName => `blocks.${l}.hook_resid_${stream}`;
  const hooks = Array.from({ length: L }, (_, l) => hookOf(l));
  if (stream !== 'post') hooks.push(`blocks.${L - 1}.hook_resid_post`);
  const labels = Array.from({ length: L }, (_, l) => `${l}_${stream}`);
  if (stream !== 'post') labels.push('final_post');
  else labels[L - 1] = 'final_post';
  if (req.tuned && req.tuned.layers.length < L) throw new UserError(`The tuned lens has ${req.tuned.layers.length} layers; the model has ${L}.`);

  const T = req.tokens.length;
  const positions = req.positions ?? Array.from({ length: T }, (_, p) => p);
  if (new Set(positions).size !== positions.length || positions.some((p) => !Number.isInteger(p) || p < 0 || p >= T)) {
    throw new UserError(`Lens positions must be distinct positions of the ${T}-token prompt.`);
  }
  // Kept while small for the next request on the same prompt: a panel's other positions after its first paint,
  // or a lens panel opened on the prompt inline inspection (analysis/inspect, a whole lens) has just run, whose
  // first paint then needs no forward. A tuned lens is not cached (its file may change between requests).
  const keep = !req.tuned && hooks.length * T * d * 4 <= MAX_CACHED_BYTES;
  const key = keep ? JSON.stringify([req.tokens, stream, req.interventions ?? []]) : undefined;
  let all = key !== undefined && residCache.get(model)?.key === key ? residCache.get(model)!.rows : undefined;
  let modelLogits: NamedTensor | undefined;
  if (!all) {
    // A graph with these outputs alone (Model.forward's `only`): the main graph would keep all its hooks' buffers
    // to the end of the run (2.4 GB at T = 1024 on GPT-2 small) and its outputs block fusions.
    const cache = await model.forward({ tokens: [req.tokens], hooks, interventions: req.interventions, logits: req.modelLogits ? 'all' : 'none', only: true, signal: req.signal });
    if (req.modelLogits) modelLogits = withoutBatch(cache.logits!);
    all = new Float32Array(hooks.length * T * d);
    hooks.forEach((h, i) => {
      const resid = cache.hooks.get(h)!.data;
      const lens = req.tuned && i < L ? req.tuned.layers[i] : undefined;
      all!.set(lens ? applyAffine(resid, lens, T, d) : resid, i * T * d);
    });
    if (key !== undefined) residCache.set(model, { key, rows: all });
    else residCache.delete(model);
  }
  const P = positions.length;
  let rows = all;
  if (req.positions) {
    rows = new Float32Array(hooks.length * P * d);
    for (let i = 0; i < hooks.length; i++) positions.forEach((p, j) => rows.set(all!.subarray((i * T + p) * d, (i * T + p + 1) * d), (i * P + j) * d));
  }
  const resid = { shape: [hooks.length, P, d], dims: ['layer' as const, 'pos' as const, 'd_model' as const], data: rows };
  const k = req.topK ?? 5;
  const out: LensResult = { labels, tokens: req.tokens, top: [] };
  if (req.positions) out.positions = [...positions];
  // Streams kept from an earlier request skipped the forward: the logits need one of their own.
  if (req.modelLogits) out.modelLogits = modelLogits ?? (await model.run(req.tokens, { interventions: req.interventions, signal: req.signal }));
  if (req.targets) {
    for (const t of req.targets) if (!Number.isInteger(t) || t < 0 || t >= V) throw new UserError(`Target token ${t} is outside the vocabulary.`);
    out.targets = [];
  }
  if (P === 0) {
    // Nothing to decode (inline inspection: the forward, its logits and the kept streams are what it wants).
    out.top = hooks.map(() => []);
    if (req.targets) out.targets = hooks.map(() => []);
    return out;
  }
  if (req.full) {
    // Full logits: softmax, top-k and ranks in JavaScript.
    const r = await model.forward({ resid, startLayer: L, logits: 'all', signal: req.signal });
    const logits = r.logits!.data;
    out.logits = [];
    for (let i = 0; i < hooks.length; i++) {
      const layerTop: TopToken[][] = [];
      const layerTargets: Array<Array<{ id: number; prob: number; rank: number }>> = [];
      const layerLogits: Float32Array[] = [];
      for (let p = 0; p < P; p++) {
        const row = logits.subarray((i * P + p) * V, (i * P + p + 1) * V);
        const probs = softmax(row);
        layerTop.push(topIndices(row, k).map((id) => ({ id, text: model.tokenText(id), prob: probs[id]!, logit: row[id]! })));
        if (req.targets) layerTargets.push(req.targets.map((id) => ({ id, prob: probs[id]!, rank: rankOf(row, id) })));
        layerLogits.push(row.slice());
      }
      out.top.push(layerTop);
      if (req.targets) out.targets!.push(layerTargets);
      out.logits.push(layerLogits);
    }
    return out;
  }
  // Summary: top-k, log-sum-exp and target ranks computed inside the graph; k numbers per row come back. The
  // layers go through it in groups of about SUMMARY_ROWS rows: the graph holds each row's logits and, per
  // target, a comparison of all of them (13 × 1024 rows of a 50257 vocabulary at once were 6 GB).
  const targets = req.targets ?? [];
  const layersPerRun = Math.max(1, Math.floor(SUMMARY_ROWS / P));
  for (let i0 = 0; i0 < hooks.length; i0 += layersPerRun) {
    const n = Math.min(layersPerRun, hooks.length - i0);
    const part = { ...resid, shape: [n, P, d], data: rows.subarray(i0 * P * d, (i0 + n) * P * d) };
    const r = await model.forward({ resid: part, startLayer: L, logits: 'all', summary: { topK: k, targets }, signal: req.signal });
    const sm = r.summary!;
    for (let i = i0; i < i0 + n; i++) {
      const layerTop: TopToken[][] = [];
      const layerTargets: Array<Array<{ id: number; prob: number; rank: number }>> = [];
      for (let p = 0; p < P; p++) {
        const row = (i - i0) * P + p;
        const lse = sm.logSumExp[row]!;
        const top: TopToken[] = [];
        for (let j = 0; j < sm.k; j++) {
          const id = Number(sm.topIndices[row * sm.k + j]!);
          const logit = sm.topValues[row * sm.k + j]!;
          top.push({ id, text: model.tokenText(id), prob: Math.exp(logit - lse), logit });
        }
        layerTop.push(top);
        if (req.targets) {
          layerTargets.push(
            targets.map((id, t) => ({ id, prob: Math.exp(sm.targetLogits[row * targets.length + t]! - lse), rank: Number(sm.targetRanks[row * targets.length + t]!) })),
          );
        }
      }
      out.top.push(layerTop);
      if (req.targets) out.targets!.push(layerTargets);
    }
  }
  return out;
}

function applyAffine(resid: Float32Array, lens: { A: Float32Array; b: Float32Array }, T: number, d: number): Float32Array {
  const out = new Float32Array(T * d);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < d; j++) {
      let s = resid[t * d + j]! + lens.b[j]!;
      for (let i = 0; i < d; i++) s += resid[t * d + i]! * lens.A[i * d + j]!;
      out[t * d + j] = s;
    }
  }
  return out;
}
