// Feature dashboards: for every transcoder feature, where it fires on a corpus and what it writes, in
// Neuronpedia's feature-details format (../shared/reference/graphs/neuronpedia-feature-details-schema.json,
// the fields circuit-tracer's local frontend reads: attribution-graphs.md §1c "Feature example files").
//
// Steps:
// 1. The corpus becomes context windows of token ids (text files tokenized, or a raw uint16 token file).
// 2. Windows run through the model in batches, the transcoder inputs of a group of layers fetched and
//    encoded. Per feature, one streaming pass keeps: the count of active positions, their sum, the minimum
//    and maximum, an equal-width histogram over [0, R] (R a power of two that doubles, merging bins pairwise,
//    when a larger activation arrives: exact counts without knowing the maximum in advance), a min-heap of the
//    top K activations and a seeded reservoir sample of the active positions (the examples per activation
//    quantile: the sample sorted by activation and cut into equal-count groups). Each kept example copies its
//    ±context activations from the batch when it is kept, so no second pass is needed. Memory is bounded by
//    features × (K + samples) examples, whatever the corpus size; layers are grouped so that this stays under a
//    budget (a group per corpus pass).
// 3. Each finished layer is written as circuit-tracer's feature-example layout: `layer_{l}.bin`, one record per
//    feature (4-byte little-endian length + gzip JSON), with byte offsets in the index. A layer's file is
//    renamed into place and then recorded in `index.json`, so a cancelled or crashed build resumes at the
//    first unfinished layer. `index.json.gz` (circuit-tracer's per-layer `{filename, offsets}`) is written when
//    every layer is done.
// Top and bottom logits: the decoder row (summed over the layers a cross-layer feature writes) through the
// final norm's weight (centred first for LayerNorm, TransformerLens' folded W_U) and the unembedding.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { UserError, throwIfAborted } from '../errors';
import { MiB, readJsonFile } from '../files';
import type { HookName } from '../hooks';
import type { HookEdit } from '../interventions';
import { mulberry32 } from '../model';
import type { Model } from '../model';
import { GraphBuilder } from '../onnx/graphBuilder';
import { chunkRows } from '../analysis/patching';
import { TranscoderRunner, checkFeature } from './transcoders';
import type { TranscoderSet } from './transcoders';

export const DASHBOARD_FORMAT = 'mechlens-dashboards/1';

// ---------------------------------------------------------------- corpus

export interface Corpus {
  /** Every token, windows laid end to end: window w is tokens[w * window, min((w + 1) * window, length)). */
  tokens: Uint32Array;
  window: number;
  /** What was read, for the index (relative file names, counts). */
  description: string;
  /** sha256 of the window length and the tokens: a resumed build must see the same corpus. */
  sha256: string;
}

/** Longest text file read into a corpus (a bigger one is refused rather than read partly). */
const MAX_TEXT_FILE_BYTES = 256 * MiB;

/**
 * Reads a corpus: a `.u16` file of raw little-endian token ids (the bundled model's
 * eval/heldout_tokens.u16), a text file, or a folder of text files (sorted by path; files with a NUL byte
 * are skipped as binary). Text is tokenized with the model's tokenizer, documents joined by its end-of-text
 * token when it has one. `window` defaults to min(128, the model's context).
 */
export function readCorpus(model: Model, path: string, options: { maxTokens?: number; window?: number } = {}): Corpus {
  const maxTokens = options.maxTokens ?? Infinity;
  const window = options.window ?? Math.min(128, model.config.nCtx);
  if (!Number.isInteger(window) || window < 2 || window > model.config.nCtx) throw new UserError(`The context window must be from 2 to ${model.config.nCtx} tokens (got ${window}).`);
  if (!existsSync(path)) throw new UserError(`Corpus ${path} does not exist.`);
  const st = statSync(path);
  const ids: number[] = [];
  let description: string;
  if (st.isFile() && path.endsWith('.u16')) {
    const bytes = readFileSync(path);
    if (bytes.length % 2 !== 0) throw new UserError(`Corpus ${path}: a .u16 token file must hold 2-byte token ids (it has ${bytes.length} bytes).`);
    const n = Math.min(bytes.length / 2, maxTokens);
    for (let i = 0; i < n; i++) ids.push(bytes.readUInt16LE(2 * i));
    description = `${path.split('/').pop()} (uint16 token ids)`;
  } else {
    const files = st.isDirectory() ? listFiles(path) : st.isFile() ? [path] : [];
    if (files.length === 0) throw new UserError(`Corpus ${path} has no files to read.`);
    if (!model.tokenizer) throw new UserError(`${model.info.name} has no tokenizer.json: give the corpus as a .u16 token file.`);
    const eot = model.tokenizer.specialTokens().find((s) => /end.?of.?text|^<\/s>$|^<eos>$/i.test(s.content))?.id;
    let used = 0;
    for (const file of files) {
      if (ids.length >= maxTokens) break;
      if (statSync(file).size > MAX_TEXT_FILE_BYTES) throw new UserError(`Corpus file ${file} is larger than ${MAX_TEXT_FILE_BYTES / MiB} MiB; split it.`);
      const buf = readFileSync(file);
      if (buf.subarray(0, 8192).includes(0)) continue; // binary
      const text = buf.toString('utf8');
      if (text.trim().length === 0) continue;
      if (used > 0 && eot !== undefined) ids.push(eot);
      for (const piece of textPieces(text)) {
        for (const id of model.tokenizer.encode(piece).ids) ids.push(id);
        if (ids.length >= maxTokens) break;
      }
      used++;
    }
    if (ids.length > maxTokens) ids.length = maxTokens;
    description = st.isDirectory() ? `${used} text file${used === 1 ? '' : 's'} in ${path.split('/').pop()}` : `${path.split('/').pop()}`;
  }
  if (ids.length === 0) throw new UserError(`Corpus ${path} has no text: no tokens to run.`);
  for (const id of ids) if (id >= model.config.dVocab) throw new UserError(`Corpus ${path}: token id ${id} is outside the vocabulary (0..${model.config.dVocab - 1}).`);
  const tokens = Uint32Array.from(ids);
  const sha256 = createHash('sha256').update(`${window}:`).update(new Uint8Array(tokens.buffer)).digest('hex');
  return { tokens, window, description: `${description}, ${tokens.length} tokens`, sha256 };
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Splits text at line ends into pieces of about 4,000 characters: the tokenizer's cost stays linear. */
function* textPieces(text: string): Generator<string> {
  const step = 4000;
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + step);
    if (end < text.length) {
      const nl = text.lastIndexOf('\n', end);
      if (nl > start) end = nl + 1;
    }
    yield text.slice(start, end);
    start = end;
  }
}

// ---------------------------------------------------------------- what a feature writes

/**
 * Decoder rows of `features` at `layer`, summed over the layers a cross-layer feature writes: [n, d_model],
 * the feature's total direct write into the residual stream.
 */
export function totalDecoderRows(set: TranscoderSet, layer: number, features: readonly number[]): Float32Array {
  const d = set.dModel;
  const rows = set.decoderRows(layer, features);
  const nOut = rows.length / (features.length * d);
  if (nOut === 1) return rows;
  const out = new Float32Array(features.length * d);
  for (let i = 0; i < features.length; i++) for (let j = 0; j < nOut; j++) for (let k = 0; k < d; k++) out[i * d + k]! += rows[(i * nOut + j) * d + k]!;
  return out;
}

/** Rows [n, d] as the unembedding sees them: centred (LayerNorm) and times the final norm's weight, in place. */
export function foldFinalNorm(model: Model, rows: Float32Array): Float32Array {
  const { config: c, weights } = model.spec;
  const d = c.dModel;
  const w = weights.lnFinal.w;
  for (let r = 0; r < rows.length / d; r++) {
    let mean = 0;
    if (c.norm === 'layernorm') {
      for (let k = 0; k < d; k++) mean += rows[r * d + k]!;
      mean /= d;
    }
    for (let k = 0; k < d; k++) rows[r * d + k] = (rows[r * d + k]! - mean) * (w[k]! + c.normWeightOffset);
  }
  return rows;
}

/** Logit weights of one token: folded decoder rows [n, d] · W_U[token]. */
export function logitWeightsOfToken(model: Model, folded: Float32Array, token: number): Float32Array {
  const d = model.config.dModel;
  const u = model.spec.weights.W_U.subarray(token * d, (token + 1) * d);
  const out = new Float32Array(folded.length / d);
  for (let r = 0; r < out.length; r++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += folded[r * d + k]! * u[k]!;
    out[r] = s;
  }
  return out;
}

export interface TopLogits {
  /** [n, k] token ids and values, largest first / most negative first. */
  topIds: Int32Array;
  topValues: Float32Array;
  bottomIds: Int32Array;
  bottomValues: Float32Array;
  k: number;
}

/** Top and bottom k of folded rows [n, d] · W_Uᵀ, in onnxruntime (a [n, vocab] product is large for real vocabularies). */
export async function topLogitsOf(model: Model, folded: Float32Array, k: number): Promise<TopLogits> {
  const { dModel: d, dVocab: V } = model.config;
  const kk = Math.min(k, V);
  const session = await model.graphs.get(`feature-logits:${kk}`, () => {
    const g = new GraphBuilder(true);
    const x = g.input('x', onnx.TensorProto.DataType.FLOAT, ['n', d]);
    const logits = g.op1('Gemm', [x, g.weight('W_U', model.spec.weights.W_U, [V, d])], { transB: 1 });
    const K = g.constI64([kk]);
    g.op('TopK', [logits, K], { axis: -1, largest: 1 }, ['top_values', 'top_ids']);
    g.op('TopK', [logits, K], { axis: -1, largest: 0 }, ['bottom_values', 'bottom_ids']);
    g.output('top_values');
    g.output('top_ids', onnx.TensorProto.DataType.INT64);
    g.output('bottom_values');
    g.output('bottom_ids', onnx.TensorProto.DataType.INT64);
    return { bytes: g.build('feature_logits'), weightInputs: g.weightInputs };
  });
  const n = folded.length / d;
  const out: TopLogits = { topIds: new Int32Array(n * kk), topValues: new Float32Array(n * kk), bottomIds: new Int32Array(n * kk), bottomValues: new Float32Array(n * kk), k: kk };
  // Chunks bound the [rows, vocab] intermediate (512 x 256k vocabulary = 512 MiB at most).
  const chunk = Math.max(1, Math.floor((128 * MiB) / (4 * V)));
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    const r = await session.run({ x: new ort.Tensor('float32', folded.subarray(s * d, (s + m) * d), [m, d]) }, ['top_values', 'top_ids', 'bottom_values', 'bottom_ids']);
    out.topValues.set(r.top_values!.data as Float32Array, s * kk);
    out.bottomValues.set(r.bottom_values!.data as Float32Array, s * kk);
    (r.top_ids!.data as BigInt64Array).forEach((v, i) => (out.topIds[s * kk + i] = Number(v)));
    (r.bottom_ids!.data as BigInt64Array).forEach((v, i) => (out.bottomIds[s * kk + i] = Number(v)));
  }
  return out;
}

// ---------------------------------------------------------------- streaming statistics

export const HISTOGRAM_BINS = 32;

/** Per-feature statistics of one layer over the corpus, for the features in `features`. */
class LayerStats {
  readonly n: number;
  readonly count: Float64Array;
  readonly sum: Float64Array;
  readonly min: Float32Array;
  readonly max: Float32Array;
  readonly hist: Float64Array;
  readonly range: Float32Array;
  // Top K: a min-heap per feature (act, flat token index, ±context activations).
  readonly topSize: Int32Array;
  readonly topAct: Float32Array;
  readonly topPos: Float64Array;
  readonly topCtx: Float32Array;
  // Reservoir of S active positions per feature.
  readonly resAct: Float32Array;
  readonly resPos: Float64Array;
  readonly resCtx: Float32Array;
  private readonly rand: () => number;

  constructor(
    readonly layer: number,
    /** Feature index of each slot. */
    readonly features: Int32Array,
    readonly K: number,
    readonly S: number,
    /** Context activations per example: 2 · context + 1. */
    readonly W: number,
  ) {
    const n = (this.n = features.length);
    this.count = new Float64Array(n);
    this.sum = new Float64Array(n);
    this.min = new Float32Array(n).fill(Infinity);
    this.max = new Float32Array(n);
    this.hist = new Float64Array(n * HISTOGRAM_BINS);
    this.range = new Float32Array(n);
    this.topSize = new Int32Array(n);
    this.topAct = new Float32Array(n * K);
    this.topPos = new Float64Array(n * K);
    this.topCtx = new Float32Array(n * K * W);
    this.resAct = new Float32Array(n * S);
    this.resPos = new Float64Array(n * S);
    this.resCtx = new Float32Array(n * S * W);
    // Seeded: the same corpus gives byte-identical dashboards.
    this.rand = mulberry32(0x5eed + layer);
  }

  static bytesPerFeature(K: number, S: number, W: number): number {
    return (K + S) * (4 + 8 + 4 * W) + HISTOGRAM_BINS * 8 + 48;
  }

  /**
   * Adds one batch: acts [rows · T, F] of windows whose first tokens are at flat indices `starts`, each T
   * tokens long (the batch's windows have equal lengths).
   */
  add(acts: Float32Array, F: number, starts: readonly number[], T: number): void {
    const { n, features, K, S, W } = this;
    const c = (W - 1) / 2;
    const all = n === F;
    for (let b = 0; b < starts.length; b++) {
      for (let p = 0; p < T; p++) {
        const base = (b * T + p) * F;
        for (let slot = 0; slot < n; slot++) {
          const f = all ? slot : features[slot]!;
          const a = acts[base + f]!;
          if (!(a > 0)) continue;
          const cnt = ++this.count[slot]!;
          this.sum[slot]! += a;
          if (a < this.min[slot]!) this.min[slot] = a;
          if (a > this.max[slot]!) this.max[slot] = a;
          this.histAdd(slot, a);
          const pos = starts[b]! + p;
          // top K
          const size = this.topSize[slot]!;
          if (size < K) {
            this.heapPush(slot, size, a, pos);
            this.copyContext(this.topCtx, (slot * K + this.lastHeapSlot) * W, acts, F, f, b, p, T, c);
          } else if (a > this.topAct[slot * K]!) {
            const at = this.heapReplaceRoot(slot, a, pos);
            this.copyContext(this.topCtx, (slot * K + at) * W, acts, F, f, b, p, T, c);
          }
          // reservoir
          let j = -1;
          if (cnt <= S) j = cnt - 1;
          else {
            const r = Math.floor(this.rand() * cnt);
            if (r < S) j = r;
          }
          if (j >= 0) {
            this.resAct[slot * S + j] = a;
            this.resPos[slot * S + j] = pos;
            this.copyContext(this.resCtx, (slot * S + j) * W, acts, F, f, b, p, T, c);
          }
        }
      }
    }
  }

  private copyContext(dst: Float32Array, at: number, acts: Float32Array, F: number, f: number, b: number, p: number, T: number, c: number): void {
    for (let o = -c; o <= c; o++) {
      const q = p + o;
      dst[at + o + c] = q < 0 || q >= T ? NaN : acts[(b * T + q) * F + f]!;
    }
  }

  private histAdd(slot: number, a: number): void {
    const B = HISTOGRAM_BINS;
    let r = this.range[slot]!;
    if (r === 0) r = this.range[slot] = 2 ** Math.ceil(Math.log2(a) + 1e-9);
    while (a >= r) {
      // Double the range: bins 2i and 2i+1 merge into bin i.
      const h = this.hist.subarray(slot * B, (slot + 1) * B);
      for (let i = 0; i < B / 2; i++) h[i] = h[2 * i]! + h[2 * i + 1]!;
      h.fill(0, B / 2);
      r *= 2;
      this.range[slot] = r;
    }
    this.hist[slot * B + Math.min(B - 1, Math.floor((a / r) * B))]! += 1;
  }

  private lastHeapSlot = 0;

  // Min-heap on (act, then later position first out): ties keep the earlier position.
  private less(slot: number, i: number, j: number): boolean {
    const K = this.K;
    const ai = this.topAct[slot * K + i]!;
    const aj = this.topAct[slot * K + j]!;
    return ai < aj || (ai === aj && this.topPos[slot * K + i]! > this.topPos[slot * K + j]!);
  }

  private swap(slot: number, i: number, j: number): void {
    const { K, W } = this;
    const x = slot * K;
    [this.topAct[x + i], this.topAct[x + j]] = [this.topAct[x + j]!, this.topAct[x + i]!];
    [this.topPos[x + i], this.topPos[x + j]] = [this.topPos[x + j]!, this.topPos[x + i]!];
    const ci = (x + i) * W;
    const cj = (x + j) * W;
    for (let k = 0; k < W; k++) {
      const t = this.topCtx[ci + k]!;
      this.topCtx[ci + k] = this.topCtx[cj + k]!;
      this.topCtx[cj + k] = t;
    }
  }

  private heapPush(slot: number, size: number, a: number, pos: number): void {
    const x = slot * this.K;
    this.topAct[x + size] = a;
    this.topPos[x + size] = pos;
    this.topSize[slot] = size + 1;
    // Sift up, swapping contexts along: the context is written after, at the final slot.
    let i = size;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(slot, i, parent)) break;
      this.swap(slot, i, parent);
      i = parent;
    }
    this.lastHeapSlot = i;
  }

  private heapReplaceRoot(slot: number, a: number, pos: number): number {
    const x = slot * this.K;
    const size = this.topSize[slot]!;
    this.topAct[x] = a;
    this.topPos[x] = pos;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && this.less(slot, l, m)) m = l;
      if (r < size && this.less(slot, r, m)) m = r;
      if (m === i) break;
      this.swap(slot, i, m);
      i = m;
    }
    return i;
  }
}

// ---------------------------------------------------------------- feature details (Neuronpedia's format)

export interface FeatureExample {
  tokens: string[];
  tokens_acts_list: number[];
  /** Index in `tokens` of the token the example was chosen for. */
  train_token_ind: number;
  /** Another example above it in the list covers this token (overlapping windows of one sequence). */
  is_repeated_datapoint: boolean;
  /** Id of the chosen token (search by token reads it). */
  token_id: number;
  /** Context window (corpus sequence) and position in it of the chosen token. */
  sequence: number;
  position: number;
}

/** One feature's dashboard: Neuronpedia's feature-details fields plus MechLens' own (token ids, histogram edges). */
export interface FeatureDetails {
  index: number;
  layer: number;
  transcoder_id: string;
  examples_quantiles: Array<{ quantile_name: string; examples: FeatureExample[] }>;
  top_logits: string[];
  bottom_logits: string[];
  top_logits_ids: number[];
  top_logits_values: number[];
  bottom_logits_ids: number[];
  bottom_logits_values: number[];
  /** Smallest and largest activation over the corpus positions where the feature is active (> 0). */
  act_min: number;
  act_max: number;
  /** Fraction of corpus tokens with activation > 0. */
  activation_frequency: number;
  /** Mean activation over the active positions. */
  act_mean: number;
  n_tokens: number;
  /** Activation values at the 10th, 20th, ... 90th percentiles of the active positions (from the histogram). */
  quantile_values: number[];
  /** Equal-width histogram of the active values: counts per bin, edges from 0. */
  histogram: { bin_edges: number[]; counts: number[] };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
const round6 = (v: number) => Number(v.toPrecision(6));

interface DetailsContext {
  model: Model;
  corpus: Corpus;
  scan: string;
  quantiles: number;
  perQuantile: number;
  logits: TopLogits;
  tokenText: (id: number) => string;
}

function featureDetails(stats: LayerStats, slot: number, logitRow: number, ctx: DetailsContext): FeatureDetails {
  const { corpus, logits } = ctx;
  const { K, S, W } = stats;
  const c = (W - 1) / 2;
  const count = stats.count[slot]!;
  const makeExample = (pos: Float64Array, ctxActs: Float32Array, i: number): FeatureExample => {
    const flat = pos[i]!;
    const seq = Math.floor(flat / corpus.window);
    const p = flat - seq * corpus.window;
    const lo = Math.max(0, p - c);
    const hi = Math.min(p + c, Math.min(corpus.window, corpus.tokens.length - seq * corpus.window) - 1);
    const ids = Array.from(corpus.tokens.subarray(seq * corpus.window + lo, seq * corpus.window + hi + 1));
    const values = ids.map((_, k) => round3(ctxActs[i * W + (lo + k - p) + c]!));
    return { tokens: ids.map(ctx.tokenText), tokens_acts_list: values, train_token_ind: p - lo, is_repeated_datapoint: false, token_id: ids[p - lo]!, sequence: seq, position: p };
  };
  // Top activations, largest first.
  const size = stats.topSize[slot]!;
  const order = Array.from({ length: size }, (_, i) => i).sort((i, j) => stats.topAct[slot * K + j]! - stats.topAct[slot * K + i]! || stats.topPos[slot * K + i]! - stats.topPos[slot * K + j]!);
  const topPos = stats.topPos.subarray(slot * K, (slot + 1) * K);
  const topCtx = stats.topCtx.subarray(slot * K * W, (slot + 1) * K * W);
  const top = order.map((i) => makeExample(topPos, topCtx, i));
  markRepeats(top);
  const groups: FeatureDetails['examples_quantiles'] = [{ quantile_name: 'Top activations', examples: top }];
  // Examples per activation quantile: the reservoir sample sorted and cut into equal-count groups, highest first.
  const nRes = Math.min(count, S);
  const resAct = stats.resAct.subarray(slot * S, (slot + 1) * S);
  const resPos = stats.resPos.subarray(slot * S, (slot + 1) * S);
  const resCtx = stats.resCtx.subarray(slot * S * W, (slot + 1) * S * W);
  const byAct = Array.from({ length: nRes }, (_, i) => i).sort((i, j) => resAct[i]! - resAct[j]! || resPos[i]! - resPos[j]!);
  const Q = ctx.quantiles;
  for (let q = Q - 1; q >= 0 && nRes > 0; q--) {
    const from = Math.floor((q * nRes) / Q);
    const to = Math.floor(((q + 1) * nRes) / Q);
    if (to <= from) continue;
    const chosen = byAct.slice(from, to).reverse().slice(0, ctx.perQuantile);
    const examples = chosen.map((i) => makeExample(resPos, resCtx, i));
    markRepeats(examples);
    groups.push({ quantile_name: `Quantile ${q + 1}/${Q} (${round3(resAct[byAct[from]!]!)} to ${round3(resAct[byAct[to - 1]!]!)})`, examples });
  }
  // Histogram and percentiles.
  const B = HISTOGRAM_BINS;
  const r = stats.range[slot]!;
  const counts = Array.from(stats.hist.subarray(slot * B, (slot + 1) * B));
  const edges = Array.from({ length: B + 1 }, (_, i) => round6((i * r) / B));
  const quantileValues: number[] = [];
  for (let q = 1; q <= 9 && count > 0; q++) {
    const want = (q / 10) * count;
    let acc = 0;
    let v = 0;
    for (let i = 0; i < B; i++) {
      if (acc + counts[i]! >= want) {
        v = ((i + (want - acc) / Math.max(1, counts[i]!)) * r) / B;
        break;
      }
      acc += counts[i]!;
    }
    quantileValues.push(round6(Math.min(v, stats.max[slot]!)));
  }
  const k = logits.k;
  const row = (a: Int32Array | Float32Array) => Array.from(a.subarray(logitRow * k, (logitRow + 1) * k));
  const topIds = row(logits.topIds);
  const bottomIds = row(logits.bottomIds);
  return {
    index: stats.features[slot]!,
    layer: stats.layer,
    transcoder_id: ctx.scan,
    examples_quantiles: groups,
    top_logits: topIds.map(ctx.tokenText),
    bottom_logits: bottomIds.map(ctx.tokenText),
    top_logits_ids: topIds,
    top_logits_values: row(logits.topValues).map(round6),
    bottom_logits_ids: bottomIds,
    bottom_logits_values: row(logits.bottomValues).map(round6),
    act_min: count > 0 ? round6(stats.min[slot]!) : 0,
    act_max: round6(stats.max[slot]!),
    activation_frequency: round6(count / corpus.tokens.length),
    act_mean: count > 0 ? round6(stats.sum[slot]! / count) : 0,
    n_tokens: corpus.tokens.length,
    quantile_values: quantileValues,
    histogram: { bin_edges: r > 0 ? edges : [], counts: r > 0 ? counts : [] },
  };
}

/** Marks examples whose chosen token an earlier example of the list already shows. */
function markRepeats(examples: FeatureExample[]): void {
  examples.forEach((e, i) => {
    e.is_repeated_datapoint = examples.slice(0, i).some((o) => {
      const first = o.position - o.train_token_ind;
      return o.sequence === e.sequence && e.position >= first && e.position < first + o.tokens.length;
    });
  });
}

// ---------------------------------------------------------------- files

export interface DashboardIndex {
  format: typeof DASHBOARD_FORMAT;
  model: string;
  transcoders: string;
  corpus: { description: string; n_tokens: number; window: number; sha256: string };
  settings: { top_k: number; context: number; quantiles: number; per_quantile: number; samples: number; histogram_bins: number; logits: number; packed: boolean };
  n_layers: number;
  /**
   * Per layer, null until it is finished. `offsets[i]..offsets[i+1]`: feature i's record (4-byte little-endian
   * length + gzip JSON, or + plain JSON in a packed file). A packed file (`.bin.br`) is the layer's records,
   * uncompressed, brotli-compressed as a whole: about 3x smaller for shipping (records share their tokens),
   * read whole; offsets then index the decompressed bytes. `file_bytes`: the file's size on disk.
   */
  layers: Array<{ layer: number; filename: string; d_transcoder: number; offsets: number[]; file_bytes: number; seconds: number } | null>;
}

export function encodeRecord(details: object, compress = true): Buffer {
  const json = Buffer.from(JSON.stringify(details), 'utf8');
  const z = compress ? gzipSync(json, { level: 9 }) : json;
  const head = Buffer.alloc(4);
  head.writeUInt32LE(z.length, 0);
  return Buffer.concat([head, z]);
}

export function decodeRecord(bytes: Buffer, where: string): FeatureDetails {
  if (bytes.length < 4) throw new UserError(`${where}: truncated feature record.`);
  const n = bytes.readUInt32LE(0);
  if (n > bytes.length - 4) throw new UserError(`${where}: the record declares ${n} bytes but ${bytes.length - 4} follow.`);
  try {
    const body = bytes.subarray(4, 4 + n);
    return JSON.parse((body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body).toString('utf8')) as FeatureDetails;
  } catch (e) {
    throw new UserError(`${where}: unreadable feature record (${e instanceof Error ? e.message : String(e)}).`);
  }
}

/** The dashboards index in `dir`, or undefined when there is none. */
export function readDashboardIndex(dir: string): DashboardIndex | undefined {
  const file = join(dir, 'index.json');
  if (!existsSync(file)) return undefined;
  const json = readJsonFile(file, 'dashboards index', 64 * MiB);
  const idx = json as DashboardIndex;
  if (typeof json !== 'object' || json === null || idx.format !== DASHBOARD_FORMAT || !Array.isArray(idx.layers)) {
    throw new UserError(`${file} is not a MechLens dashboards index (format ${DASHBOARD_FORMAT}).`);
  }
  return idx;
}

/** One feature's details from a dashboards folder. */
export function readFeatureDetails(dir: string, layer: number, index: number): FeatureDetails {
  const idx = readDashboardIndex(dir);
  if (!idx) throw new UserError(`${dir} has no index.json: build dashboards first (mechlens features).`);
  if (!Number.isInteger(layer) || layer < 0 || layer >= idx.n_layers) throw new UserError(`Layer ${layer} is outside the dashboards' ${idx.n_layers} layers (0..${idx.n_layers - 1}).`);
  const entry = idx.layers[layer];
  if (!entry) throw new UserError(`Layer ${layer} of the dashboards in ${dir} is not built yet: run mechlens features again to finish it.`);
  if (!Number.isInteger(index) || index < 0 || index >= entry.d_transcoder) throw new UserError(`Feature ${index} is outside layer ${layer}'s ${entry.d_transcoder} features (0..${entry.d_transcoder - 1}).`);
  const start = entry.offsets[index]!;
  const end = entry.offsets[index + 1]!;
  const file = join(dir, entry.filename);
  if (!existsSync(file)) throw new UserError(`${file} is missing: the dashboards in ${dir} are incomplete.`);
  if (entry.filename.endsWith('.br')) return decodeRecord(packedLayer(file).subarray(start, end), `${entry.filename} feature ${index}`);
  const buf = Buffer.alloc(end - start);
  const fd = openSync(file, 'r');
  try {
    const got = readSync(fd, buf, 0, buf.length, start);
    if (got !== buf.length) throw new UserError(`${file} is shorter than its index says.`);
  } finally {
    closeSync(fd);
  }
  return decodeRecord(buf, `${entry.filename} feature ${index}`);
}

/** Every record of one finished layer, in feature order (for search). */
export function* readLayerDetails(dir: string, idx: DashboardIndex, layer: number): Generator<FeatureDetails> {
  const entry = idx.layers[layer];
  if (!entry) return;
  const file = join(dir, entry.filename);
  const bytes = entry.filename.endsWith('.br') ? packedLayer(file) : readFileSync(file);
  for (let i = 0; i < entry.d_transcoder; i++) yield decodeRecord(bytes.subarray(entry.offsets[i]!, entry.offsets[i + 1]!), `${entry.filename} feature ${i}`);
}

/** The last packed layer read, decompressed (a feature panel reads features of one layer after another). */
let packedCache: { file: string; mtime: number; bytes: Buffer } | undefined;

function packedLayer(file: string): Buffer {
  const mtime = statSync(file).mtimeMs;
  if (packedCache?.file !== file || packedCache.mtime !== mtime) {
    try {
      packedCache = { file, mtime, bytes: brotliDecompressSync(readFileSync(file)) };
    } catch (e) {
      throw new UserError(`${file} is not a packed dashboards layer (${e instanceof Error ? e.message : String(e)}).`);
    }
  }
  return packedCache.bytes;
}

function writeJsonAtomic(file: string, value: unknown): void {
  writeFileSync(`${file}.tmp`, `${JSON.stringify(value, null, 1)}\n`);
  renameSync(`${file}.tmp`, file);
}

// ---------------------------------------------------------------- build

export interface DashboardProgress {
  /** Layers of the current corpus pass. */
  layers: number[];
  /** Tokens done in this pass, of the corpus. */
  done: number;
  total: number;
  /** Over the whole build (passes done and this one). */
  fraction: number;
}

export interface DashboardOptions {
  /** Top activating contexts per feature (default 20). */
  topK?: number;
  /** Tokens each side of an example's token (default 16). */
  context?: number;
  /** Activation quantile groups (default 5) and examples shown per group (default 5). */
  quantiles?: number;
  perQuantile?: number;
  /** Top and bottom logits (default 10). */
  logits?: number;
  /** Bytes of example storage per corpus pass (default 512 MiB): more layers per pass when it allows. */
  memoryBudget?: number;
  /** Positions per forward batch (default 2048). */
  batchTokens?: number;
  /** Write packed layers (`layer_{l}.bin.br`, see DashboardIndex) instead of circuit-tracer's gzip records. */
  pack?: boolean;
  /** Brotli quality of packed layers (default 11: slow, about a minute per 20 MB layer, and the smallest). */
  packQuality?: number;
  signal?: AbortSignal;
  onProgress?: (p: DashboardProgress) => void;
}

export interface DashboardBuild {
  out: string;
  /** Layers built by this call, and layers found finished and kept. */
  built: number[];
  resumed: number[];
  passes: number;
  seconds: number;
}

function settingsOf(o: DashboardOptions) {
  const topK = o.topK ?? 20;
  const context = o.context ?? 16;
  const quantiles = o.quantiles ?? 5;
  const perQuantile = o.perQuantile ?? 5;
  for (const [name, v, lo, hi] of [['topK', topK, 1, 1000], ['context', context, 0, 512], ['quantiles', quantiles, 1, 100], ['perQuantile', perQuantile, 0, 1000]] as const) {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new UserError(`Dashboards: ${name} must be an integer from ${lo} to ${hi} (got ${v}).`);
  }
  return { top_k: topK, context, quantiles, per_quantile: perQuantile, samples: quantiles * perQuantile, histogram_bins: HISTOGRAM_BINS, logits: o.logits ?? 10, packed: o.pack ?? false };
}

/** The forward reads no logits: an identity edit at a hook the main graph has no input for selects a variant graph without the unembedding. */
const NO_LOGITS_EDIT: HookEdit = { shape: [1, 1, 1], keep: Float32Array.from([1]), add: Float32Array.from([0]) };

/** Encodes the corpus layer group by layer group; calls `visit` per batch with each layer's activations. */
async function scanCorpus(
  model: Model,
  set: TranscoderSet,
  corpus: Corpus,
  layers: readonly number[],
  batchTokens: number,
  signal: AbortSignal | undefined,
  visit: (layer: number, acts: Float32Array, F: number, starts: number[], T: number) => void,
  progress: (done: number) => void,
): Promise<void> {
  const d = model.config.dModel;
  const runners = new Map<number, TranscoderRunner>();
  for (const l of layers) runners.set(l, await TranscoderRunner.create(model.graphs, set, set.layers[l]!, d));
  const hooks = layers.map((l) => `blocks.${l}.${set.inputHook}` as HookName);
  const N = corpus.tokens.length;
  const Wn = corpus.window;
  const nWindows = Math.ceil(N / Wn);
  // At most batchTokens a run, and no more rows than one bounded run (patching.ts chunkRows): a run cannot be
  // interrupted, so a cancel is honoured between runs (the bundled model keeps whole 2,048-token batches).
  const rowsPerBatch = Math.max(1, Math.min(Math.floor(batchTokens / Wn), chunkRows(model, Wn, 0)));
  const edits = new Map([['blocks.0.ln1.hook_normalized', NO_LOGITS_EDIT]]);
  for (let w0 = 0; w0 < nWindows; ) {
    throwIfAborted(signal);
    const T = Math.min(Wn, N - w0 * Wn);
    // Windows of equal length go together; only the last window can be shorter.
    const rows = T < Wn ? 1 : Math.min(rowsPerBatch, Math.floor(N / Wn) - w0);
    const starts = Array.from({ length: rows }, (_, i) => (w0 + i) * Wn);
    const tokens = starts.map((s) => Array.from(corpus.tokens.subarray(s, s + T)));
    const fwd = await model.forward({ tokens, hooks, logits: 'none', edits, signal });
    for (const [i, l] of layers.entries()) {
      throwIfAborted(signal);
      const x = fwd.hooks.get(hooks[i]!)!.data;
      const acts = await runners.get(l)!.encode(x);
      visit(l, acts, set.layers[l]!.dTranscoder, starts, T);
    }
    w0 += rows;
    throwIfAborted(signal); // no progress after a cancel
    progress(Math.min(N, w0 * Wn));
  }
}

/**
 * Builds (or finishes) the dashboards of every layer of `set` over `corpus` into `out`. Layers already in
 * out/index.json for the same model, transcoders, corpus and settings are kept; a folder holding another
 * build is refused rather than overwritten.
 */
export async function buildDashboards(model: Model, set: TranscoderSet, corpus: Corpus, out: string, options: DashboardOptions = {}): Promise<DashboardBuild> {
  const t0 = performance.now();
  const settings = settingsOf(options);
  const L = set.layers.length;
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UserError(`--out ${out} is a file; give a folder.`);
  mkdirSync(out, { recursive: true });
  const fresh: DashboardIndex = {
    format: DASHBOARD_FORMAT,
    model: model.info.name,
    transcoders: set.scan,
    corpus: { description: corpus.description, n_tokens: corpus.tokens.length, window: corpus.window, sha256: corpus.sha256 },
    settings,
    n_layers: L,
    layers: Array.from({ length: L }, () => null),
  };
  let index = readDashboardIndex(out);
  if (index) {
    const same = index.model === fresh.model && index.transcoders === fresh.transcoders && index.corpus.sha256 === fresh.corpus.sha256 && index.n_layers === L && JSON.stringify(index.settings) === JSON.stringify(settings);
    if (!same) throw new UserError(`${out} holds dashboards of another model, transcoder set, corpus or settings (${index.model}, ${index.transcoders}, ${index.corpus.description}); give an empty folder.`);
    // A layer counts as finished only if its file is whole.
    index.layers = index.layers.map((e) => (e && existsSync(join(out, e.filename)) && statSync(join(out, e.filename)).size === e.file_bytes ? e : null));
  } else {
    index = fresh;
  }
  const resumed = index.layers.flatMap((e, l) => (e ? [l] : []));
  const todo = Array.from({ length: L }, (_, l) => l).filter((l) => !index.layers[l]);
  const W = 2 * settings.context + 1;
  const perFeature = LayerStats.bytesPerFeature(settings.top_k, settings.samples, W);
  const budget = options.memoryBudget ?? 512 * MiB;
  const groups: number[][] = [];
  for (const l of todo) {
    const g = groups.at(-1);
    const bytes = (ls: number[]) => ls.reduce((a, x) => a + set.layers[x]!.dTranscoder * perFeature, 0);
    if (g && bytes([...g, l]) <= budget) g.push(l);
    else groups.push([l]);
  }
  const cache = new Map<number, string>();
  const tokenText = (id: number) => {
    let s = cache.get(id);
    if (s === undefined) cache.set(id, (s = model.tokenText(id)));
    return s;
  };
  const N = corpus.tokens.length;
  const built: number[] = [];
  for (const [gi, group] of groups.entries()) {
    const tLayer = performance.now();
    const stats = new Map(group.map((l) => [l, new LayerStats(l, Int32Array.from({ length: set.layers[l]!.dTranscoder }, (_, f) => f), settings.top_k, settings.samples, W)]));
    await scanCorpus(
      model,
      set,
      corpus,
      group,
      options.batchTokens ?? 2048,
      options.signal,
      (l, acts, F, starts, T) => stats.get(l)!.add(acts, F, starts, T),
      (done) => options.onProgress?.({ layers: group, done, total: N, fraction: (gi + done / N) / groups.length }),
    );
    for (const l of group) {
      throwIfAborted(options.signal);
      const s = stats.get(l)!;
      const F = set.layers[l]!.dTranscoder;
      const logits = await topLogitsOf(model, foldFinalNorm(model, totalDecoderRows(set, l, Array.from({ length: F }, (_, f) => f))), settings.logits);
      const ctx: DetailsContext = { model, corpus, scan: set.scan, quantiles: settings.quantiles, perQuantile: settings.per_quantile, logits, tokenText };
      const filename = options.pack ? `layer_${l}.bin.br` : `layer_${l}.bin`;
      const offsets = [0];
      const parts: Buffer[] = [];
      for (let slot = 0; slot < F; slot++) {
        const rec = encodeRecord(featureDetails(s, slot, slot, ctx), !options.pack);
        parts.push(rec);
        offsets.push(offsets.at(-1)! + rec.length);
      }
      let bytes = Buffer.concat(parts);
      if (options.pack) bytes = brotliCompressSync(bytes, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: options.packQuality ?? 11, [zlibConstants.BROTLI_PARAM_LGWIN]: 24, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: bytes.length } });
      writeFileSync(join(out, `${filename}.tmp`), bytes);
      renameSync(join(out, `${filename}.tmp`), join(out, filename));
      index.layers[l] = { layer: l, filename, d_transcoder: F, offsets, file_bytes: bytes.length, seconds: Math.round((performance.now() - tLayer) / 10) / 100 };
      writeJsonAtomic(join(out, 'index.json'), index);
      built.push(l);
    }
  }
  if (!options.pack && index.layers.every((e) => e)) {
    // circuit-tracer's local frontend reads features/index.json.gz: per layer {filename, offsets}.
    const ct = index.layers.map((e) => ({ filename: e!.filename, offsets: e!.offsets }));
    writeFileSync(join(out, 'index.json.gz'), gzipSync(JSON.stringify(ct), { level: 9 }));
  }
  return { out: relative(process.cwd(), out) || out, built, resumed, passes: groups.length, seconds: (performance.now() - t0) / 1000 };
}

/** One feature's details computed straight from a corpus (no files): the same statistics as a build. */
export async function featureDetailsFromCorpus(model: Model, set: TranscoderSet, corpus: Corpus, layer: number, index: number, options: DashboardOptions = {}): Promise<FeatureDetails> {
  checkFeature(set, layer, index);
  const settings = settingsOf(options);
  const stats = new LayerStats(layer, Int32Array.from([index]), settings.top_k, settings.samples, 2 * settings.context + 1);
  await scanCorpus(model, set, corpus, [layer], options.batchTokens ?? 2048, options.signal, (_, acts, F, starts, T) => stats.add(acts, F, starts, T), (done) =>
    options.onProgress?.({ layers: [layer], done, total: corpus.tokens.length, fraction: done / corpus.tokens.length }),
  );
  const logits = await topLogitsOf(model, foldFinalNorm(model, totalDecoderRows(set, layer, [index])), settings.logits);
  return featureDetails(stats, 0, 0, { model, corpus, scan: set.scan, quantiles: settings.quantiles, perQuantile: settings.per_quantile, logits, tokenText: (id) => model.tokenText(id) });
}

/** The dashboards folder to read: the one given, else the model folder's features/ when it holds an index. */
export function dashboardsDir(model: Model, dir?: string): string | undefined {
  if (dir !== undefined) return dir;
  const own = join(model.info.dir, 'features');
  return existsSync(join(own, 'index.json')) ? own : undefined;
}
