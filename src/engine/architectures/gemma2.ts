// Gemma-2: embeddings scaled by sqrt(d_model); RMSNorm with (1 + w); norms before and after both
// attention and MLP; GeGLU (tanh gelu); scores scaled by query_pre_attn_scalar^-0.5 and soft-capped;
// final logits soft-capped; even layers use a sliding window; head_dim independent of d_model.
import { llamaConfig } from './llama';
import { num } from './spec';
import type { ConfigJson, ModelConfig } from './spec';

export function gemma2Config(cfg: ConfigJson): ModelConfig {
  const base = llamaConfig({ ...cfg, hidden_act: 'silu', use_sliding_window: false }, 'gemma2');
  const act = String(cfg.hidden_activation ?? cfg.hidden_act ?? 'gelu_pytorch_tanh');
  if (act !== 'gelu_pytorch_tanh' && act !== 'gelu_new') throw new Error(`unsupported hidden_activation "${act}" (supported: gelu_pytorch_tanh)`);
  const window = typeof cfg.sliding_window === 'number' ? cfg.sliding_window : null;
  const cap = (key: string) => (typeof cfg[key] === 'number' ? (cfg[key] as number) : null);
  return {
    ...base,
    modelType: 'gemma2',
    activation: 'gelu_tanh',
    normWeightOffset: 1,
    // HF multiplies by a tensor of the compute dtype: round sqrt(d) to float32 as it does.
    embedScale: Math.fround(Math.sqrt(base.dModel)),
    attnScale: 1 / Math.sqrt(num(cfg, 'query_pre_attn_scalar', base.dHead)),
    attnSoftcap: cap('attn_logit_softcapping'),
    finalSoftcap: cap('final_logit_softcapping'),
    slidingWindow: window,
    slidingLayers: Array.from({ length: base.nLayers }, (_, l) => window !== null && l % 2 === 0),
    postNorms: true,
    tiedEmbeddings: true,
  };
}
