// The transcoder file layouts MechLens reads (see shared/design/attribution-graphs.md §1d), each mapped
// onto one description: encoder [d_tc, d_model] rows, biases, thresholds, skip [d_model, d_model] applied
// as x @ W_skipᵀ, and the decoder as a stored array of rows [d_tc, nOut · d_model] that the set reads
// whole or row by row. Everything that does not fit the model is a UserError naming the file.
import { cachedHubFile, isRemoteEntry, parseHfUri } from '../../hub/cache';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { basename, extname, isAbsolute, join } from 'node:path';
import { UserError } from '../../errors';
import { readSafetensorsHeader } from '../../checkpoint/safetensors';
import type { TensorEntry } from '../../checkpoint/safetensors';
import { transpose } from '../../architectures/spec';
import { readNpz } from './npz';
import { checkFinite, fromSafetensors, readFully } from './storedArray';
import type { StoredArray } from './storedArray';
import type { TranscoderActivation } from '../transcoders';

/** Pickle formats execute code when loaded; they are never read. */
export const PICKLE_EXTENSIONS = ['.pt', '.pth', '.bin', '.ckpt', '.pkl'];

/** One layer as read from its files, before the decoder is made resident or left on disk. */
export interface LayerPlan {
  layer: number;
  file: string;
  dTranscoder: number;
  activation: TranscoderActivation;
  W_enc: Float32Array;
  b_enc: Float32Array;
  b_dec: Float32Array;
  threshold?: Float32Array;
  W_skip?: Float32Array;
  /** [d_tc, nOut, d_model] on disk. */
  W_dec: StoredArray;
  nOut: number;
}

/** The arrays of one file by name (safetensors or npz); pickles and unknown formats are refused. */
export function openArrays(file: string): Map<string, StoredArray> {
  const ext = extname(file).toLowerCase();
  if (PICKLE_EXTENSIONS.includes(ext)) {
    throw new UserError(`${basename(file)} is a pickle file (${ext}): loading it could execute code, so MechLens never reads it. Convert it to safetensors.`);
  }
  if (!existsSync(file)) throw new UserError(`${file} is missing.`);
  if (ext === '.npz') return readNpz(file);
  if (ext !== '.safetensors') throw new UserError(`${basename(file)}: unsupported file type ${ext || '(none)'}; transcoders are read from .safetensors or .npz files.`);
  const header = readSafetensorsHeader(file);
  return new Map([...header.tensors].map(([name, e]) => [name, isIntDtype(e.dtype) ? intArray(e) : fromSafetensors(e)]));
}

function isIntDtype(dtype: string): boolean {
  return /^[IU]\d+$/.test(dtype);
}

/** Integer tensors (e.g. a TopK `k`) read as float32 values. */
function intArray(e: TensorEntry): StoredArray {
  return {
    file: e.file,
    name: e.name,
    shape: e.shape,
    dtype: e.dtype,
    read: () => {
      const raw = new Uint8Array(e.byteLength);
      const fd = openSync(e.file, 'r');
      try {
        readFully(fd, raw, e.offset, e.file);
      } finally {
        closeSync(fd);
      }
      switch (e.dtype) {
        case 'I64':
          return Float32Array.from(new BigInt64Array(raw.buffer), Number);
        case 'I32':
          return Float32Array.from(new Int32Array(raw.buffer));
        case 'I16':
          return Float32Array.from(new Int16Array(raw.buffer));
        case 'I8':
          return Float32Array.from(new Int8Array(raw.buffer));
        case 'U8':
          return Float32Array.from(raw);
        default:
          throw new UserError(`${basename(e.file)}: tensor ${e.name} has unsupported dtype ${e.dtype}.`);
      }
    },
  };
}

/** Key names and orientations of one per-layer layout. */
interface Layout {
  format: 'circuit-tracer' | 'gemmascope' | 'gemmascope-2';
  W_enc: string;
  /** Stored [d_model, d_tc] (transposed on load) instead of [d_tc, d_model]. */
  encTransposed: boolean;
  W_dec: string;
  b_enc: string;
  b_dec: string;
  threshold: string;
  W_skip?: string;
  /** Stored so that the model applies x @ W (transposed on load into W_skip, applied as x @ W_skipᵀ). */
  skipTransposed: boolean;
  k?: string;
}

const CIRCUIT_TRACER: Layout = {
  format: 'circuit-tracer',
  W_enc: 'W_enc',
  encTransposed: false,
  W_dec: 'W_dec',
  b_enc: 'b_enc',
  b_dec: 'b_dec',
  threshold: 'activation_function.threshold',
  W_skip: 'W_skip',
  skipTransposed: false,
  k: 'k',
};
const GEMMASCOPE: Layout = { format: 'gemmascope', W_enc: 'W_enc', encTransposed: true, W_dec: 'W_dec', b_enc: 'b_enc', b_dec: 'b_dec', threshold: 'threshold', skipTransposed: false };
const GEMMASCOPE_2: Layout = {
  format: 'gemmascope-2',
  W_enc: 'w_enc',
  encTransposed: true,
  W_dec: 'w_dec',
  b_enc: 'b_enc',
  b_dec: 'b_dec',
  threshold: 'threshold',
  W_skip: 'affine_skip_connection',
  skipTransposed: true,
};

function layoutOf(file: string, arrays: Map<string, StoredArray>): Layout {
  if (extname(file).toLowerCase() === '.npz') return GEMMASCOPE;
  if (arrays.has('W_enc')) return CIRCUIT_TRACER;
  if (arrays.has('w_enc')) return GEMMASCOPE_2;
  throw new UserError(
    `${basename(file)} is not a transcoder file MechLens knows: it has no W_enc (circuit-tracer) or w_enc (GemmaScope-2) tensor (tensors: ${[...arrays.keys()].slice(0, 12).join(', ')}).`,
  );
}

/** Reads arrays with shape checks; messages name the file, the tensor and the model's d_model. */
export class ArrayReader {
  constructor(
    readonly file: string,
    private readonly arrays: Map<string, StoredArray>,
    /** What the shapes are checked against, for messages ("the model's d_model is 2304"). */
    private readonly expected: string,
  ) {}

  has(name: string): boolean {
    return this.arrays.has(name);
  }

  entry(name: string, shape?: number[]): StoredArray {
    const a = this.arrays.get(name);
    if (!a) throw new UserError(`${basename(this.file)} has no tensor ${name} (it has: ${[...this.arrays.keys()].slice(0, 12).join(', ')}).`);
    if (shape && (a.shape.length !== shape.length || a.shape.some((x, i) => x !== shape[i]))) {
      throw new UserError(
        `Transcoders do not match the model: ${basename(this.file)} ${name} has shape [${a.shape.join(', ')}], expected [${shape.join(', ')}] (${this.expected}).`,
      );
    }
    return a;
  }

  /** The whole array as float32, checked for NaN and infinities. */
  read(name: string, shape?: number[]): Float32Array {
    const data = this.entry(name, shape).read();
    checkFinite(data, this.file, name);
    return data;
  }

  /** Length of a 1-D array (dimensions are inferred from the biases, as circuit-tracer does). */
  vectorLength(name: string): number {
    const a = this.entry(name);
    if (a.shape.length !== 1) throw new UserError(`${basename(this.file)}: ${name} has shape [${a.shape.join(', ')}], expected a vector.`);
    return a.shape[0]!;
  }
}

/** What config.yaml says about the activation, for `activationOf`. */
export interface ActivationConfig {
  activation?: unknown;
  k?: unknown;
}

/**
 * config.yaml's `activation` (topk / relu / jumprelu), else what the file holds: a `k` tensor means TopK,
 * thresholds mean JumpReLU, neither ReLU (circuit-tracer's rule).
 */
function activationOf(cfg: ActivationConfig, r: ArrayReader, thresholdKey: string, kKey: string | undefined, dTc: number): TranscoderActivation {
  const declared = cfg.activation === undefined || cfg.activation === null ? undefined : String(cfg.activation).toLowerCase();
  const hasK = kKey !== undefined && r.has(kKey);
  const kind = declared ?? (hasK ? 'topk' : r.has(thresholdKey) ? 'jumprelu' : 'relu');
  if (kind === 'relu') return { kind: 'relu' };
  if (kind === 'jumprelu') {
    if (!r.has(thresholdKey)) throw new UserError(`config.yaml says activation jumprelu but ${basename(r.file)} has no ${thresholdKey} tensor.`);
    return { kind: 'jumprelu' };
  }
  if (kind !== 'topk') throw new UserError(`config.yaml: activation "${String(cfg.activation)}" is not supported (supported: relu, jumprelu, topk).`);
  let k: number;
  if (cfg.k !== undefined && cfg.k !== null) k = Number(cfg.k);
  else if (hasK) {
    const v = r.read(kKey!);
    if (v.length !== 1) throw new UserError(`${basename(r.file)}: ${kKey} must be a scalar, it has shape [${r.entry(kKey!).shape.join(', ')}].`);
    k = v[0]!;
  } else throw new UserError(`Transcoders use TopK but neither config.yaml nor ${basename(r.file)} gives k (add "k: N" to config.yaml).`);
  if (!Number.isInteger(k) || k < 1 || k > dTc) throw new UserError(`TopK k must be an integer from 1 to d_transcoder (${dTc}); got ${String(cfg.k ?? k)} for ${basename(r.file)}.`);
  return { kind: 'topk', k };
}

/** One per-layer transcoder file (circuit-tracer, GemmaScope npz or GemmaScope-2 safetensors). */
export function readPerLayerFile(file: string, layer: number, dModel: number, cfg: ActivationConfig): LayerPlan & { format: Layout['format'] } {
  const arrays = openArrays(file);
  const L = layoutOf(file, arrays);
  const r = new ArrayReader(file, arrays, `the model's d_model is ${dModel}`);
  const name = basename(file);
  const dDec = r.vectorLength(L.b_dec);
  if (dDec !== dModel) throw new UserError(`Transcoders do not match the model: ${name} ${L.b_dec} has length ${dDec} but the model's d_model is ${dModel}.`);
  const dTc = r.vectorLength(L.b_enc);
  const encRaw = r.read(L.W_enc, L.encTransposed ? [dModel, dTc] : [dTc, dModel]);
  const activation = activationOf(cfg, r, L.threshold, L.k, dTc);
  let W_skip: Float32Array | undefined;
  if (L.W_skip && r.has(L.W_skip)) {
    const raw = r.read(L.W_skip, [dModel, dModel]);
    W_skip = L.skipTransposed ? transpose(raw, dModel, dModel) : raw;
  }
  return {
    format: L.format,
    layer,
    file,
    dTranscoder: dTc,
    activation,
    W_enc: L.encTransposed ? transpose(encRaw, dModel, dTc) : encRaw,
    b_enc: r.read(L.b_enc, [dTc]),
    b_dec: r.read(L.b_dec, [dModel]),
    threshold: activation.kind === 'jumprelu' ? r.read(L.threshold, [dTc]) : undefined,
    W_skip,
    W_dec: r.entry(L.W_dec, [dTc, dModel]),
    nOut: 1,
  };
}

/** circuit-tracer's cross-layer format: W_enc_{i}.safetensors (encoder, biases, thresholds) and W_dec_{i}.safetensors. */
export function readCrossLayerFiles(dir: string, nLayers: number, dModel: number, cfg: ActivationConfig): LayerPlan[] {
  const indices = readdirSync(dir)
    .map((f) => /^W_enc_(\d+)\.safetensors$/.exec(f)?.[1])
    .filter((x): x is string => x !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  if (indices.length === 0) throw new UserError(`${dir}: config.yaml says cross_layer_transcoder but there is no W_enc_0.safetensors.`);
  if (indices.length !== nLayers || indices[indices.length - 1] !== nLayers - 1) {
    const missing = Array.from({ length: nLayers }, (_, i) => i).filter((i) => !indices.includes(i));
    throw new UserError(
      `Transcoders in ${dir} do not match the model: ${indices.length} encoder files (W_enc_${indices.join(', W_enc_')}) for a model with ${nLayers} layers` +
        (missing.length ? `; missing W_enc_${missing.join('.safetensors, W_enc_')}.safetensors.` : '.'),
    );
  }
  return indices.map((i) => {
    const encFile = join(dir, `W_enc_${i}.safetensors`);
    const decFile = join(dir, `W_dec_${i}.safetensors`);
    if (!existsSync(decFile)) throw new UserError(`Transcoders in ${dir}: W_dec_${i}.safetensors is missing (every W_enc_${i} needs its decoder).`);
    const r = new ArrayReader(encFile, openArrays(encFile), `the model's d_model is ${dModel}`);
    const dDec = r.vectorLength(`b_dec_${i}`);
    if (dDec !== dModel) throw new UserError(`Transcoders do not match the model: W_enc_${i}.safetensors b_dec_${i} has length ${dDec} but the model's d_model is ${dModel}.`);
    const dTc = r.vectorLength(`b_enc_${i}`);
    const activation = activationOf(cfg, r, `threshold_${i}`, undefined, dTc);
    const dec = new ArrayReader(decFile, openArrays(decFile), `the model has ${nLayers} layers and d_model ${dModel}`);
    return {
      layer: i,
      file: encFile,
      dTranscoder: dTc,
      activation,
      W_enc: r.read(`W_enc_${i}`, [dTc, dModel]),
      b_enc: r.read(`b_enc_${i}`, [dTc]),
      b_dec: r.read(`b_dec_${i}`, [dModel]),
      threshold: activation.kind === 'jumprelu' ? r.read(`threshold_${i}`, [dTc]) : undefined,
      W_dec: dec.entry(`W_dec_${i}`, [dTc, nLayers - i, dModel]),
      nOut: nLayers - i,
    };
  });
}

/**
 * The per-layer files of a set: config.yaml's `transcoders` list (local paths relative to the folder, hf://
 * files from the Hugging Face cache, or `{layer, filepath}` entries as in older configs), else
 * layer_{i}.safetensors. Exactly one per layer.
 */
export function perLayerFiles(dir: string, list: unknown, nLayers: number): string[] {
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list)) throw new UserError(`config.yaml in ${dir}: "transcoders" must be a list of files, one per layer.`);
    const files = list.map((item, i) => {
      const path = typeof item === 'string' ? item : typeof item === 'object' && item !== null ? (item as { filepath?: unknown }).filepath : undefined;
      if (typeof path !== 'string') throw new UserError(`config.yaml in ${dir}: transcoders entry ${i} is not a file path.`);
      if (isRemoteEntry(path)) {
        // hf:// files are read from the Hugging Face cache, where `mechlens download --transcoders` puts them.
        const hub = path.startsWith('hf://') ? parseHfUri(path) : undefined;
        const cached = hub ? cachedHubFile(hub) : undefined;
        if (cached) return cached;
        throw new UserError(
          hub
            ? `config.yaml in ${dir} lists ${path}, which is not in the Hugging Face cache yet. Download the set's files with \`mechlens download --transcoders ${dir}\` or MechLens: Download Transcoder Files….`
            : `config.yaml in ${dir} lists ${path}: MechLens reads local files and hf:// files in the Hugging Face cache only. Download it into ${dir} and list its relative path.`,
        );
      }
      return isAbsolute(path) ? path : join(dir, path);
    });
    if (files.length !== nLayers) throw new UserError(`Transcoders in ${dir} do not match the model: config.yaml lists ${files.length} files but the model has ${nLayers} layers.`);
    for (const f of files) {
      if (PICKLE_EXTENSIONS.includes(extname(f).toLowerCase())) openArrays(f); // refuses with the pickle message
      if (!existsSync(f)) throw new UserError(`Transcoders in ${dir}: ${basename(f)}, listed in config.yaml, is missing.`);
    }
    return files;
  }
  const names = readdirSync(dir);
  const indices = names.map((f) => /^layer_(\d+)\.safetensors$/.exec(f)?.[1]).filter((x): x is string => x !== undefined).map(Number);
  if (indices.length === 0) {
    const pickles = names.filter((f) => PICKLE_EXTENSIONS.includes(extname(f).toLowerCase()));
    if (pickles.length) openArrays(join(dir, pickles[0]!));
    throw new UserError(`Transcoders in ${dir}: no layer_0.safetensors … layer_${nLayers - 1}.safetensors and no "transcoders" list in config.yaml.`);
  }
  const extra = indices.filter((i) => i >= nLayers);
  if (extra.length) {
    throw new UserError(`Transcoders in ${dir} do not match the model: there are files up to layer_${Math.max(...indices)}.safetensors but the model has ${nLayers} layers.`);
  }
  return Array.from({ length: nLayers }, (_, l) => {
    if (!indices.includes(l)) throw new UserError(`Transcoders in ${dir} do not match the model: layer_${l}.safetensors is missing (the model has ${nLayers} layers).`);
    return join(dir, `layer_${l}.safetensors`);
  });
}
