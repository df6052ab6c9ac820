// Random transcoder sets and SAEs written at test time (no committed binaries), seeded, in every format
// the loaders read: circuit-tracer per-layer (ReLU, JumpReLU, TopK, skip), circuit-tracer cross-layer,
// GemmaScope params.npz (written with fflate, independently of the engine's npz reader), GemmaScope-2
// safetensors keys and SAELens folders. Each writer returns the values as stored (rounded to the stored
// dtype) in one canonical layout, for independent checks: W_enc [d_tc, d_model], W_dec [d_tc, nOut,
// d_model], W_skip [d_model, d_model] applied as x @ W_skipᵀ.
//
// Scales assume inputs with per-entry RMS near 1 (the normalised MLP input, `mlp.hook_in`): encoder rows
// of norm ~1 give pre-activations ~N(0, 1), and thresholds of 0.9–1.6 (JumpReLU) or a bias near −1.2
// (ReLU) leave roughly 5–20% of features active.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import type { ModelConfig } from '../../src/engine/architectures/spec';
import { writeSafetensors } from '../../src/engine/checkpoint/safetensorsWriter';
import { seededRandom } from '../../src/engine/checkpoint/synthetic';
import type { TensorToWrite } from '../../src/engine/checkpoint/safetensorsWriter';
import type { LayerHook } from '../../src/engine/hooks';

export type StoredDtype = 'F32' | 'F16' | 'BF16';

export interface FixtureOptions {
  /** Features per layer (default 4 · d_model). */
  dTranscoder?: number;
  /** Storage dtype of every float tensor (default F32). */
  dtype?: StoredDtype;
  inputHook?: LayerHook;
  outputHook?: LayerHook;
}

export interface WrittenLayer {
  W_enc: Float32Array;
  b_enc: Float32Array;
  /** [d_tc, nOut, d_model] */
  W_dec: Float32Array;
  b_dec: Float32Array;
  threshold?: Float32Array;
  W_skip?: Float32Array;
  nOut: number;
}

export interface WrittenSet {
  dir: string;
  dModel: number;
  dTranscoder: number;
  layers: WrittenLayer[];
}

/** Seeded uniform (0, 1) and standard normal samples: the checkpoint generator's. */
export const rng = seededRandom;

/** Rounds to the nearest value the dtype holds, so what a test computes with is exactly what is stored. */
export function quantize(v: number, dtype: StoredDtype): number {
  if (dtype === 'F32' || v === 0) return Math.fround(v);
  const mantissaBits = dtype === 'F16' ? 10 : 7;
  const minExp = dtype === 'F16' ? -14 : -126;
  const e = Math.max(Math.floor(Math.log2(Math.abs(v))), minExp);
  const step = 2 ** (e - mantissaBits);
  return Math.fround(Math.round(v / step) * step);
}

class Gen {
  private readonly r: ReturnType<typeof rng>;
  constructor(
    seed: number,
    private readonly dtype: StoredDtype,
  ) {
    this.r = rng(seed);
  }

  normal(n: number, std: number, mean = 0): Float32Array {
    return Float32Array.from({ length: n }, () => quantize(mean + std * this.r.normal(), this.dtype));
  }

  uniform(n: number, lo: number, hi: number): Float32Array {
    return Float32Array.from({ length: n }, () => quantize(lo + (hi - lo) * this.r.uniform(), this.dtype));
  }

  /** One per-layer transcoder in the canonical layout, scaled as the header says. */
  layer(d: number, dTc: number, activation: 'relu' | 'jumprelu' | 'topk', skip = false): WrittenLayer {
    return {
      W_enc: this.normal(dTc * d, 1 / Math.sqrt(d)),
      b_enc: activation === 'relu' ? this.normal(dTc, 0.1, -1.2) : this.normal(dTc, 0.1),
      W_dec: this.normal(dTc * d, 1 / Math.sqrt(dTc)),
      b_dec: this.normal(d, 0.05),
      threshold: activation === 'jumprelu' ? this.uniform(dTc, 0.9, 1.6) : undefined,
      W_skip: skip ? this.normal(d * d, 0.1 / Math.sqrt(d)) : undefined,
      nOut: 1,
    };
  }
}

function tensor(data: Float32Array, shape: number[], dtype: StoredDtype): TensorToWrite {
  return { dtype, shape, data };
}

function transposed(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  return out;
}

/** config.yaml with the given keys and, if given, a `transcoders` list of files. */
function writeConfig(dir: string, lines: Record<string, string | number>, files?: string[]): void {
  mkdirSync(dir, { recursive: true });
  const list = files ? `transcoders:\n${files.map((f) => `  - ${f}\n`).join('')}` : '';
  writeFileSync(join(dir, 'config.yaml'), Object.entries(lines).map(([k, v]) => `${k}: ${v}\n`).join('') + list);
}

interface PerLayerSpec extends FixtureOptions {
  activation: 'relu' | 'jumprelu' | 'topk';
  k?: number;
  /** Write k as a scalar I64 tensor `k` in each file instead of in config.yaml. */
  kInFile?: boolean;
  skip?: boolean;
}

/** circuit-tracer's per-layer format: config.yaml + layer_{i}.safetensors. */
export function writePerLayerTranscoders(dir: string, config: ModelConfig, seed: number, spec: PerLayerSpec): WrittenSet {
  const d = config.dModel;
  const dTc = spec.dTranscoder ?? 4 * d;
  const dtype = spec.dtype ?? 'F32';
  const g = new Gen(seed, dtype);
  const cfg: Record<string, string | number> = {
    model_kind: 'transcoder_set',
    feature_input_hook: spec.inputHook ?? 'mlp.hook_in',
    feature_output_hook: spec.outputHook ?? 'mlp.hook_out',
    scan: `fixture-${spec.activation}-${seed}`,
  };
  if (spec.activation === 'topk') {
    cfg.activation = 'topk';
    if (!spec.kInFile) cfg.k = spec.k!;
  }
  writeConfig(dir, cfg);
  const layers: WrittenLayer[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const layer = g.layer(d, dTc, spec.activation, spec.skip);
    const tensors: Record<string, TensorToWrite> = {
      W_enc: tensor(layer.W_enc, [dTc, d], dtype),
      b_enc: tensor(layer.b_enc, [dTc], dtype),
      W_dec: tensor(layer.W_dec, [dTc, d], dtype),
      b_dec: tensor(layer.b_dec, [d], dtype),
    };
    if (layer.threshold) tensors['activation_function.threshold'] = tensor(layer.threshold, [dTc], dtype);
    if (layer.W_skip) tensors.W_skip = tensor(layer.W_skip, [d, d], dtype);
    writeSafetensors(join(dir, `layer_${l}.safetensors`), tensors);
    if (spec.kInFile) appendScalarI64(join(dir, `layer_${l}.safetensors`), 'k', spec.k!);
    layers.push(layer);
  }
  return { dir, dModel: d, dTranscoder: dTc, layers };
}

/** Appends a scalar I64 tensor to a safetensors file (writeSafetensors writes floats only). */
function appendScalarI64(file: string, name: string, value: number): void {
  const bytes = readFileSync(file);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.toString('utf8', 8, 8 + headerLen)) as Record<string, { data_offsets?: [number, number] }>;
  const dataEnd = Math.max(0, ...Object.values(header).map((e) => e.data_offsets?.[1] ?? 0));
  header[name] = { dtype: 'I64', shape: [], data_offsets: [dataEnd, dataEnd + 8] } as (typeof header)[string];
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const data = bytes.subarray(8 + headerLen, 8 + headerLen + dataEnd);
  writeFileSync(file, Buffer.concat([len, json, data, Buffer.from(BigInt64Array.from([BigInt(value)]).buffer)]));
}

/** Exact half-precision bytes of values already quantized to F16 / BF16. */
function halfBytes(data: Float32Array, dtype: StoredDtype): Uint8Array {
  const out = new Uint16Array(data.length);
  const bits = new Uint32Array(Float32Array.from(data).buffer);
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'BF16') out[i] = bits[i]! >>> 16;
    else {
      const v = data[i]!;
      const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
      const a = Math.abs(v);
      if (a === 0) out[i] = sign;
      else if (a < 2 ** -14) out[i] = sign | Math.round(a / 2 ** -24);
      else {
        const e = Math.floor(Math.log2(a));
        out[i] = sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
      }
    }
  }
  return new Uint8Array(out.buffer);
}

/** JumpReLU per-layer transcoders (what GemmaScope-style sets are), no skip. */
export function writeJumpReluTranscoders(dir: string, config: ModelConfig, seed: number, options: FixtureOptions = {}): WrittenSet {
  return writePerLayerTranscoders(dir, config, seed, { ...options, activation: 'jumprelu' });
}

/** TopK per-layer transcoders with a linear skip path (as the Llama TopK skip transcoders). */
export function writeTopKSkipTranscoders(dir: string, config: ModelConfig, seed: number, k: number, options: FixtureOptions = {}): WrittenSet {
  return writePerLayerTranscoders(dir, config, seed, { ...options, activation: 'topk', k, skip: true });
}

/** circuit-tracer's cross-layer format: W_enc_{i}.safetensors (JumpReLU thresholds) and W_dec_{i}.safetensors. */
export function writeCrossLayerTranscoders(dir: string, config: ModelConfig, seed: number, options: FixtureOptions = {}): WrittenSet {
  const d = config.dModel;
  const n = config.nLayers;
  const dTc = options.dTranscoder ?? 4 * d;
  const dtype = options.dtype ?? 'F32';
  const g = new Gen(seed, dtype);
  writeConfig(dir, {
    model_kind: 'cross_layer_transcoder',
    feature_input_hook: options.inputHook ?? 'mlp.hook_in',
    feature_output_hook: options.outputHook ?? 'mlp.hook_out',
    scan: `fixture-clt-${seed}`,
  });
  const layers: WrittenLayer[] = [];
  for (let i = 0; i < n; i++) {
    const nOut = n - i;
    // A feature writes into nOut layers: smaller rows keep each layer's total output comparable.
    const layer: WrittenLayer = {
      W_enc: g.normal(dTc * d, 1 / Math.sqrt(d)),
      b_enc: g.normal(dTc, 0.1),
      W_dec: g.normal(dTc * nOut * d, 1 / Math.sqrt(dTc * Math.max(1, i + 1))),
      b_dec: g.normal(d, 0.05),
      threshold: g.uniform(dTc, 0.9, 1.6),
      nOut,
    };
    writeSafetensors(join(dir, `W_enc_${i}.safetensors`), {
      [`W_enc_${i}`]: tensor(layer.W_enc, [dTc, d], dtype),
      [`b_enc_${i}`]: tensor(layer.b_enc, [dTc], dtype),
      [`b_dec_${i}`]: tensor(layer.b_dec, [d], dtype),
      [`threshold_${i}`]: tensor(layer.threshold!, [dTc], dtype),
    });
    writeSafetensors(join(dir, `W_dec_${i}.safetensors`), { [`W_dec_${i}`]: tensor(layer.W_dec, [dTc, nOut, d], dtype) });
    layers.push(layer);
  }
  return { dir, dModel: d, dTranscoder: dTc, layers };
}

/** One .npy file (format 1.0, little-endian, C order), as numpy writes it. */
export function npyBytes(data: Float32Array, shape: number[], descr: '<f4' | '<f2' = '<f4'): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const prefix = new Uint8Array(10);
  prefix.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(prefix.buffer).setUint16(8, header.length, true);
  const body = descr === '<f4' ? new Uint8Array(Float32Array.from(data).buffer) : halfBytes(data, 'F16');
  const out = new Uint8Array(10 + header.length + body.length);
  out.set(prefix);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(body, 10 + header.length);
  return out;
}

/**
 * GemmaScope (v1) transcoders: layer_{i}/params.npz listed in config.yaml, W_enc stored [d_model, d_tc],
 * JumpReLU thresholds, read at ln2.hook_normalized. `compressed` deflates the entries (np.savez_compressed).
 */
export function writeGemmaScopeNpz(dir: string, config: ModelConfig, seed: number, options: FixtureOptions & { compressed?: boolean } = {}): WrittenSet {
  const d = config.dModel;
  const dTc = options.dTranscoder ?? 4 * d;
  const g = new Gen(seed, 'F32');
  const files = Array.from({ length: config.nLayers }, (_, l) => `layer_${l}/width_${dTc}/params.npz`);
  writeConfig(dir, {
    model_kind: 'transcoder_set',
    feature_input_hook: options.inputHook ?? 'ln2.hook_normalized',
    feature_output_hook: options.outputHook ?? 'hook_mlp_out',
    scan: `fixture-gemmascope-${seed}`,
  }, files);
  const layers: WrittenLayer[] = files.map((file) => {
    const layer = g.layer(d, dTc, 'jumprelu');
    const level = options.compressed ? 6 : 0;
    const entry = (data: Float32Array, shape: number[]): [Uint8Array, { level: 0 | 6 }] => [npyBytes(data, shape), { level }];
    const zip = zipSync({
      'W_enc.npy': entry(transposed(layer.W_enc, dTc, d), [d, dTc]),
      'W_dec.npy': entry(layer.W_dec, [dTc, d]),
      'b_enc.npy': entry(layer.b_enc, [dTc]),
      'b_dec.npy': entry(layer.b_dec, [d]),
      'threshold.npy': entry(layer.threshold!, [dTc]),
    });
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), zip);
    return layer;
  });
  return { dir, dModel: d, dTranscoder: dTc, layers };
}

/** GemmaScope-2 keys: w_enc [d_model, d_tc], w_dec, b_enc, b_dec, threshold, optional affine_skip_connection (x @ A). */
export function writeGemmaScope2(dir: string, config: ModelConfig, seed: number, options: FixtureOptions & { skip?: boolean } = {}): WrittenSet {
  const d = config.dModel;
  const dTc = options.dTranscoder ?? 4 * d;
  const dtype = options.dtype ?? 'BF16';
  const g = new Gen(seed, dtype);
  const files = Array.from({ length: config.nLayers }, (_, l) => `transcoder_l${l}.safetensors`);
  writeConfig(dir, {
    model_kind: 'transcoder_set',
    feature_input_hook: options.inputHook ?? 'mlp.hook_in',
    feature_output_hook: options.outputHook ?? 'hook_mlp_out',
  }, files);
  const layers = files.map((file): WrittenLayer => {
    const layer = g.layer(d, dTc, 'jumprelu', options.skip);
    const tensors: Record<string, TensorToWrite> = {
      w_enc: tensor(transposed(layer.W_enc, dTc, d), [d, dTc], dtype),
      w_dec: tensor(layer.W_dec, [dTc, d], dtype),
      b_enc: tensor(layer.b_enc, [dTc], dtype),
      b_dec: tensor(layer.b_dec, [d], dtype),
      threshold: tensor(layer.threshold!, [dTc], dtype),
    };
    // The file's affine_skip_connection A is applied as x @ A, i.e. W_skip = Aᵀ.
    if (layer.W_skip) tensors.affine_skip_connection = tensor(transposed(layer.W_skip, d, d), [d, d], dtype);
    writeSafetensors(join(dir, file), tensors);
    return layer;
  });
  return { dir, dModel: d, dTranscoder: dTc, layers };
}

export interface WrittenSae {
  dir: string;
  hook: string;
  dIn: number;
  dSae: number;
  /** [d_sae, d_in] (transposed from the file's [d_in, d_sae]) */
  W_enc: Float32Array;
  b_enc: Float32Array;
  W_dec: Float32Array;
  b_dec: Float32Array;
  threshold?: Float32Array;
}

/** A SAELens folder: cfg.json + sae_weights.safetensors (W_enc [d_in, d_sae], W_dec [d_sae, d_in]). */
export function writeSaeLens(
  dir: string,
  dIn: number,
  seed: number,
  options: { hook: string; architecture: 'standard' | 'jumprelu' | 'topk'; dSae?: number; k?: number; applyBDecToInput?: boolean; dtype?: StoredDtype; cfg?: Record<string, unknown> },
): WrittenSae {
  const dSae = options.dSae ?? 4 * dIn;
  const dtype = options.dtype ?? 'F32';
  const g = new Gen(seed, dtype);
  const sae: WrittenSae = {
    dir,
    hook: options.hook,
    dIn,
    dSae,
    W_enc: g.normal(dSae * dIn, 1 / Math.sqrt(dIn)),
    b_enc: options.architecture === 'standard' ? g.normal(dSae, 0.1, -1.2) : g.normal(dSae, 0.1),
    W_dec: g.normal(dSae * dIn, 1 / Math.sqrt(dSae)),
    b_dec: g.normal(dIn, 0.05),
    threshold: options.architecture === 'jumprelu' ? g.uniform(dSae, 0.9, 1.6) : undefined,
  };
  mkdirSync(dir, { recursive: true });
  const cfg: Record<string, unknown> = {
    architecture: options.architecture,
    d_in: dIn,
    d_sae: dSae,
    hook_name: options.hook,
    apply_b_dec_to_input: options.applyBDecToInput ?? false,
    normalize_activations: 'none',
    dtype: 'float32',
    ...(options.architecture === 'topk' ? { k: options.k } : {}),
    ...options.cfg,
  };
  writeFileSync(join(dir, 'cfg.json'), JSON.stringify(cfg, null, 2));
  const tensors: Record<string, TensorToWrite> = {
    W_enc: tensor(transposed(sae.W_enc, dSae, dIn), [dIn, dSae], dtype),
    W_dec: tensor(sae.W_dec, [dSae, dIn], dtype),
    b_enc: tensor(sae.b_enc, [dSae], dtype),
    b_dec: tensor(sae.b_dec, [dIn], dtype),
  };
  if (sae.threshold) tensors.threshold = tensor(sae.threshold, [dSae], dtype);
  writeSafetensors(join(dir, 'sae_weights.safetensors'), tensors);
  return sae;
}
