// Transcoders (Dunefsky et al. 2024; circuit-tracer's per-layer format): per layer, a sparse dictionary
// that reads the MLP's input and writes its output, f = act(x @ W_enc^T + b_enc), y ≈ f @ W_dec + b_dec.
// Files: `layer_{i}.safetensors` with W_enc [d_tc, d_model], W_dec [d_tc, d_model], b_enc [d_tc],
// b_dec [d_model], optional `activation_function.threshold` [d_tc] (JumpReLU: x·(x > θ)), and a
// `config.yaml` naming `feature_input_hook` and `feature_output_hook`. Encoding and decoding run as
// small onnxruntime graphs. Attribution graphs (next step) replace each MLP by its transcoder plus an
// error term; this module is their building block.
import type { LayerHook } from '../hooks';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../errors';
import { readSafetensorsHeader, readTensorF32 } from '../checkpoint/safetensors';
import { GraphBuilder } from '../onnx/graphBuilder';
import type { GraphSession } from '../onnx/session';
import type { SessionCache } from '../onnx/sessionCache';
import type { ModelConfig } from '../architectures/spec';

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
  /** The full decoder when it is resident ([d_tc, d_model]); absent when rows are read on demand. */
  W_dec?: Float32Array;
}

export interface TranscoderSet {
  dir: string;
  /** Per-layer transcoders, or cross-layer ones (a feature at layer L writes to every layer ≥ L). */
  kind: 'per_layer' | 'cross_layer';
  /** Hook (within a block) the transcoders read, e.g. `mlp.hook_in`. */
  inputHook: LayerHook;
  /** Hook they reconstruct, e.g. `hook_mlp_out`. */
  outputHook: LayerHook;
  /** Scan id for graph files (config.yaml `scan`, else the folder name). */
  scan: string;
  layers: TranscoderLayer[];
  /**
   * Decoder rows of the given features of source layer `layer`: [features.length, nOut, d_model], nOut = 1
   * for per-layer sets and nLayers − layer for cross-layer ones (entry j writes into layer + j).
   */
  decoderRows(layer: number, features: readonly number[]): Float32Array;
}

// mlp.hook_in: the MLP's input after the norm's weight and bias (circuit-tracer's transcoders);
// ln2.hook_normalized: before the weight and bias (TransformerLens-trained sets such as GemmaScope);
// mlp.hook_out: the MLP module's output, which for Gemma-2 is before the post-feedforward norm.
const SUPPORTED_INPUTS: readonly LayerHook[] = ['mlp.hook_in', 'ln2.hook_normalized', 'hook_resid_mid'];
const SUPPORTED_OUTPUTS: readonly LayerHook[] = ['mlp.hook_out', 'hook_mlp_out'];

export function loadTranscoders(dir: string, config: ModelConfig): TranscoderSet {
  const cfgPath = join(dir, 'config.yaml');
  if (!existsSync(cfgPath)) throw new UserError(`${dir} has no config.yaml naming feature_input_hook and feature_output_hook.`);
  let cfg: Record<string, unknown>;
  try {
    cfg = (parseYaml(readFileSync(cfgPath, 'utf8')) ?? {}) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`config.yaml in ${dir} is not valid YAML (${e instanceof Error ? e.message : String(e)}).`);
  }
  const inputHook = String(cfg.feature_input_hook ?? '') as LayerHook;
  const outputHook = String(cfg.feature_output_hook ?? '') as LayerHook;
  if (!SUPPORTED_INPUTS.includes(inputHook)) throw new UserError(`config.yaml: feature_input_hook "${inputHook}" is not supported (supported: ${SUPPORTED_INPUTS.join(', ')}).`);
  if (!SUPPORTED_OUTPUTS.includes(outputHook)) throw new UserError(`config.yaml: feature_output_hook "${outputHook}" is not supported (supported: ${SUPPORTED_OUTPUTS.join(', ')}).`);
  const d = config.dModel;
  const layers: TranscoderLayer[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const file = join(dir, `layer_${l}.safetensors`);
    if (!existsSync(file)) throw new UserError(`Transcoders in ${dir} do not match the model: layer_${l}.safetensors is missing (the model has ${config.nLayers} layers).`);
    const h = readSafetensorsHeader(file);
    const get = (name: string, shape?: number[]) => {
      const e = h.tensors.get(name);
      if (!e) throw new UserError(`layer_${l}.safetensors has no tensor ${name}.`);
      if (shape && (e.shape.length !== shape.length || e.shape.some((x, i) => x !== shape[i]))) {
        throw new UserError(`Transcoders do not match the model: layer_${l}.safetensors ${name} has shape [${e.shape.join(', ')}], expected [${shape.join(', ')}] for d_model ${d}.`);
      }
      return { data: readTensorF32(e), shape: e.shape };
    };
    const enc = get('W_enc');
    const dTc = enc.shape[0]!;
    if (enc.shape[1] !== d) throw new UserError(`Transcoders do not match the model: layer_${l}.safetensors W_enc has shape [${enc.shape.join(', ')}] but the model's d_model is ${d}.`);
    layers.push({
      layer: l,
      dTranscoder: dTc,
      W_enc: enc.data,
      b_enc: get('b_enc', [dTc]).data,
      activation: h.tensors.has('activation_function.threshold') ? { kind: 'jumprelu' } : { kind: 'relu' },
      W_dec: get('W_dec', [dTc, d]).data,
      b_dec: get('b_dec', [d]).data,
      threshold: h.tensors.has('activation_function.threshold') ? get('activation_function.threshold', [dTc]).data : undefined,
    });
  }
  const decoderRows = (layer: number, features: readonly number[]): Float32Array => {
    const W = layers[layer]!.W_dec!;
    const out = new Float32Array(features.length * d);
    features.forEach((f, i) => out.set(W.subarray(f * d, (f + 1) * d), i * d));
    return out;
  };
  return { dir, kind: 'per_layer', inputHook, outputHook, scan: typeof cfg.scan === 'string' ? cfg.scan : basename(dir), layers, decoderRows };
}

/**
 * Runs one layer's transcoder: feature activations and reconstruction for [N, D] inputs. Its graph lives
 * in the model's SessionCache, its weights fed like the model's (one copy, no session of its own to free).
 */
export class TranscoderRunner {
  private constructor(
    private readonly session: GraphSession,
    readonly layer: TranscoderLayer,
    private readonly dModel: number,
  ) {}

  static async create(graphs: SessionCache, set: TranscoderSet, layer: TranscoderLayer, dModel: number): Promise<TranscoderRunner> {
    // Weight names carry the set's folder: two transcoder sets for one model never share a fed weight.
    const id = `transcoder:${set.dir}:${layer.layer}`;
    const session = await graphs.get(id, () => {
      const F = onnx.TensorProto.DataType.FLOAT;
      const g = new GraphBuilder(true);
      const w = (name: string, data: Float32Array, dims: number[]) => g.weight(`${id}.${name}`, data, dims);
      const x = g.input('x', F, ['n', dModel]);
      const pre = g.op1('Gemm', [x, w('W_enc', layer.W_enc, [layer.dTranscoder, dModel]), w('b_enc', layer.b_enc, [layer.dTranscoder])], { transB: 1 });
      let acts: string;
      if (layer.threshold) {
        const above = g.op1('Greater', [pre, w('threshold', layer.threshold, [layer.dTranscoder])]);
        acts = g.op1('Where', [above, pre, g.constF([0], [])], {}, 'acts');
      } else {
        acts = g.op1('Relu', [pre], {}, 'acts');
      }
      g.op1('Gemm', [acts, w('W_dec', layer.W_dec!, [layer.dTranscoder, dModel]), w('b_dec', layer.b_dec, [dModel])], {}, 'recon');
      g.output('acts');
      g.output('recon');
      return { bytes: g.build(`transcoder_${layer.layer}`), weightInputs: g.weightInputs };
    });
    return new TranscoderRunner(session, layer, dModel);
  }

  async run(x: Float32Array): Promise<{ acts: Float32Array; recon: Float32Array }> {
    const n = x.length / this.dModel;
    const out = await this.session.run({ x: new ort.Tensor('float32', x, [n, this.dModel]) }, ['acts', 'recon']);
    return { acts: out.acts!.data as Float32Array, recon: out.recon!.data as Float32Array };
  }
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
