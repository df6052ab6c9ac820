// Gemma-3 text models (Gemma3ForCausalLM, model_type "gemma3_text"): Gemma-2's layer (embeddings × √d,
// RMSNorm with (1 + w), norms before and after attention and MLP, GeGLU, query_pre_attn_scalar), plus
// an RMSNorm with (1 + w) over each head of q and k before RoPE; sliding-window layers interleaved with
// global ones by `layer_types`, else `sliding_window_pattern` (every n-th layer global, default 6); the
// sliding layers rotate with `rope_local_base_freq` and no scaling, the global ones with `rope_theta` and
// `rope_scaling`; soft-capping only when the config sets it (released models: none).
import { gemma2Config } from './gemma2';
import { ConfigError, SIZE_LIMITS as LIM, positive, size } from './spec';
import type { ConfigJson, ModelConfig } from './spec';

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
