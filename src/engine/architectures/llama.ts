// Llama family (Llama 1-3.x, Mistral, SmolLM, Qwen2, Qwen3): RMSNorm, SwiGLU, grouped-query attention,
// rotate-half RoPE over head_dim with rope_theta and rope_scaling (linear, llama3; rope.ts), sliding windows
// (Mistral: every layer; Qwen2/3: the layers from max_window_layers on); Qwen2 adds q/k/v biases, Qwen3 an
// RMSNorm over each head of q and k before RoPE (q_norm, k_norm). Gemma-2 and
// Gemma-3 reuse the tensor layout with their own configs (gemma2.ts, gemma3.ts).
import { ropeScaling } from './rope';
import { ConfigError, SIZE_LIMITS as LIM, linear, optional, positive, size } from './spec';
import type { ConfigJson, ModelConfig, ModelSpec, TensorSource, Activation } from './spec';
import type { Architecture } from '../../shared/modelInfo';

export function llamaConfig(cfg: ConfigJson, architecture: Architecture): ModelConfig {
  const d = size(cfg, 'hidden_size', LIM.width);
  const nHeads = size(cfg, 'num_attention_heads', LIM.heads);
  const nLayers = size(cfg, 'num_hidden_layers', LIM.layers);
  // Without head_dim the width must split evenly into heads (checked with the other sizes in load.ts).
  const dHead = cfg.head_dim === undefined || cfg.head_dim === null ? d / nHeads : size(cfg, 'head_dim', LIM.dHead);
  const act = String(cfg.hidden_act ?? 'silu');
  if (act !== 'silu') throw new Error(`unsupported hidden_act "${act}" (supported: silu)`);
  const { window, sliding } = slidingWindows(cfg, nLayers);
  return {
    architecture,
    modelType: String(cfg.model_type),
    nLayers,
    dModel: d,
    nHeads,
    nKvHeads: size(cfg, 'num_key_value_heads', LIM.heads, nHeads),
    dHead,
    dMlp: size(cfg, 'intermediate_size', LIM.dMlp),
    dVocab: size(cfg, 'vocab_size', LIM.vocab),
    nCtx: size(cfg, 'max_position_embeddings', LIM.context, 2048),
    norm: 'rmsnorm',
    normEps: positive(cfg, 'rms_norm_eps', 1e-6),
    normWeightOffset: 0,
    positional: 'rotary',
    rotaryDim: dHead,
    rotaryBase: positive(cfg, 'rope_theta', 10000),
    ropeScaling: ropeScaling(cfg),
    parallelResidual: false,
    activation: 'silu' as Activation,
    gatedMlp: true,
    embedScale: 1,
    attnScale: 1 / Math.sqrt(dHead),
    attnSoftcap: null,
    finalSoftcap: null,
    slidingWindow: window,
    slidingLayers: sliding,
    postNorms: false,
    tiedEmbeddings: cfg.tie_word_embeddings === true,
  };
}

/**
 * Which layers attend within a sliding window, as transformers decides: an explicit `layer_types` list; else
 * Mistral's `sliding_window` on every layer (null: none); else, with `use_sliding_window` (Qwen2/3), the
 * layers from `max_window_layers` on (the first ones keep full attention; default 28 as Qwen2Config's).
 */
function slidingWindows(cfg: ConfigJson, nLayers: number): { window: number | null; sliding: boolean[] } {
  const none = { window: null, sliding: new Array<boolean>(nLayers).fill(false) };
  const types = cfg.layer_types;
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== nLayers || !types.every((t) => t === 'sliding_attention' || t === 'full_attention')) {
      throw new ConfigError('layer_types', `"layer_types" must list ${nLayers} entries, each "sliding_attention" or "full_attention"`);
    }
    const sliding = types.map((t) => t === 'sliding_attention');
    return sliding.some((x) => x) ? { window: size(cfg, 'sliding_window', LIM.context), sliding } : none;
  }
  if (cfg.model_type === 'mistral') {
    if (cfg.sliding_window === undefined || cfg.sliding_window === null) return none;
    return { window: size(cfg, 'sliding_window', LIM.context), sliding: new Array<boolean>(nLayers).fill(true) };
  }
  if (cfg.use_sliding_window !== true) return none;
  const window = size(cfg, 'sliding_window', LIM.context);
  const full = cfg.max_window_layers === undefined || cfg.max_window_layers === null ? 28 : size(cfg, 'max_window_layers', LIM.layers);
  return { window, sliding: Array.from({ length: nLayers }, (_, l) => l >= full) };
}

/** Qwen3: Qwen2's layout without biases (unless attention_bias), plus q_norm / k_norm over each head. */
export function qwen3Config(cfg: ConfigJson): ModelConfig {
  return { ...llamaConfig(cfg, 'qwen3'), qkNorm: true };
}

export function llamaWeights(config: ModelConfig, src: TensorSource): ModelSpec {
  const { dModel: d, dMlp, dVocab, nHeads, nKvHeads, dHead } = config;
  const qd = nHeads * dHead;
  const kvd = nKvHeads * dHead;
  const layers = [];
  for (let l = 0; l < config.nLayers; l++) {
    const p = `model.layers.${l}.`;
    const norm = (name: string) => ({ w: src.get(`${p}${name}.weight`, [d]) });
    layers.push({
      ln1: norm('input_layernorm'),
      W_Q: linear(src, `${p}self_attn.q_proj.weight`, qd, d),
      W_K: linear(src, `${p}self_attn.k_proj.weight`, kvd, d),
      W_V: linear(src, `${p}self_attn.v_proj.weight`, kvd, d),
      b_Q: optional(src, `${p}self_attn.q_proj.bias`, [qd]),
      b_K: optional(src, `${p}self_attn.k_proj.bias`, [kvd]),
      b_V: optional(src, `${p}self_attn.v_proj.bias`, [kvd]),
      W_O: linear(src, `${p}self_attn.o_proj.weight`, d, qd),
      qNorm: config.qkNorm ? { w: src.get(`${p}self_attn.q_norm.weight`, [dHead]) } : undefined,
      kNorm: config.qkNorm ? { w: src.get(`${p}self_attn.k_norm.weight`, [dHead]) } : undefined,
      b_O: optional(src, `${p}self_attn.o_proj.bias`, [d]),
      ln1Post: config.postNorms ? norm('post_attention_layernorm') : undefined,
      ln2: config.postNorms ? norm('pre_feedforward_layernorm') : norm('post_attention_layernorm'),
      ln2Post: config.postNorms ? norm('post_feedforward_layernorm') : undefined,
      W_gate: linear(src, `${p}mlp.gate_proj.weight`, dMlp, d),
      W_in: linear(src, `${p}mlp.up_proj.weight`, dMlp, d),
      W_out: linear(src, `${p}mlp.down_proj.weight`, d, dMlp),
    });
  }
  const W_E = src.get('model.embed_tokens.weight', [dVocab, d]);
  return {
    config,
    weights: {
      W_E,
      layers,
      lnFinal: { w: src.get('model.norm.weight', [d]) },
      W_U: !config.tiedEmbeddings && src.has('lm_head.weight') ? src.get('lm_head.weight', [dVocab, d]) : W_E,
    },
  };
}
