// Transcoders (Dunefsky et al. 2024; Ameisen et al. 2025): per layer, a sparse dictionary that reads
// the MLP's input and writes its output, f = act(x @ W_encᵀ + b_enc), y ≈ f @ W_dec + b_dec (+ x @ W_skipᵀ).
// Cross-layer transcoders (CLTs) let a feature of layer L write into every layer ≥ L. Formats read
// (transcoders/formats.ts, shared/design/attribution-graphs.md §1d): circuit-tracer per-layer sets
// (`config.yaml` + `layer_{i}.safetensors` or a `transcoders` list), circuit-tracer CLTs (`W_enc_{i}` /
// `W_dec_{i}`), GemmaScope `params.npz` and GemmaScope-2 safetensors keys. Encoders stay resident; decoder
// rows of big sets are read from the file on demand, so a set does not sit in memory twice. Encoding
// and decoding run as small onnxruntime graphs in the model's SessionCache.
import type { LayerHook } from '../hooks';
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../errors';
import { MiB, readTextFile } from '../files';
import { parseHookName } from '../hooks';
import { GraphBuilder } from '../onnx/graphBuilder';
import type { GraphSession } from '../onnx/session';
import type { SessionCache } from '../onnx/sessionCache';
import type { ModelConfig } from '../architectures/spec';
import type { Model } from '../model';
import { perLayerFiles, readCrossLayerFiles, readPerLayerFile } from './transcoders/formats';
import type { LayerPlan } from './transcoders/formats';
import { addEncoder } from './transcoders/encoderGraph';
import type { EncoderActivation } from './transcoders/encoderGraph';
import { checkFinite, readRows } from './transcoders/storedArray';

/** How pre-activations become activations: ReLU, JumpReLU (x · (x > θ), θ per feature), or TopK per position. */
export type TranscoderActivation = { kind: 'relu' } | { kind: 'jumprelu' } | { kind: 'topk'; k: number };

export interface TranscoderLayer {
  layer: number;
  dTranscoder: number;
  activation: TranscoderActivation;
  W_enc: Float32Array; // [d_tc, d_model], resident
  b_enc: Float32Array;
  /** Decoder bias of output layer `layer`. */
  b_dec: Float32Array;
  /** JumpReLU thresholds (raw, not log). */
  threshold?: Float32Array;
  /** Linear skip path, [d_model, d_model], applied as x @ W_skipᵀ and added to the reconstruction. */
  W_skip?: Float32Array;
  /**
   * The full decoder when it is resident: [d_tc, nOut, d_model] (nOut = 1 for per-layer sets, so
   * [d_tc, d_model]); absent when rows are read on demand.
   */
  W_dec?: Float32Array;
}

export interface TranscoderSet {
  dir: string;
  /** Per-layer transcoders, or cross-layer ones (a feature at layer L writes to every layer ≥ L). */
  kind: 'per_layer' | 'cross_layer';
  /** The file layout the set was read from. */
  format: 'circuit-tracer' | 'gemmascope' | 'gemmascope-2' | 'circuit-tracer-clt';
  /** Hook (within a block) the transcoders read, e.g. `mlp.hook_in`. */
  inputHook: LayerHook;
  /** Hook they reconstruct, e.g. `hook_mlp_out`. */
  outputHook: LayerHook;
  /** Scan id for graph files (config.yaml `scan`, else the folder name). */
  scan: string;
  dModel: number;
  layers: TranscoderLayer[];
  /** Whether decoders are held in memory (`TranscoderLayer.W_dec`) or read from the files on demand. */
  decoderResident: boolean;
  /**
   * Decoder rows of the given features of source layer `layer`: [features.length, nOut, d_model], nOut = 1
   * for per-layer sets and nLayers − layer for cross-layer ones (entry j writes into layer + j).
   */
  decoderRows(layer: number, features: readonly number[]): Float32Array;
  /** The whole decoder of source layer `layer`, [d_tc, nOut, d_model] (the resident copy, or read from the file). */
  decoder(layer: number): Float32Array;
}

export interface LoadTranscoderOptions {
  /**
   * Keep decoders in memory, or read rows from the files when asked. `auto` (default): resident when all
   * decoders together take at most `RESIDENT_DECODER_BYTES` as float32. Compressed npz entries are always
   * read whole, once.
   */
  decoder?: 'auto' | 'resident' | 'on_demand';
}

/** Below this (float32 bytes of every decoder together) `auto` keeps decoders in memory. */
export const RESIDENT_DECODER_BYTES = 64 * 2 ** 20;

// mlp.hook_in: the MLP's input after the norm's weight and bias (circuit-tracer's transcoders);
// ln2.hook_normalized: before the weight and bias (TransformerLens-trained sets such as GemmaScope);
// hook_resid_mid: the residual stream before the MLP's norm (CLTs, Llama skip transcoders).
// mlp.hook_out: the MLP module's output, which for Gemma-2 is before the post-feedforward norm.
export const SUPPORTED_INPUT_HOOKS: readonly LayerHook[] = ['mlp.hook_in', 'ln2.hook_normalized', 'hook_resid_mid'];
export const SUPPORTED_OUTPUT_HOOKS: readonly LayerHook[] = ['mlp.hook_out', 'hook_mlp_out'];

const loaded = new WeakMap<Model, Map<string, TranscoderSet>>();

/** The model's transcoder set in `dir` (default: the model folder's `transcoders/`), loaded once per model. */
export function transcodersFor(model: Model, dir?: string): TranscoderSet {
  const path = resolve(dir ?? join(model.info.dir, 'transcoders'));
  if (!existsSync(path) || !statSync(path).isDirectory()) {
    throw new UserError(dir ? `Transcoders: ${path} is not a folder.` : `${model.info.name} has no transcoders/ folder: give a transcoder set (--transcoders DIR).`);
  }
  let byDir = loaded.get(model);
  if (!byDir) loaded.set(model, (byDir = new Map()));
  let set = byDir.get(path);
  if (!set) byDir.set(path, (set = loadTranscoders(path, model.config)));
  return set;
}

/** A feature address checked against the set: a UserError naming the valid range otherwise. */
export function checkFeature(set: TranscoderSet, layer: number, index: number): void {
  const L = set.layers.length;
  if (!Number.isInteger(layer) || layer < 0 || layer >= L) throw new UserError(`Layer ${layer} is outside the transcoders' ${L} layers (0..${L - 1}).`);
  const F = set.layers[layer]!.dTranscoder;
  if (!Number.isInteger(index) || index < 0 || index >= F) throw new UserError(`Feature ${index} is outside layer ${layer}'s ${F} features (0..${F - 1}).`);
}

/**
 * Loads a transcoder set from a folder with `config.yaml` (circuit-tracer's layout), checked against the
 * model: hooks it has, d_model, one transcoder per layer, finite values, shapes. Every mismatch is a
 * UserError naming the file.
 */
export function loadTranscoders(dir: string, config: ModelConfig, options: LoadTranscoderOptions = {}): TranscoderSet {
  const cfgPath = join(dir, 'config.yaml');
  if (!existsSync(dir)) throw new UserError(`Transcoder folder ${dir} does not exist.`);
  if (!existsSync(cfgPath)) throw new UserError(`${dir} has no config.yaml naming feature_input_hook and feature_output_hook.`);
  // Bounded and non-blocking (a FIFO or a device named config.yaml must not hang or fill memory).
  const text = readTextFile(cfgPath, `config.yaml in ${dir}`, MiB);
  let cfg: Record<string, unknown>;
  try {
    const parsed: unknown = parseYaml(text);
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) throw new Error('the top level is not a mapping of keys to values');
    cfg = (parsed ?? {}) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`config.yaml in ${dir} is not valid YAML (${e instanceof Error ? e.message : String(e)}).`);
  }
  const inputHook = checkHook(cfg.feature_input_hook, 'feature_input_hook', SUPPORTED_INPUT_HOOKS, config, dir);
  const outputHook = checkHook(cfg.feature_output_hook, 'feature_output_hook', SUPPORTED_OUTPUT_HOOKS, config, dir);
  const d = config.dModel;
  for (const [key, want] of [['d_model', d], ['n_layers', config.nLayers]] as const) {
    if (cfg[key] !== undefined && Number(cfg[key]) !== want) {
      throw new UserError(`Transcoders in ${dir} do not match the model: config.yaml says ${key} ${String(cfg[key])} but the model's ${key} is ${want}.`);
    }
  }
  const kind = cfg.model_kind === 'cross_layer_transcoder' ? 'cross_layer' : 'per_layer';
  if (cfg.model_kind !== undefined && cfg.model_kind !== 'transcoder_set' && cfg.model_kind !== 'cross_layer_transcoder') {
    throw new UserError(`config.yaml in ${dir}: model_kind "${String(cfg.model_kind)}" is not supported (transcoder_set or cross_layer_transcoder).`);
  }
  let plans: LayerPlan[];
  let format: TranscoderSet['format'];
  if (kind === 'cross_layer') {
    plans = readCrossLayerFiles(dir, config.nLayers, d, cfg);
    format = 'circuit-tracer-clt';
  } else {
    const read = perLayerFiles(dir, cfg.transcoders, config.nLayers).map((file, l) => readPerLayerFile(file, l, d, cfg));
    const formats = new Set(read.map((p) => p.format));
    if (formats.size > 1) throw new UserError(`Transcoders in ${dir} mix file layouts (${[...formats].join(', ')}); use one per set.`);
    plans = read;
    format = read[0]!.format;
  }
  const decoderBytes = plans.reduce((a, p) => a + p.dTranscoder * p.nOut * d * 4, 0);
  const wantResident = options.decoder === 'resident' || ((options.decoder ?? 'auto') === 'auto' && decoderBytes <= RESIDENT_DECODER_BYTES);
  const layers: TranscoderLayer[] = plans.map((p) => {
    // Compressed (or Fortran-ordered) arrays cannot be read by rows: those are read whole, once.
    const resident = wantResident || p.W_dec.offset === undefined;
    let W_dec: Float32Array | undefined;
    if (resident) {
      W_dec = p.W_dec.read();
      checkFinite(W_dec, p.W_dec.file, p.W_dec.name);
    }
    const { layer, dTranscoder, activation, W_enc, b_enc, b_dec, threshold, W_skip } = p;
    return { layer, dTranscoder, activation, W_enc, b_enc, b_dec, threshold, W_skip, W_dec };
  });
  const rowsOf = (layer: number, features: readonly number[]): Float32Array => {
    const plan = plans[layer];
    const t = layers[layer];
    if (!plan || !t) throw new Error(`internal: layer ${layer} is outside the transcoder set (${layers.length} layers)`);
    const rowElems = plan.nOut * d;
    for (const f of features) {
      if (!Number.isInteger(f) || f < 0 || f >= t.dTranscoder) throw new Error(`internal: feature ${f} is outside layer ${layer}'s ${t.dTranscoder} features`);
    }
    if (t.W_dec) {
      const out = new Float32Array(features.length * rowElems);
      features.forEach((f, i) => out.set(t.W_dec!.subarray(f * rowElems, (f + 1) * rowElems), i * rowElems));
      return out;
    }
    // Rows on disk are checked as they are read: a full scan at load time would read the whole decoder.
    const rows = readRows(plan.W_dec, features, rowElems);
    checkFinite(rows, plan.W_dec.file, plan.W_dec.name);
    return rows;
  };
  const decoder = (layer: number): Float32Array => {
    const t = layers[layer];
    if (t?.W_dec) return t.W_dec;
    return rowsOf(layer, Array.from({ length: t?.dTranscoder ?? 0 }, (_, f) => f));
  };
  return {
    dir,
    kind,
    format,
    inputHook,
    outputHook,
    scan: typeof cfg.scan === 'string' ? cfg.scan : basename(dir),
    dModel: d,
    layers,
    decoderResident: layers.every((t) => t.W_dec !== undefined),
    decoderRows: rowsOf,
    decoder,
  };
}

function checkHook(value: unknown, key: string, supported: readonly LayerHook[], config: ModelConfig, dir: string): LayerHook {
  const hook = String(value ?? '');
  if (!hook) throw new UserError(`config.yaml in ${dir} has no ${key} (supported: ${supported.join(', ')}).`);
  if (!(supported as readonly string[]).includes(hook)) throw new UserError(`config.yaml in ${dir}: ${key} "${hook}" is not supported (supported: ${supported.join(', ')}).`);
  try {
    parseHookName(`blocks.0.${hook}`, config);
  } catch {
    throw new UserError(`Transcoders in ${dir} do not match the model: ${key} "${hook}" is a hook this ${config.modelType} model does not have${hook === 'hook_resid_mid' ? ' (its attention and MLP run in parallel)' : ''}.`);
  }
  return hook as LayerHook;
}

/** The graph form of a layer's activation (thresholds as a fed weight named by `weight`). */
function encoderActivation(layer: TranscoderLayer, weight: (name: string, data: Float32Array, dims: number[]) => string): EncoderActivation {
  const a = layer.activation;
  if (a.kind === 'jumprelu') return { kind: 'jumprelu', threshold: weight('threshold', layer.threshold!, [layer.dTranscoder]) };
  return a.kind === 'topk' ? { kind: 'topk', k: a.k } : { kind: 'relu' };
}

/**
 * Runs one layer's transcoder on [N, d_model] inputs: `encode` gives feature activations, `run` (per-layer
 * sets) also the reconstruction, skip path included. Its graphs live in the model's SessionCache, its
 * weights fed like the model's (one copy, no session of its own to free).
 */
export class TranscoderRunner {
  private runSession: Promise<GraphSession> | undefined;

  private constructor(
    private readonly graphs: SessionCache,
    private readonly set: TranscoderSet,
    private readonly encodeSession: GraphSession,
    readonly layer: TranscoderLayer,
    private readonly dModel: number,
  ) {}

  static async create(graphs: SessionCache, set: TranscoderSet, layer: TranscoderLayer, dModel: number): Promise<TranscoderRunner> {
    const session = await graphs.get(`${graphId(set, layer)}:encode`, () => {
      const g = new GraphBuilder(true);
      const w = weightFn(g, set, layer);
      const x = g.input('x', onnx.TensorProto.DataType.FLOAT, ['n', dModel]);
      addEncoder(g, x, w('W_enc', layer.W_enc, [layer.dTranscoder, dModel]), w('b_enc', layer.b_enc, [layer.dTranscoder]), encoderActivation(layer, w), 'acts');
      g.output('acts');
      return { bytes: g.build(`transcoder_encode_${layer.layer}`), weightInputs: g.weightInputs };
    });
    return new TranscoderRunner(graphs, set, session, layer, dModel);
  }

  /** Feature activations [N, d_tc] of inputs [N, d_model] read at the set's input hook. */
  async encode(x: Float32Array): Promise<Float32Array> {
    const n = x.length / this.dModel;
    const out = await this.encodeSession.run({ x: new ort.Tensor('float32', x, [n, this.dModel]) }, ['acts']);
    return out.acts!.data as Float32Array;
  }

  /** Activations and reconstruction (acts @ W_dec + b_dec + x @ W_skipᵀ) of a per-layer transcoder. */
  async run(x: Float32Array): Promise<{ acts: Float32Array; recon: Float32Array }> {
    if (this.set.kind !== 'per_layer') {
      throw new Error('internal: a cross-layer transcoder has no reconstruction per layer (it sums the decoders of every earlier layer); use encode and decoderRows');
    }
    this.runSession ??= this.createRunSession();
    const n = x.length / this.dModel;
    const out = await (await this.runSession).run({ x: new ort.Tensor('float32', x, [n, this.dModel]) }, ['acts', 'recon']);
    return { acts: out.acts!.data as Float32Array, recon: out.recon!.data as Float32Array };
  }

  private createRunSession(): Promise<GraphSession> {
    const { layer, set, dModel } = this;
    return this.graphs.get(`${graphId(set, layer)}:run`, () => {
      const g = new GraphBuilder(true);
      const w = weightFn(g, set, layer);
      const x = g.input('x', onnx.TensorProto.DataType.FLOAT, ['n', dModel]);
      const acts = addEncoder(g, x, w('W_enc', layer.W_enc, [layer.dTranscoder, dModel]), w('b_enc', layer.b_enc, [layer.dTranscoder]), encoderActivation(layer, w), 'acts');
      // A decoder read on demand is read whole here, once: the reconstruction needs every row.
      const W_dec = w('W_dec', set.decoder(layer.layer), [layer.dTranscoder, dModel]);
      if (layer.W_skip) {
        const decoded = g.op1('Gemm', [acts, W_dec, w('b_dec', layer.b_dec, [dModel])]);
        const skip = g.op1('Gemm', [x, w('W_skip', layer.W_skip, [dModel, dModel])], { transB: 1 });
        g.op1('Add', [decoded, skip], {}, 'recon');
      } else {
        g.op1('Gemm', [acts, W_dec, w('b_dec', layer.b_dec, [dModel])], {}, 'recon');
      }
      g.output('acts');
      g.output('recon');
      return { bytes: g.build(`transcoder_${layer.layer}`), weightInputs: g.weightInputs };
    });
  }
}

// Weight names carry the set's folder: two transcoder sets for one model never share a fed weight.
function graphId(set: TranscoderSet, layer: TranscoderLayer): string {
  return `transcoder:${set.dir}:${layer.layer}`;
}

function weightFn(g: GraphBuilder, set: TranscoderSet, layer: TranscoderLayer) {
  const id = graphId(set, layer);
  return (name: string, data: Float32Array, dims: number[]) => g.weight(`${id}.${name}`, data, dims);
}

/** Fraction of variance unexplained: sum (y - ŷ)² / sum (y - mean(y))², the mean taken per dimension. */
export function fractionOfVarianceUnexplained(y: Float32Array, yHat: Float32Array, d: number): number {
  const n = y.length / d;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += y[i * d + j]! / n;
  let err = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const v = y[i * d + j]!;
      err += (v - yHat[i * d + j]!) ** 2;
      total += (v - mean[j]!) ** 2;
    }
  }
  return err / total;
}
