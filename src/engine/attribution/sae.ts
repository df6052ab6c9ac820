// Sparse autoencoders in SAELens' folder format: `cfg.json` (hook_name, d_in, d_sae, architecture,
// apply_b_dec_to_input, k for TopK) and `sae_weights.safetensors` (W_enc [d_in, d_sae], W_dec [d_sae, d_in],
// b_enc, b_dec, threshold for JumpReLU). An SAE reads one hook and reconstructs it; MechLens uses SAEs to
// read features at a hook and to steer with their decoder directions. Encoding runs as a small
// onnxruntime graph in the model's SessionCache, like the transcoders.
//   f = act((x − b_dec · apply_b_dec_to_input) @ W_enc + b_enc),   x̂ = f @ W_dec + b_dec
// SAELens' TopK keeps the k largest pre-activations and applies a ReLU to them (circuit-tracer's TopK
// transcoders do not).
import { existsSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { UserError } from '../errors';
import { MiB, readJsonFile } from '../files';
import { hookDims, localHookName, parseHookName } from '../hooks';
import type { HookName } from '../hooks';
import type { ModelConfig } from '../architectures/spec';
import { transpose } from '../architectures/spec';
import { GraphBuilder } from '../onnx/graphBuilder';
import type { GraphSession } from '../onnx/session';
import type { SessionCache } from '../onnx/sessionCache';
import type { Model } from '../model';
import { ArrayReader, PICKLE_EXTENSIONS, openArrays } from './transcoders/formats';
import { addEncoder } from './transcoders/encoderGraph';

export type SaeActivation = { kind: 'relu' } | { kind: 'jumprelu' } | { kind: 'topk'; k: number };

export interface Sae {
  dir: string;
  /** Full hook name, e.g. `blocks.3.hook_resid_pre`. */
  hook: HookName;
  layer: number | null;
  dIn: number;
  dSae: number;
  activation: SaeActivation;
  /** [d_sae, d_in]: rows are encoder vectors (the file's W_enc transposed). */
  W_enc: Float32Array;
  b_enc: Float32Array;
  /** [d_sae, d_in]: rows are feature directions. */
  W_dec: Float32Array;
  b_dec: Float32Array;
  threshold?: Float32Array;
  /** Subtract b_dec from the input before encoding. */
  applyBDecToInput: boolean;
}

const SUPPORTED_ARCHITECTURES = ['standard', 'jumprelu', 'topk'];

/** Loads an SAELens SAE folder, checked against the model: the hook exists, d_in is its size per position, values are finite. */
export function loadSae(dir: string, config: ModelConfig): Sae {
  const cfgPath = join(dir, 'cfg.json');
  if (!existsSync(cfgPath)) throw new UserError(`${dir} has no cfg.json: an SAELens SAE folder holds cfg.json and sae_weights.safetensors.`);
  // Bounded and non-blocking: a FIFO, a device or a huge file named cfg.json gets a message, not a hang.
  const cfg = readJsonFile(cfgPath, `cfg.json in ${dir}`, MiB) as Record<string, unknown>;
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new UserError(`cfg.json in ${dir} is not a JSON object.`);
  const hookText = cfg.hook_name ?? cfg.hook_point;
  if (typeof hookText !== 'string') throw new UserError(`cfg.json in ${dir} has no hook_name.`);
  let hook: HookName;
  let layer: number | null;
  try {
    ({ name: hook, layer } = parseHookName(hookText, config));
  } catch (e) {
    throw new UserError(`The SAE in ${dir} does not fit the model: cfg.json hook_name "${hookText}": ${e instanceof Error ? e.message : String(e)}`);
  }
  const perPosition = hookDims(config, localHookName(hook), 1, 1);
  if (perPosition.dims[1] !== 'pos') throw new UserError(`The SAE in ${dir} reads ${hook}, which has no per-position activation (${perPosition.dims.join(', ')}).`);
  const hookSize = perPosition.shape.slice(2).reduce((a, b) => a * b, 1);
  if (cfg.hook_head_index !== undefined && cfg.hook_head_index !== null) throw new UserError(`cfg.json in ${dir}: SAEs on a single head (hook_head_index ${String(cfg.hook_head_index)}) are not supported.`);
  const normalize = cfg.normalize_activations;
  if (normalize !== undefined && normalize !== null && normalize !== 'none') {
    throw new UserError(`cfg.json in ${dir}: normalize_activations "${String(normalize)}" is not supported (the SAE's input would need a scale MechLens does not know); only "none".`);
  }

  const activationFn = String(cfg.activation_fn_str ?? cfg.activation_fn ?? 'relu');
  const architecture = String(cfg.architecture ?? (activationFn === 'topk' ? 'topk' : 'standard'));
  if (!SUPPORTED_ARCHITECTURES.includes(architecture)) throw new UserError(`cfg.json in ${dir}: architecture "${architecture}" is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')}).`);
  const isTopK = architecture === 'topk' || activationFn === 'topk';
  if (!isTopK && activationFn !== 'relu') throw new UserError(`cfg.json in ${dir}: activation function "${activationFn}" is not supported (relu or topk).`);

  const weightsFile = join(dir, 'sae_weights.safetensors');
  if (!existsSync(weightsFile)) {
    const pickle = readdirSync(dir).find((f) => PICKLE_EXTENSIONS.includes(extname(f).toLowerCase()));
    if (pickle) openArrays(join(dir, pickle)); // refuses with the pickle message
    throw new UserError(`${dir} has no sae_weights.safetensors.`);
  }
  const r = new ArrayReader(weightsFile, openArrays(weightsFile), `${hook} has ${hookSize} values per position`);
  const dIn = r.vectorLength('b_dec');
  const dSae = r.vectorLength('b_enc');
  const fits = (key: string, want: number) => {
    if (cfg[key] !== undefined && Number(cfg[key]) !== want) throw new UserError(`The SAE in ${dir} is inconsistent: cfg.json says ${key} ${String(cfg[key])} but sae_weights.safetensors has ${want}.`);
  };
  fits('d_in', dIn);
  fits('d_sae', dSae);
  if (dIn !== hookSize) throw new UserError(`The SAE in ${dir} does not fit the model: d_in is ${dIn} but ${hook} has ${hookSize} values per position.`);

  let activation: SaeActivation;
  let threshold: Float32Array | undefined;
  if (isTopK) {
    const kwargs = (cfg.activation_fn_kwargs ?? {}) as Record<string, unknown>;
    const k = Number(cfg.k ?? kwargs.k);
    if (!Number.isInteger(k) || k < 1 || k > dSae) throw new UserError(`cfg.json in ${dir}: a TopK SAE needs an integer k from 1 to d_sae (${dSae}); got ${String(cfg.k ?? kwargs.k)}.`);
    activation = { kind: 'topk', k };
  } else if (architecture === 'jumprelu') {
    activation = { kind: 'jumprelu' };
    if (r.has('threshold')) threshold = r.read('threshold', [dSae]);
    else if (r.has('log_threshold')) threshold = r.read('log_threshold', [dSae]).map(Math.exp);
    else throw new UserError(`${weightsFile}: a JumpReLU SAE needs a threshold (or log_threshold) tensor.`);
  } else activation = { kind: 'relu' };

  const W_dec = r.read('W_dec', [dSae, dIn]);
  // Older SAELens files carry a fine-tuning scale on the activations: folded into the decoder rows.
  if (r.has('scaling_factor')) {
    const s = r.read('scaling_factor', [dSae]);
    for (let f = 0; f < dSae; f++) for (let j = 0; j < dIn; j++) W_dec[f * dIn + j]! *= s[f]!;
  }
  return {
    dir,
    hook,
    layer,
    dIn,
    dSae,
    activation,
    W_enc: transpose(r.read('W_enc', [dIn, dSae]), dIn, dSae),
    b_enc: r.read('b_enc', [dSae]),
    W_dec,
    b_dec: r.read('b_dec', [dIn]),
    threshold,
    // SAELens' default when the field is absent.
    applyBDecToInput: cfg.apply_b_dec_to_input === undefined ? true : Boolean(cfg.apply_b_dec_to_input),
  };
}

/** A feature's decoder direction (what steering adds at the SAE's hook), length d_in. */
export function saeFeatureDirection(sae: Sae, feature: number): Float32Array {
  if (!Number.isInteger(feature) || feature < 0 || feature >= sae.dSae) throw new UserError(`Feature ${feature} is outside the SAE's ${sae.dSae} features.`);
  return sae.W_dec.slice(feature * sae.dIn, (feature + 1) * sae.dIn);
}

/** Encodes [N, d_in] inputs to feature activations [N, d_sae] and decodes them back, in the model's SessionCache. */
export class SaeRunner {
  private constructor(
    private readonly encoder: GraphSession,
    private readonly decoder: GraphSession,
    readonly sae: Sae,
  ) {}

  static async create(graphs: SessionCache, sae: Sae): Promise<SaeRunner> {
    const id = `sae:${sae.dir}`;
    const F = onnx.TensorProto.DataType.FLOAT;
    const { dIn, dSae } = sae;
    const builder = () => {
      const g = new GraphBuilder(true);
      return { g, w: (name: string, data: Float32Array, dims: number[]) => g.weight(`${id}.${name}`, data, dims) };
    };
    const encoder = await graphs.get(`${id}:encode`, () => {
      const { g, w } = builder();
      const x = g.input('x', F, ['n', dIn]);
      const input = sae.applyBDecToInput ? g.op1('Sub', [x, w('b_dec', sae.b_dec, [dIn])]) : x;
      const a = sae.activation;
      const act = a.kind === 'jumprelu' ? { kind: 'jumprelu' as const, threshold: w('threshold', sae.threshold!, [dSae]) } : a.kind === 'topk' ? { ...a, relu: true } : a;
      addEncoder(g, input, w('W_enc', sae.W_enc, [dSae, dIn]), w('b_enc', sae.b_enc, [dSae]), act, 'acts');
      g.output('acts');
      return { bytes: g.build('sae_encode'), weightInputs: g.weightInputs };
    });
    const decoder = await graphs.get(`${id}:decode`, () => {
      const { g, w } = builder();
      const f = g.input('f', F, ['n', dSae]);
      g.op1('Gemm', [f, w('W_dec', sae.W_dec, [dSae, dIn]), w('b_dec', sae.b_dec, [dIn])], {}, 'recon');
      g.output('recon');
      return { bytes: g.build('sae_decode'), weightInputs: g.weightInputs };
    });
    return new SaeRunner(encoder, decoder, sae);
  }

  /** Feature activations [N, d_sae] of inputs [N, d_in] read at the SAE's hook. */
  async encode(x: Float32Array): Promise<Float32Array> {
    const { dIn } = this.sae;
    const out = await this.encoder.run({ x: new ort.Tensor('float32', x, [x.length / dIn, dIn]) }, ['acts']);
    return out.acts!.data as Float32Array;
  }

  /** Reconstruction [N, d_in] of activations [N, d_sae]: f @ W_dec + b_dec. */
  async decode(acts: Float32Array): Promise<Float32Array> {
    const { dSae } = this.sae;
    const out = await this.decoder.run({ f: new ort.Tensor('float32', acts, [acts.length / dSae, dSae]) }, ['recon']);
    return out.recon!.data as Float32Array;
  }
}

export interface SaeFeatureActivations {
  hook: HookName;
  tokens: number[];
  dSae: number;
  /** Dense activations [T, d_sae]. */
  acts: Float32Array;
  /** Per position: active features by activation, largest first (at most `topK`), and how many were active. */
  positions: Array<{ features: number[]; values: number[]; active: number }>;
}

/** Runs the model on `tokens`, reads the SAE's hook and encodes it: feature activations per position. */
export async function saeFeatureActivations(model: Model, sae: Sae, tokens: number[], options: { topK?: number; signal?: AbortSignal } = {}): Promise<SaeFeatureActivations> {
  const r = await model.forward({ tokens: [tokens], hooks: [sae.hook], logits: 'none', signal: options.signal });
  const x = r.hooks.get(sae.hook)!.data;
  const runner = await SaeRunner.create(model.graphs, sae);
  const acts = await runner.encode(x);
  const T = tokens.length;
  const topK = options.topK ?? Infinity;
  const positions = Array.from({ length: T }, (_, t) => {
    const row = acts.subarray(t * sae.dSae, (t + 1) * sae.dSae);
    const active: number[] = [];
    for (let f = 0; f < row.length; f++) if (row[f] !== 0) active.push(f);
    active.sort((a, b) => row[b]! - row[a]! || a - b);
    const features = active.slice(0, topK);
    return { features, values: features.map((f) => row[f]!), active: active.length };
  });
  return { hook: sae.hook, tokens, dSae: sae.dSae, acts, positions };
}
