// Generates random checkpoints in Hugging Face format, seeded: GPT-2 (config.json + model.safetensors),
// Gemma-2 and Llama (sharded, one shard per layer, so a billion-parameter model never sits in memory
// whole). The benchmarks use them for the GPT-2-small-, Llama-3.2-1B- and Gemma-2-2B-shaped models;
// tests use them for edge cases.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from './safetensorsWriter';
import type { TensorToWrite } from './safetensorsWriter';
import type { ModelDims } from '../../shared/modelInfo';

export interface Gpt2Shape {
  nLayers: number;
  dModel: number;
  nHeads: number;
  dVocab: number;
  nCtx: number;
}

export const GPT2_SMALL_SHAPE: Gpt2Shape = { nLayers: 12, dModel: 768, nHeads: 12, dVocab: 50257, nCtx: 1024 };

export function randomGpt2Checkpoint(dir: string, shape: Gpt2Shape, seed = 0, std = 0.02): void {
  const { nLayers, dModel: d, dVocab, nCtx, nHeads } = shape;
  const rand = seededRandom(seed).normal;
  const t = (dims: number[], s = std, mean = 0): TensorToWrite => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = mean + s * rand();
    return { dtype: 'F32', shape: dims, data };
  };
  const tensors: Record<string, TensorToWrite> = {
    'transformer.wte.weight': t([dVocab, d]),
    'transformer.wpe.weight': t([nCtx, d], 0.01),
    'transformer.ln_f.weight': t([d], 0.1, 1),
    'transformer.ln_f.bias': t([d], 0.02),
  };
  for (let l = 0; l < nLayers; l++) {
    const p = `transformer.h.${l}.`;
    tensors[`${p}ln_1.weight`] = t([d], 0.1, 1);
    tensors[`${p}ln_1.bias`] = t([d], 0.02);
    tensors[`${p}attn.c_attn.weight`] = t([d, 3 * d]);
    tensors[`${p}attn.c_attn.bias`] = t([3 * d]);
    tensors[`${p}attn.c_proj.weight`] = t([d, d]);
    tensors[`${p}attn.c_proj.bias`] = t([d]);
    tensors[`${p}ln_2.weight`] = t([d], 0.1, 1);
    tensors[`${p}ln_2.bias`] = t([d], 0.02);
    tensors[`${p}mlp.c_fc.weight`] = t([d, 4 * d]);
    tensors[`${p}mlp.c_fc.bias`] = t([4 * d]);
    tensors[`${p}mlp.c_proj.weight`] = t([4 * d, d]);
    tensors[`${p}mlp.c_proj.bias`] = t([d]);
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify(
      {
        architectures: ['GPT2LMHeadModel'],
        model_type: 'gpt2',
        n_layer: nLayers,
        n_embd: d,
        n_head: nHeads,
        n_positions: nCtx,
        n_ctx: nCtx,
        vocab_size: dVocab,
        layer_norm_epsilon: 1e-5,
        activation_function: 'gelu_new',
        tie_word_embeddings: true,
        torch_dtype: 'float32',
      },
      null,
      2,
    ),
  );
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
}

/** A decoder's dimensions: the model's ModelDims without the names config.json gives them. */
type DecoderShape = Omit<ModelDims, 'architecture' | 'modelType'>;

export type Gemma2Shape = DecoderShape;

export const GEMMA2_2B_SHAPE: Gemma2Shape = { nLayers: 26, dModel: 2304, nHeads: 8, nKvHeads: 4, dHead: 256, dMlp: 9216, dVocab: 256000, nCtx: 8192 };

/** A random Gemma-2 checkpoint, one safetensors shard per layer (plus one for the embeddings), `dtype` storage. */
export function randomGemma2Checkpoint(dir: string, shape: Gemma2Shape, seed = 0, dtype: TensorToWrite['dtype'] = 'BF16', std = 0.02): void {
  const { nLayers, dModel: d, nHeads: H, nKvHeads: Hkv, dHead: dh, dMlp, dVocab, nCtx } = shape;
  const t = randomTensors(seed, dtype, std);
  // Gemma stores its norm weights as offsets from 1.
  writeShardedCheckpoint(dir, nLayers, () => ({ 'model.embed_tokens.weight': t([dVocab, d]), 'model.norm.weight': t([d], 0.1) }), (l) => {
    const p = `model.layers.${l}.`;
    return {
      [`${p}input_layernorm.weight`]: t([d], 0.1),
      [`${p}post_attention_layernorm.weight`]: t([d], 0.1),
      [`${p}pre_feedforward_layernorm.weight`]: t([d], 0.1),
      [`${p}post_feedforward_layernorm.weight`]: t([d], 0.1),
      ...gatedDecoderWeights(t, p, d, H * dh, Hkv * dh, dMlp),
    };
  }, {
    architectures: ['Gemma2ForCausalLM'],
    model_type: 'gemma2',
    hidden_size: d,
    intermediate_size: dMlp,
    num_hidden_layers: nLayers,
    num_attention_heads: H,
    num_key_value_heads: Hkv,
    head_dim: dh,
    vocab_size: dVocab,
    max_position_embeddings: nCtx,
    query_pre_attn_scalar: dh,
    attn_logit_softcapping: 50.0,
    final_logit_softcapping: 30.0,
    sliding_window: 4096,
    rms_norm_eps: 1e-6,
    rope_theta: 10000.0,
    hidden_activation: 'gelu_pytorch_tanh',
    tie_word_embeddings: true,
    torch_dtype: torchDtype(dtype),
  });
}

export interface LlamaShape extends DecoderShape {
  ropeTheta: number;
  /** config.json's rope_scaling as the release has it (null: none). */
  ropeScaling: Record<string, unknown> | null;
}

/** Llama-3.2-1B's config: GQA 32/8, tied embeddings, llama3 rope scaling. */
export const LLAMA32_1B_SHAPE: LlamaShape = {
  nLayers: 16,
  dModel: 2048,
  nHeads: 32,
  nKvHeads: 8,
  dHead: 64,
  dMlp: 8192,
  dVocab: 128256,
  nCtx: 131072,
  ropeTheta: 500000,
  ropeScaling: { rope_type: 'llama3', factor: 32.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192 },
};

/** A random Llama checkpoint (tied embeddings), sharded and stored like randomGemma2Checkpoint. */
export function randomLlamaCheckpoint(dir: string, shape: LlamaShape, seed = 0, dtype: TensorToWrite['dtype'] = 'BF16', std = 0.02): void {
  const { nLayers, dModel: d, nHeads: H, nKvHeads: Hkv, dHead: dh, dMlp, dVocab, nCtx } = shape;
  const t = randomTensors(seed, dtype, std);
  writeShardedCheckpoint(dir, nLayers, () => ({ 'model.embed_tokens.weight': t([dVocab, d]), 'model.norm.weight': t([d], 0.1, 1) }), (l) => {
    const p = `model.layers.${l}.`;
    return {
      [`${p}input_layernorm.weight`]: t([d], 0.1, 1),
      [`${p}post_attention_layernorm.weight`]: t([d], 0.1, 1),
      ...gatedDecoderWeights(t, p, d, H * dh, Hkv * dh, dMlp),
    };
  }, {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: d,
    intermediate_size: dMlp,
    num_hidden_layers: nLayers,
    num_attention_heads: H,
    num_key_value_heads: Hkv,
    head_dim: dh,
    vocab_size: dVocab,
    max_position_embeddings: nCtx,
    rms_norm_eps: 1e-5,
    rope_theta: shape.ropeTheta,
    rope_scaling: shape.ropeScaling,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: true,
    torch_dtype: torchDtype(dtype),
  });
}

type MakeTensor = (dims: number[], s?: number, mean?: number) => TensorToWrite;

function randomTensors(seed: number, dtype: TensorToWrite['dtype'], std: number): MakeTensor {
  const rand = seededRandom(seed).normal;
  return (dims, s = std, mean = 0) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = mean + s * rand();
    return { dtype, shape: dims, data };
  };
}

/** The attention and gated-MLP projections of a Llama-family layer (HF names, [out, in]). */
function gatedDecoderWeights(t: MakeTensor, p: string, d: number, dQ: number, dKv: number, dMlp: number): Record<string, TensorToWrite> {
  return {
    [`${p}self_attn.q_proj.weight`]: t([dQ, d]),
    [`${p}self_attn.k_proj.weight`]: t([dKv, d]),
    [`${p}self_attn.v_proj.weight`]: t([dKv, d]),
    [`${p}self_attn.o_proj.weight`]: t([d, dQ]),
    [`${p}mlp.gate_proj.weight`]: t([dMlp, d]),
    [`${p}mlp.up_proj.weight`]: t([dMlp, d]),
    [`${p}mlp.down_proj.weight`]: t([d, dMlp]),
  };
}

/** One shard for the embeddings and one per layer, each made and written in turn, so a multi-billion-parameter model never sits in memory whole. */
function writeShardedCheckpoint(
  dir: string,
  nLayers: number,
  globals: () => Record<string, TensorToWrite>,
  layer: (l: number) => Record<string, TensorToWrite>,
  config: Record<string, unknown>,
): void {
  mkdirSync(dir, { recursive: true });
  const weightMap: Record<string, string> = {};
  const total = nLayers + 1;
  const shard = (i: number, tensors: Record<string, TensorToWrite>) => {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(total).padStart(5, '0')}.safetensors`;
    writeSafetensors(join(dir, file), tensors, { format: 'pt' });
    for (const name of Object.keys(tensors)) weightMap[name] = file;
  };
  shard(0, globals());
  for (let l = 0; l < nLayers; l++) shard(l + 1, layer(l));
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
}

function torchDtype(dtype: TensorToWrite['dtype']): string {
  return dtype === 'BF16' ? 'bfloat16' : dtype === 'F16' ? 'float16' : 'float32';
}

/** Seeded uniform samples in (0, 1) (mulberry32) and standard normal ones (Box-Muller over them). */
export function seededRandom(seed: number): { uniform: () => number; normal: () => number } {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return { uniform, normal: () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) };
}
