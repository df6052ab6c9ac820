// One model description for every supported architecture. Adapters (gpt2.ts, neox.ts, llama.ts,
// gemma2.ts) map a Hugging Face config.json and checkpoint tensor names onto it; nothing else in the
// engine knows checkpoint names. Matrices are stored [out, in], the nn.Linear layout (y = x @ Wᵀ; the
// unembedding W_U is [d_vocab, d_model] the same way): onnxruntime multiplies a fed weight fastest as the
// left operand of a Gemm (W · xᵀ), where its CPU kernel reads W in place instead of re-packing it on
// every run (onnx/forwardGraph.ts, `linear`). TransformerLens' [in, out] matrices are their transposes.
import type { ModelDims } from '../../shared/modelInfo';

export type NormKind = 'layernorm' | 'rmsnorm';
export type Activation = 'gelu_new' | 'gelu' | 'silu' | 'gelu_tanh' | 'relu';

export interface ModelConfig extends ModelDims {
  norm: NormKind;
  normEps: number;
  /** Gemma's RMSNorm multiplies by (1 + w). */
  normWeightOffset: number;
  positional: 'learned' | 'rotary';
  /** Rotary dims per head (d_head for full rotary; NeoX's rotary_pct takes a part). */
  rotaryDim: number;
  rotaryBase: number;
  /** `rope_scaling` of the layers on `rotaryBase` (Gemma-3: the global layers only); absent = none. */
  ropeScaling?: RopeScaling | null;
  /** Gemma-3: rotary base of the sliding-window layers, which are never scaled; absent = rotaryBase everywhere. */
  rotaryBaseLocal?: number | null;
  /** Qwen3, Gemma-3: an RMSNorm over each head of q and k (LayerWeights qNorm, kNorm) before the rotary embedding. */
  qkNorm?: boolean;
  parallelResidual: boolean;
  activation: Activation;
  gatedMlp: boolean;
  /** Multiplies the token embedding (Gemma: sqrt(d_model)). */
  embedScale: number;
  /** Attention scores multiply by this (1/sqrt(d_head) unless the config says otherwise). */
  attnScale: number;
  attnSoftcap: number | null;
  finalSoftcap: number | null;
  /** Sliding-window size for layers where `slidingLayers[l]` is true. */
  slidingWindow: number | null;
  slidingLayers: boolean[];
  /** Gemma-2's extra norms after attention and after the MLP. */
  postNorms: boolean;
  tiedEmbeddings: boolean;
}

/**
 * Rotary scalings the engine computes (rope.ts), all of which change only the rotary frequencies: Hugging
 * Face's `rope_scaling` kinds linear and llama3, and llama.cpp's rope_freqs tensor (one divisor per frequency).
 */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  | { type: 'divisors'; divisors: number[] };

export interface NormWeights {
  w: Float32Array;
  b?: Float32Array;
}

export interface LayerWeights {
  ln1: NormWeights;
  W_Q: Float32Array; // [n_heads*d_head, d_model]
  W_K: Float32Array; // [n_kv_heads*d_head, d_model]
  W_V: Float32Array;
  W_O: Float32Array; // [d_model, n_heads*d_head]
  /** Qwen3 / Gemma-3 per-head norms of q and k, [d_head] (config.qkNorm). */
  qNorm?: NormWeights;
  kNorm?: NormWeights;
  b_Q?: Float32Array;
  b_K?: Float32Array;
  b_V?: Float32Array;
  b_O?: Float32Array;
  ln1Post?: NormWeights;
  ln2: NormWeights;
  W_in: Float32Array; // [d_mlp, d_model]
  b_in?: Float32Array;
  W_gate?: Float32Array; // [d_mlp, d_model]
  W_out: Float32Array; // [d_model, d_mlp]
  b_out?: Float32Array;
  ln2Post?: NormWeights;
}

export interface ModelWeights {
  W_E: Float32Array; // [d_vocab, d_model]
  W_pos?: Float32Array; // [n_ctx, d_model]
  layers: LayerWeights[];
  lnFinal: NormWeights;
  /** Unembedding stored as [d_vocab, d_model] (HF lm_head layout, or W_E itself when tied). */
  W_U: Float32Array;
  b_U?: Float32Array;
}

export interface ModelSpec {
  config: ModelConfig;
  weights: ModelWeights;
}

/** Reads checkpoint tensors by name, widened to float32, with shape checks against the config. */
export interface TensorSource {
  has(name: string): boolean;
  /** Reads a tensor and checks its shape; throws a UserError naming the file on a mismatch. */
  get(name: string, shape: number[]): Float32Array;
  /**
   * get() of a stored [rows, cols] matrix, transposed to [cols, rows] in the array it was read into (GPT-2's
   * Conv1D layout). The loader may transpose it as soon as it is read, while other reads go on.
   */
  getTransposed(name: string, shape: [rows: number, cols: number]): Float32Array;
  names(): string[];
}

/**
 * Transposes a row-major [rows, cols] matrix. Loading a GPT-2 checkpoint transposes every matrix (its
 * Conv1D layout is [in, out]), so this is written for speed: 32-bit words, not floats (no NaN
 * canonicalisation, bit-exact), eight source rows per pass so each write run is contiguous, and column
 * tiles that keep the eight source rows in cache.
 */
export function transpose(m: Float32Array, rows: number, cols: number, into?: Float32Array): Float32Array {
  // A checkpoint's dry run (names and shapes only, checkpoint/load.ts) passes empty arrays: looping over
  // them would read out of bounds, which is slow and leaves this function deoptimised for the real load.
  if (m.length === 0) return new Float32Array(0);
  if (m.length !== rows * cols) throw new Error(`internal: transpose of ${m.length} values as [${rows}, ${cols}]`);
  if (into && (into.length < m.length || into.buffer === m.buffer)) throw new Error('internal: transpose into a shorter or overlapping array');
  const src = new Uint32Array(m.buffer, m.byteOffset, m.length);
  const out = into ? new Uint32Array(into.buffer, into.byteOffset, m.length) : new Uint32Array(m.length);
  const TILE = 32;
  const rows8 = rows - (rows % 8);
  for (let c0 = 0; c0 < cols; c0 += TILE) {
    const c1 = Math.min(c0 + TILE, cols);
    for (let r = 0; r < rows8; r += 8) {
      for (let c = c0; c < c1; c++) {
        const o = c * rows + r;
        const s = r * cols + c;
        out[o] = src[s]!;
        out[o + 1] = src[s + cols]!;
        out[o + 2] = src[s + 2 * cols]!;
        out[o + 3] = src[s + 3 * cols]!;
        out[o + 4] = src[s + 4 * cols]!;
        out[o + 5] = src[s + 5 * cols]!;
        out[o + 6] = src[s + 6 * cols]!;
        out[o + 7] = src[s + 7 * cols]!;
      }
    }
    for (let r = rows8; r < rows; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = src[r * cols + c]!;
  }
  return new Float32Array(out.buffer, out.byteOffset, m.length);
}

/**
 * Transposes matrices in place, through one scratch array (grown to the largest). A checkpoint's load reads
 * each matrix into an array of its own and transposes it here: a second array per matrix would leave the
 * first for the garbage collector, which during a load holds up to the whole checkpoint once more.
 */
export function inPlaceTransposer(): (m: Float32Array, rows: number, cols: number) => Float32Array {
  let scratch = new Float32Array(0);
  return (m, rows, cols) => {
    if (m.length === 0) return m; // a dry run (see transpose)
    if (scratch.length < m.length) scratch = new Float32Array(m.length);
    m.set(transpose(m, rows, cols, scratch));
    return m;
  };
}

/** Reads an nn.Linear weight, [out, in]: the engine's own layout, so no copy is made. */
export function linear(src: TensorSource, name: string, outDim: number, inDim: number): Float32Array {
  return src.get(name, [outDim, inDim]);
}

export function optional(src: TensorSource, name: string, shape: number[]): Float32Array | undefined {
  return src.has(name) ? src.get(name, shape) : undefined;
}

export type ConfigJson = Record<string, unknown>;

export function num(cfg: ConfigJson, key: string, fallback?: number): number {
  const v = cfg[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (fallback !== undefined) return fallback;
  throw new ConfigError(key);
}

/**
 * Upper bounds for sizes read from config.json, far above any released model: a config is untrusted text,
 * and a size is used to allocate (per-layer tables, graph shapes) before any tensor is read.
 */
export const SIZE_LIMITS = {
  layers: 1024,
  width: 1 << 16, // d_model, d_head * heads
  heads: 1024,
  dHead: 4096,
  dMlp: 1 << 20,
  vocab: 1 << 22,
  context: 1 << 20,
} as const;

/** A size: a positive integer up to `max` (the fallback is used only when the key is absent or null). */
export function size(cfg: ConfigJson, key: string, max: number, fallback?: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return size({ [key]: fallback }, key, max);
    throw new ConfigError(key);
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new ConfigError(key, `"${key}" must be a positive integer of at most ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

/** A finite number > 0 (norm epsilons, rotary bases, soft caps); absent or null takes the fallback. */
export function positive(cfg: ConfigJson, key: string, fallback?: number): number {
  const v = cfg[key];
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(key, `"${key}" must be a finite number > 0 (got ${JSON.stringify(v)})`);
  return v;
}

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message = `missing or invalid "${key}"`,
  ) {
    super(message);
  }
}
