// Turns a Hugging Face checkpoint folder (or a llama.cpp .gguf file, read by gguf.ts) into a ModelSpec: config.json -> architecture adapter,
// safetensors (single or sharded via model.safetensors.index.json) -> float32 weights, optional
// tokenizer.json. Refuses pickle checkpoints, unsupported model types, and checkpoints too large
// for free memory, each with a message naming the file and what to do.
import { readdirSync, statSync } from 'node:fs';
import { freemem } from 'node:os';
import { basename, join } from 'node:path';
import { UserError } from '../errors';
import { MiB, fileErrorReason, isJsonObject, readJsonFile } from '../files';
import { gemma2Config } from '../architectures/gemma2';
import { gemma3Config, gemma3MultimodalConfig, gemma3MultimodalWeights } from '../architectures/gemma3';
import { gpt2Config, gpt2Weights } from '../architectures/gpt2';
import { llamaConfig, llamaWeights, qwen3Config } from '../architectures/llama';
import { neoxConfig, neoxWeights } from '../architectures/neox';
import { SIZE_LIMITS, inPlaceTransposer } from '../architectures/spec';
import type { ConfigJson, ModelConfig, ModelSpec, TensorSource } from '../architectures/spec';
import { readSafetensorsHeader, readTensorF32, readTensorF32InBackground } from './safetensors';
import { isGgufPath, openGgufCheckpoint } from './gguf';
import { PromptTokenizer } from './tokenizer';
import { modelNameForDir } from '../hub/repoId';
import type { Architecture, ModelInfo } from '../../shared/modelInfo';

interface ArchitectureAdapter {
  config(cfg: ConfigJson): ModelConfig;
  weights(config: ModelConfig, src: TensorSource): ModelSpec;
}

/** Supported `model_type` values. Adding an architecture = one adapter file + one line here. */
export const ARCHITECTURES: Record<string, ArchitectureAdapter & { architecture: Architecture }> = {
  gpt2: { architecture: 'gpt2', config: gpt2Config, weights: gpt2Weights },
  gpt_neox: { architecture: 'gpt_neox', config: neoxConfig, weights: neoxWeights },
  llama: { architecture: 'llama', config: (c) => llamaConfig(c, 'llama'), weights: llamaWeights },
  mistral: { architecture: 'llama', config: (c) => llamaConfig(c, 'llama'), weights: llamaWeights },
  qwen2: { architecture: 'qwen2', config: (c) => llamaConfig(c, 'qwen2'), weights: llamaWeights },
  qwen3: { architecture: 'qwen3', config: qwen3Config, weights: llamaWeights },
  gemma2: { architecture: 'gemma2', config: gemma2Config, weights: llamaWeights },
  gemma3_text: { architecture: 'gemma3', config: gemma3Config, weights: llamaWeights },
  gemma3: { architecture: 'gemma3', config: gemma3MultimodalConfig, weights: gemma3MultimodalWeights },
};

const PICKLE_EXTENSIONS = ['.bin', '.pt', '.pth', '.ckpt', '.pkl'];
/** Largest JSON files read from a model folder (a config is kilobytes; the largest tokenizers tens of MiB). */
const MAX_CONFIG_BYTES = 16 * MiB;
const MAX_INDEX_BYTES = 64 * MiB;

/** A stored tensor under its Hugging Face name (safetensors, or GGUF mapped by gguf.ts). */
export interface CheckpointTensor {
  name: string;
  /** As stored: F32, F16, BF16, or a GGUF quantisation such as Q8_0. */
  dtype: string;
  shape: number[];
  file: string;
  /** The data widened or dequantised to float32 in Hugging Face's layout. */
  read(): Float32Array;
  /** read() with the file read queued on libuv's thread pool before it returns, and the bytes it reads (safetensors). */
  background?: { bytes: number; read(): Promise<Float32Array> };
}

export interface CheckpointFiles {
  /** The checkpoint folder, or the .gguf file. */
  dir: string;
  configJson: ConfigJson;
  adapter: ArchitectureAdapter & { architecture: Architecture };
  config: ModelConfig;
  entries: Map<string, CheckpointTensor>;
  tokenizerPath?: string;
  tokenizerConfigPath?: string;
  /** A tokenizer.json built in memory (GGUF metadata), used when there is no tokenizerPath. */
  tokenizerJson?: { json: Record<string, unknown>; config: Record<string, unknown> };
  /** Said when the model loads (GGUF: dequantised weights, unused tensors). */
  notes?: string[];
}

export interface LoadOptions {
  /** Free memory to check against (bytes); defaults to os.freemem(). Tests inject it. */
  freeMemoryBytes?: number;
  /** Report progress as weights are read. */
  onProgress?: (message: string, fraction: number) => void;
}

export interface LoadedCheckpoint {
  spec: ModelSpec;
  tokenizer?: PromptTokenizer;
  info: ModelInfo;
}

/** Reads config.json and the safetensors headers, without reading weights. */
export function inspectCheckpoint(dir: string): CheckpointFiles {
  if (isGgufPath(dir)) return inspectGguf(dir);
  let files: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new UserError(`${dir} is not a folder. Choose a checkpoint folder holding config.json and *.safetensors.`);
    files = readdirSync(dir);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${dir} is not a folder (${fileErrorReason(e)}). Choose a checkpoint folder holding config.json and *.safetensors.`);
  }
  const configPath = join(dir, 'config.json');
  if (!files.includes('config.json')) {
    throw new UserError(`${dir} has no config.json. A Hugging Face checkpoint folder holds config.json, model.safetensors (or shards with model.safetensors.index.json) and usually tokenizer.json.`);
  }
  const parsed = readJsonFile(configPath, `config.json in ${dir}`, MAX_CONFIG_BYTES);
  if (!isJsonObject(parsed)) throw new UserError(`config.json in ${dir} must be a JSON object (got ${parsed === null ? 'null' : Array.isArray(parsed) ? 'a list' : typeof parsed}).`);
  const configJson: ConfigJson = parsed;
  const { adapter, config } = adapterFor(configJson, 'config.json');

  const shardFiles = safetensorFiles(dir, files);
  const entries = new Map<string, CheckpointTensor>();
  for (const f of shardFiles) {
    for (const [name, entry] of readSafetensorsHeader(join(dir, f)).tensors) {
      // Which copy would win is an accident of file order: a tensor in two shards is refused.
      const other = entries.get(name);
      if (other) throw new UserError(`Tensor ${name} is in two weight files (${basename(other.file)} and ${f}): the checkpoint is inconsistent.`);
      entries.set(name, { ...entry, read: () => readTensorF32(entry), background: { bytes: entry.byteLength, read: () => readTensorF32InBackground(entry) } });
    }
  }
  return {
    dir,
    configJson,
    adapter,
    config,
    entries,
    tokenizerPath: files.includes('tokenizer.json') ? join(dir, 'tokenizer.json') : undefined,
    tokenizerConfigPath: files.includes('tokenizer_config.json') ? join(dir, 'tokenizer_config.json') : undefined,
  };
}

function adapterFor(configJson: ConfigJson, what: string, overrides: Partial<ModelConfig> = {}): { adapter: CheckpointFiles['adapter']; config: ModelConfig } {
  const modelType = String(configJson.model_type ?? '');
  const adapter = ARCHITECTURES[modelType];
  if (!adapter) {
    throw new UserError(`${what}: model_type "${modelType}" is not supported. Supported model types: ${Object.keys(ARCHITECTURES).join(', ')}.`);
  }
  let config: ModelConfig;
  try {
    config = { ...adapter.config(configJson), ...overrides };
    checkConfig(config);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new UserError(`${what} (${modelType}): ${msg}.`);
  }
  return { adapter, config };
}

/** A llama.cpp GGUF file: its metadata stands in for config.json, its tensors are renamed (gguf.ts). */
function inspectGguf(file: string): CheckpointFiles {
  const g = openGgufCheckpoint(file);
  const { adapter, config } = adapterFor(g.configJson, `${basename(file)} (GGUF metadata)`, g.configOverrides);
  const entries = new Map<string, CheckpointTensor>();
  for (const [name, t] of g.tensors) entries.set(name, { name, dtype: t.info.type, shape: t.info.shape, file, read: t.read });
  const tokenizerJson = g.tokenizerJson ? { json: g.tokenizerJson, config: g.tokenizerConfig ?? {} } : undefined;
  return { dir: file, configJson: g.configJson, adapter, config, entries, tokenizerJson, notes: g.warnings };
}

function safetensorFiles(dir: string, files: string[]): string[] {
  if (files.includes('model.safetensors.index.json')) {
    const index = readJsonFile(join(dir, 'model.safetensors.index.json'), 'model.safetensors.index.json', MAX_INDEX_BYTES);
    const weightMap = isJsonObject(index) ? index.weight_map : undefined;
    if (!isJsonObject(weightMap)) throw new UserError('model.safetensors.index.json must be a JSON object with a "weight_map" object.');
    const values = Object.values(weightMap);
    if (!values.every((v): v is string => typeof v === 'string')) throw new UserError('model.safetensors.index.json: every weight_map value must be a shard file name.');
    const shards = [...new Set(values)];
    if (shards.length === 0) throw new UserError('model.safetensors.index.json has an empty weight_map.');
    for (const s of shards) {
      if (s.includes('/') || s.includes('\\') || !files.includes(s)) throw new UserError(`model.safetensors.index.json names shard ${s}, which is not in the folder.`);
    }
    return shards;
  }
  // Hugging Face names weight files model.safetensors or model-0000i-of-0000n.safetensors; other
  // safetensors files in a folder (adapters, transcoders, goldens) are not the model's weights.
  const st = files.filter((f) => /^model(-\d+-of-\d+)?\.safetensors$/.test(f)).sort();
  if (st.includes('model.safetensors')) return ['model.safetensors'];
  if (st.length > 0) return st;
  const pickles = files.filter((f) => PICKLE_EXTENSIONS.some((ext) => f.endsWith(ext)));
  if (pickles.length > 0) {
    throw new UserError(
      `${dir} holds only pickle checkpoints (${pickles.join(', ')}). MechLens refuses pickle files because loading them can execute arbitrary code. ` +
        'Convert the checkpoint to safetensors (for example with transformers: model.save_pretrained(dir, safe_serialization=True)) and add that folder.',
    );
  }
  throw new UserError(`${dir} has no *.safetensors weights.`);
}

/** What an adapter asks of a checkpoint, recorded by its dry run: the tensors it reads, in order, and those it transposes. */
interface TensorRequests {
  used: Set<string>;
  transposed: Map<string, [number, number]>;
}

/** A tensor read ahead of the adapter's call, transposed if the dry run saw it asked for so. */
interface ReadTensor {
  data: Float32Array;
  transposed: boolean;
}

/**
 * The adapters' view of the checkpoint. With `record` it gives empty arrays (names and shapes only) and notes
 * what was asked; `readAhead` holds tensors already read, each handed out once (an adapter may keep or change
 * what it gets).
 */
function tensorSource(files: CheckpointFiles, options: { record?: TensorRequests; readAhead?: Map<string, ReadTensor> } = {}): TensorSource {
  const { record, readAhead } = options;
  const transpose = inPlaceTransposer();
  const entry = (name: string, shape: number[]): CheckpointTensor => {
    const e = files.entries.get(name);
    if (!e) throw new UserError(`Checkpoint in ${files.dir} is missing tensor ${name} (needed by ${files.config.modelType}).`);
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(`${basename(e.file)}: tensor ${name} has shape [${e.shape.join(', ')}] but config.json implies [${shape.join(', ')}].`);
    }
    record?.used.add(name);
    return e;
  };
  const takeAhead = (name: string, transposed: boolean): Float32Array | undefined => {
    const ahead = readAhead?.get(name);
    if (!ahead || ahead.transposed !== transposed) return undefined;
    readAhead!.delete(name);
    return ahead.data;
  };
  return {
    has: (name) => files.entries.has(name),
    names: () => [...files.entries.keys()],
    get(name, shape) {
      const e = entry(name, shape);
      if (record) return new Float32Array(0);
      return takeAhead(name, false) ?? e.read();
    },
    getTransposed(name, shape) {
      const e = entry(name, shape);
      if (record) {
        record.transposed.set(name, shape);
        return new Float32Array(0);
      }
      return takeAhead(name, true) ?? transpose(e.read(), shape[0], shape[1]);
    },
  };
}

/**
 * Sizes the adapters do not check one by one: relations between them (heads that split the width,
 * key/value heads that divide the query heads, a rotary part within a head). A config is untrusted: a
 * wrong relation would build a graph that computes something else, or fail deep inside onnxruntime.
 */
function checkConfig(c: ModelConfig): void {
  if (!Number.isInteger(c.dHead) || c.dHead < 1 || c.dHead > SIZE_LIMITS.dHead) {
    throw new Error(`${c.nHeads} heads do not divide the width ${c.dModel} (d_head would be ${c.dHead}); set head_dim or fix the head count`);
  }
  if (c.nKvHeads > c.nHeads || c.nHeads % c.nKvHeads !== 0) throw new Error(`${c.nKvHeads} key/value heads do not divide ${c.nHeads} attention heads`);
  if (c.nHeads * c.dHead > SIZE_LIMITS.width) throw new Error(`${c.nHeads} heads of ${c.dHead} exceed the largest supported attention width ${SIZE_LIMITS.width}`);
  if (c.positional === 'rotary' && (c.rotaryDim < 2 || c.rotaryDim % 2 !== 0 || c.rotaryDim > c.dHead)) {
    throw new Error(`the rotary part of each head (${c.rotaryDim} dims) must be an even number from 2 to d_head ${c.dHead}`);
  }
  if (!(c.normEps > 0 && c.normEps < 1)) throw new Error(`the norm epsilon ${c.normEps} must be between 0 and 1`);
  if (!Number.isFinite(c.attnScale) || c.attnScale <= 0) throw new Error(`the attention scale ${c.attnScale} must be a finite number > 0`);
}

/**
 * Checks names and shapes without reading data. Returns what the architecture asks of the checkpoint and the
 * spec with empty weight arrays: the model's shapes and structure.
 */
function dryRun(files: CheckpointFiles): { requests: TensorRequests; shapes: ModelSpec } {
  const requests: TensorRequests = { used: new Set(), transposed: new Map() };
  const shapes = files.adapter.weights(files.config, tensorSource(files, { record: requests }));
  checkLayerCount(files, requests.used);
  return { requests, shapes };
}

/**
 * A config that declares fewer layers than the checkpoint holds would run part of the model and give
 * plausible but wrong answers: refuse when an unused tensor belongs to a layer at or past n_layers.
 */
function checkLayerCount(files: CheckpointFiles, used: Set<string>): void {
  let last = -1;
  for (const name of files.entries.keys()) {
    // A multimodal checkpoint's vision tower has layers of its own, which the text model never reads.
    if (used.has(name) || /(?:^|\.)(?:vision_tower|vision_model|multi_modal_projector)\./.test(name)) continue;
    const m = /(?:^|\.)(?:h|layers|layer|blocks)\.(\d+)\./.exec(name);
    if (m) last = Math.max(last, Number(m[1]));
  }
  if (last >= files.config.nLayers) {
    throw new UserError(`config.json says ${files.config.nLayers} layers but the checkpoint in ${files.dir} has weights for layer ${last} (${last + 1} or more layers). Fix the layer count in config.json.`);
  }
}

function makeInfo(files: CheckpointFiles, used: Set<string>, warnings: string[]): ModelInfo {
  const c = files.config;
  let params = 0;
  // Count only the tensors the model reads (hub GPT-2 files also carry attention-mask buffers).
  for (const name of used) params += files.entries.get(name)!.shape.reduce((a, b) => a * b, 1);
  const { architecture, modelType, nLayers, dModel, nHeads, nKvHeads, dHead, dMlp, dVocab, nCtx } = c;
  return {
    dir: files.dir,
    name: modelNameForDir(files.dir),
    architecture,
    modelType,
    nLayers,
    dModel,
    nHeads,
    nKvHeads,
    dHead,
    dMlp,
    dVocab,
    nCtx,
    parameterCount: params,
    weightBytes: params * 4,
    storedDtypes: [...new Set([...used].map((n) => files.entries.get(n)!.dtype))],
    hasTokenizer: files.tokenizerPath !== undefined || files.tokenizerJson !== undefined,
    warnings,
  };
}

/** Validates a folder as fully as possible without reading weights (headers, names, shapes). */
export function validateCheckpoint(dir: string): ModelInfo {
  const files = inspectCheckpoint(dir);
  const warnings = [...(files.notes ?? [])];
  if (!files.tokenizerPath && !files.tokenizerJson && !files.notes) warnings.push('No tokenizer.json: prompts must be given as token ids.');
  return makeInfo(files, dryRun(files).requests.used, warnings);
}

export function loadCheckpoint(dir: string, options: LoadOptions = {}): LoadedCheckpoint {
  const opened = openCheckpoint(dir, options);
  return finishLoading(opened, tensorSource(opened.files));
}

/** A checkpoint whose weights are being read on background threads: what is known before they are in. */
export interface CheckpointLoad {
  info: ModelInfo;
  /** The spec with empty weight arrays, enough to build graphs (they read weights as inputs) before the weights are in. */
  shapes: ModelSpec;
  loaded: Promise<LoadedCheckpoint>;
}

/**
 * loadCheckpoint with every safetensors read queued on libuv's thread pool before this returns, so the caller's
 * thread is free meanwhile (Model.load builds the first graph's session then). Checks fail as early as loadCheckpoint's.
 */
export function startLoadingCheckpoint(dir: string, options: LoadOptions = {}): CheckpointLoad {
  const opened = openCheckpoint(dir, options);
  const reads = [...opened.requests.used].flatMap((name) => {
    const background = opened.files.entries.get(name)!.background;
    return background ? [{ name, ...background }] : []; // GGUF tensors are dequantised as the adapter asks
  });
  const finite = new WeakSet<ArrayBufferLike>();
  const loaded = readAhead(reads, opened.requests.transposed, finite).then((read) => finishLoading(opened, tensorSource(opened.files, { readAhead: read }), finite));
  return { info: opened.info, shapes: opened.shapes, loaded };
}

/**
 * Reads in flight at once, in bytes. Only the reads queued before the caller's thread blocks go on while it
 * builds a session (the rest are queued as reads finish), and widened F16/BF16 data is garbage once widened:
 * all of a bf16 Llama-3.2-1B at once would hold its 2.5 GB a second time.
 */
const READ_AHEAD_BYTES = 256 * MiB;

/**
 * Reads the tensors in order, at most READ_AHEAD_BYTES in flight (one read at least), and as each arrives
 * (while later ones are read) transposes it if asked and checks its values, noting its buffer in `finite`.
 * Rejects on the first failure.
 */
function readAhead(
  reads: Array<{ name: string; bytes: number; read(): Promise<Float32Array> }>,
  transposed: Map<string, [number, number]>,
  finite: WeakSet<ArrayBufferLike>,
): Promise<Map<string, ReadTensor>> {
  const transpose = inPlaceTransposer();
  return new Promise((resolve, reject) => {
    const out = new Map<string, ReadTensor>();
    let next = 0;
    let inFlight = 0;
    let pending = 0;
    let failed = false;
    const pump = (): void => {
      while (!failed && next < reads.length && (pending === 0 || inFlight + reads[next]!.bytes <= READ_AHEAD_BYTES)) {
        const { name, bytes, read } = reads[next++]!;
        inFlight += bytes;
        pending++;
        const fail = (e: unknown): void => {
          failed = true;
          reject(e);
        };
        read().then((data) => {
          inFlight -= bytes;
          pending--;
          pump(); // the next reads first, then this one's work while they go on
          try {
            const shape = transposed.get(name);
            if (shape) transpose(data, shape[0], shape[1]);
            if (allFinite(data)) finite.add(data.buffer);
            out.set(name, { data, transposed: shape !== undefined });
          } catch (e) {
            fail(e);
          }
          if (!failed && pending === 0 && next === reads.length) resolve(out);
        }, fail);
      }
    };
    pump();
    if (reads.length === 0) resolve(out);
  });
}

interface OpenedCheckpoint {
  files: CheckpointFiles;
  requests: TensorRequests;
  info: ModelInfo;
  shapes: ModelSpec;
}

/** Everything that can be checked before reading weights: names, shapes, the layer count, free memory. */
function openCheckpoint(dir: string, options: LoadOptions): OpenedCheckpoint {
  const files = inspectCheckpoint(dir);
  const { requests, shapes } = dryRun(files); // fails fast on names and shapes
  const info = makeInfo(files, requests.used, []);
  const free = options.freeMemoryBytes ?? freemem();
  // Weights as float32, plus onnxruntime's working memory: refuse before reading anything.
  const needed = info.weightBytes * 1.5;
  if (needed > free) {
    throw new UserError(
      `${info.name} needs about ${(needed / 2 ** 30).toFixed(1)} GiB as float32 but only ${(free / 2 ** 30).toFixed(1)} GiB of memory is free. Close other programs or choose a smaller model.`,
    );
  }
  options.onProgress?.('Reading weights', 0);
  return { files, requests, info, shapes };
}

/** The adapter over the tensors; `finite` holds buffers already checked as they were read. */
function finishLoading({ files, info }: OpenedCheckpoint, src: TensorSource, finite?: WeakSet<ArrayBufferLike>): LoadedCheckpoint {
  const spec = files.adapter.weights(files.config, src);
  const warnings: string[] = [...(files.notes ?? [])];
  // One NaN anywhere (a bias, a norm weight) spreads to every logit: refused rather than run.
  const bad = nonFiniteTensors(spec, finite);
  if (bad.length > 0) {
    throw new UserError(`${info.name}: weights contain NaN or Inf values in: ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ` and ${bad.length - 5} more` : ''}. Every result would be meaningless; the checkpoint is corrupt.`);
  }
  let tokenizer: PromptTokenizer | undefined;
  if (files.tokenizerPath) tokenizer = PromptTokenizer.fromFiles(files.tokenizerPath, files.tokenizerConfigPath);
  else if (files.tokenizerJson) tokenizer = PromptTokenizer.fromJson(files.tokenizerJson.json, files.tokenizerJson.config, `${basename(files.dir)} (GGUF tokenizer)`);
  else if (!files.notes) warnings.push('No tokenizer.json: prompts must be given as token ids.');
  return { spec, tokenizer, info: { ...info, warnings } };
}

/** Names of the weights holding NaN or Inf: every Float32Array in the spec, found by walking it (so a bias or norm added later is never skipped). */
function nonFiniteTensors(spec: ModelSpec, finite?: WeakSet<ArrayBufferLike>): string[] {
  const bad: string[] = [];
  const seen = new Set<Float32Array>();
  const walk = (name: string, v: unknown): void => {
    if (v instanceof Float32Array) {
      if (seen.has(v) || finite?.has(v.buffer)) return; // tied embeddings: W_U is W_E; checked as read
      seen.add(v);
      if (!allFinite(v)) bad.push(name);
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(name === 'layers' ? `blocks.${i}` : `${name}.${i}`, x));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(name ? `${name}.${k}` : k, x);
  };
  walk('', spec.weights);
  return bad;
}

/**
 * Whether every value is finite, at memory speed: x * 0 is 0 for a finite x and NaN for NaN or ±Inf, so the
 * sums stay 0 exactly when all are finite. Four sums keep four additions in flight (a GPT-2-small checkpoint:
 * 70 ms, against 230 ms for Number.isFinite on each value).
 */
function allFinite(v: Float32Array): boolean {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const n4 = v.length - (v.length % 4);
  for (let i = 0; i < n4; i += 4) {
    a += v[i]! * 0;
    b += v[i + 1]! * 0;
    c += v[i + 2]! * 0;
    d += v[i + 3]! * 0;
  }
  for (let i = n4; i < v.length; i++) a += v[i]! * 0;
  return a + b + c + d === 0;
}
