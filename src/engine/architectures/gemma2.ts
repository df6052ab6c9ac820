// Gemma-2: embeddings scaled by sqrt(d_model); RMSNorm with (1 + w); norms before and after both
// attention and MLP; GeGLU (tanh gelu); scores scaled by query_pre_attn_scalar^-0.5 and soft-capped;
// final logits soft-capped; even layers use a sliding window; head_dim independent of d_model.
import { llamaConfig } from './llama';
import { SIZE_LIMITS as LIM, positive, size } from './spec';
import type { ConfigJson, ModelConfig } from './spec';

export function gemma2Config(cfg: ConfigJson): ModelConfig {
  const base = llamaConfig({ ...cfg, hidden_act: 'silu', use_sliding_window: false }, 'gemma2');
  const act = String(cfg.hidden_activation ?? cfg.hidden_act ?? 'gelu_pytorch_tanh');
  if (act !== 'gelu_pytorch_tanh' && act !== 'gelu_new') throw new Error(`unsupported hidden_activation "${act}" (supported: gelu_pytorch_tanh)`);
  const window = cfg.sliding_window === undefined || cfg.sliding_window === null ? null : size(cfg, 'sliding_window', LIM.context);
  const cap = (key: string) => (cfg[key] === undefined || cfg[key] === null ? null : positive(cfg, key));
  return {
    ...base,
    modelType: 'gemma2',
    activation: 'gelu_tanh',
    normWeightOffset: 1,
    // HF multiplies by a tensor of the compute dtype: round sqrt(d) to float32 as it does.
    embedScale: Math.fround(Math.sqrt(base.dModel)),
    attnScale: 1 / Math.sqrt(positive(cfg, 'query_pre_attn_scalar', base.dHead)),
    attnSoftcap: cap('attn_logit_softcapping'),
    finalSoftcap: cap('final_logit_softcapping'),
    slidingWindow: window,
    slidingLayers: Array.from({ length: base.nLayers }, (_, l) => window !== null && l % 2 === 0),
    postNorms: true,
    tiedEmbeddings: true,
  };
}
