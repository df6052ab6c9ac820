// Gemma-3 text models (Gemma3ForCausalLM, model_type "gemma3_text"): Gemma-2's layer (embeddings × √d,
// RMSNorm with (1 + w), norms before and after attention and MLP, GeGLU, query_pre_attn_scalar), plus
// an RMSNorm with (1 + w) over each head of q and k before RoPE; sliding-window layers interleaved with
// global ones by `layer_types`, else `sliding_window_pattern` (every n-th layer global, default 6); the
// sliding layers rotate with `rope_local_base_freq` and no scaling, the global ones with `rope_theta` and
// `rope_scaling`; soft-capping only when the config sets it (released models: none).
// The 4B and larger models are multimodal checkpoints (Gemma3ForConditionalGeneration, model_type "gemma3"):
// their language model is this one, configured by `text_config` (keys left out take Gemma3TextConfig's
// defaults) and stored under `language_model.model.` (transformers < 4.52) or `model.language_model.`; the
// vision tower and projector are not read (prompts are text).
import { UserError } from '../errors';
import { llamaWeights } from './llama';
import { ConfigError, SIZE_LIMITS as LIM, positive, size } from './spec';
import type { ConfigJson, ModelConfig, ModelSpec, TensorSource } from './spec';
import { gemma2Config } from './gemma2';

const LAYER_TYPES = ['sliding_attention', 'full_attention'];

export function gemma3Config(cfg: ConfigJson): ModelConfig {
  const base = gemma2Config(cfg);
  const n = base.nLayers;
  let sliding: boolean[];
  const types = cfg.layer_types;
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== n || !types.every((t) => typeof t === 'string' && LAYER_TYPES.includes(t))) {
      throw new ConfigError('layer_types', `"layer_types" must list ${n} entries, each ${LAYER_TYPES.map((t) => `"${t}"`).join(' or ')}`);
    }
    sliding = types.map((t) => t === 'sliding_attention');
  } else {
    // transformers' Gemma3TextConfig: layer i slides unless (i + 1) is a multiple of the pattern.
    const pattern = size(cfg, 'sliding_window_pattern', LIM.layers, 6);
    sliding = Array.from({ length: n }, (_, l) => (l + 1) % pattern !== 0);
  }
  const window = base.slidingWindow;
  if (window === null && sliding.some((s) => s)) throw new ConfigError('sliding_window', 'missing "sliding_window" (Gemma-3 has sliding-window layers)');
  return {
    ...base,
    architecture: 'gemma3',
    modelType: String(cfg.model_type),
    slidingLayers: sliding,
    rotaryBase: positive(cfg, 'rope_theta', 1_000_000),
    rotaryBaseLocal: positive(cfg, 'rope_local_base_freq', 10_000),
    qkNorm: true,
  };
}

/** transformers' Gemma3TextConfig defaults, for the keys a multimodal checkpoint's text_config leaves out. */
const GEMMA3_TEXT_DEFAULTS: ConfigJson = {
  vocab_size: 262_208,
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  max_position_embeddings: 131_072,
  rms_norm_eps: 1e-6,
  rope_theta: 1_000_000,
  query_pre_attn_scalar: 256,
  sliding_window: 4096,
  rope_local_base_freq: 10_000,
  sliding_window_pattern: 6,
};

/** Gemma3ForConditionalGeneration: the text model's config from `text_config`. */
export function gemma3MultimodalConfig(cfg: ConfigJson): ModelConfig {
  const text = cfg.text_config;
  if (text === null || typeof text !== 'object' || Array.isArray(text)) throw new ConfigError('text_config', 'missing "text_config" (a Gemma-3 multimodal config holds its language model\'s settings there)');
  const merged: ConfigJson = { ...GEMMA3_TEXT_DEFAULTS };
  for (const [k, v] of Object.entries(text as ConfigJson)) if (v !== undefined && v !== null) merged[k] = v;
  // null is meaningful for these (no scaling, no soft-capping): taken as given.
  for (const k of ['rope_scaling', 'attn_logit_softcapping', 'final_logit_softcapping']) merged[k] = (text as ConfigJson)[k] ?? null;
  return { ...gemma3Config({ ...merged, model_type: 'gemma3' }), modelType: 'gemma3' };
}

/** Where a multimodal checkpoint keeps its language model's `model.` tensors, by transformers version. */
const LANGUAGE_MODEL_PREFIXES = ['language_model.model.', 'model.language_model.'];

/** The text model's weights of a multimodal checkpoint, read through the Gemma3ForCausalLM names. */
export function gemma3MultimodalWeights(config: ModelConfig, src: TensorSource): ModelSpec {
  const prefix = LANGUAGE_MODEL_PREFIXES.find((p) => src.has(`${p}embed_tokens.weight`));
  if (!prefix) throw new UserError(`A Gemma-3 multimodal checkpoint without its language model: none of ${LANGUAGE_MODEL_PREFIXES.map((p) => `${p}embed_tokens.weight`).join(', ')} is there.`);
  const rename = (name: string) => (name.startsWith('model.') ? prefix + name.slice('model.'.length) : name === 'lm_head.weight' ? 'language_model.lm_head.weight' : name);
  const inner: TensorSource = {
    has: (name) => src.has(rename(name)),
    get: (name, shape) => src.get(rename(name), shape),
    getTransposed: (name, shape) => src.getTransposed(rename(name), shape),
    names: () => src.names(),
  };
  return llamaWeights(config, inner);
}
