// GPT-NeoX (Pythia): fused query_key_value [3d, d] interleaved per head ([heads][q,k,v][d_head]),
// partial rotary (rotary_pct of each head, rotate-half), optional parallel residual, LayerNorm,
// exact-erf gelu, untied embed_out.
import { SIZE_LIMITS as LIM, linear, optional, positive, size } from './spec';
import type { ConfigJson, ModelConfig, ModelSpec, TensorSource } from './spec';

export function neoxConfig(cfg: ConfigJson): ModelConfig {
  const d = size(cfg, 'hidden_size', LIM.width);
  const nHeads = size(cfg, 'num_attention_heads', LIM.heads);
  const nLayers = size(cfg, 'num_hidden_layers', LIM.layers);
  const dHead = d / nHeads;
  const act = String(cfg.hidden_act ?? 'gelu');
  if (act !== 'gelu' && act !== 'gelu_new' && act !== 'gelu_fast') throw new Error(`unsupported hidden_act "${act}" (supported: gelu, gelu_new)`);
  return {
    architecture: 'gpt_neox',
    modelType: 'gpt_neox',
    nLayers,
    dModel: d,
    nHeads,
    nKvHeads: nHeads,
    dHead,
    dMlp: size(cfg, 'intermediate_size', LIM.dMlp, 4 * d),
    dVocab: size(cfg, 'vocab_size', LIM.vocab),
    nCtx: size(cfg, 'max_position_embeddings', LIM.context, 2048),
    norm: 'layernorm',
    normEps: positive(cfg, 'layer_norm_eps', 1e-5),
    normWeightOffset: 0,
    positional: 'rotary',
    rotaryDim: Math.floor(dHead * positive(cfg, 'rotary_pct', 1)),
    rotaryBase: positive(cfg, 'rotary_emb_base', positive(cfg, 'rope_theta', 10000)),
    parallelResidual: cfg.use_parallel_residual !== false,
    activation: act === 'gelu' ? 'gelu' : 'gelu_new',
    gatedMlp: false,
    embedScale: 1,
    attnScale: 1 / Math.sqrt(dHead),
    attnSoftcap: null,
    finalSoftcap: null,
    slidingWindow: null,
    slidingLayers: new Array<boolean>(nLayers).fill(false),
    postNorms: false,
    tiedEmbeddings: cfg.tie_word_embeddings === true,
  };
}

export function neoxWeights(config: ModelConfig, src: TensorSource): ModelSpec {
  const { dModel: d, dMlp, dVocab, nHeads: H, dHead: dh } = config;
  const layers = [];
  for (let l = 0; l < config.nLayers; l++) {
    const p = `gpt_neox.layers.${l}.`;
    const qkv = src.get(`${p}attention.query_key_value.weight`, [3 * d, d]);
    const qkvB = src.get(`${p}attention.query_key_value.bias`, [3 * d]);
    // Rows are ordered [head][q|k|v][d_head]: gather each part's rows ([H*dh, d], the engine's layout).
    const part = (which: number) => {
      const rows = new Float32Array(d * d);
      const bias = new Float32Array(d);
      for (let h = 0; h < H; h++) {
        const srcRow = (h * 3 + which) * dh;
        rows.set(qkv.subarray(srcRow * d, (srcRow + dh) * d), h * dh * d);
        bias.set(qkvB.subarray(srcRow, srcRow + dh), h * dh);
      }
      return { W: rows, b: bias };
    };
    const q = part(0);
    const k = part(1);
    const v = part(2);
    layers.push({
      ln1: { w: src.get(`${p}input_layernorm.weight`, [d]), b: src.get(`${p}input_layernorm.bias`, [d]) },
      W_Q: q.W,
      W_K: k.W,
      W_V: v.W,
      b_Q: q.b,
      b_K: k.b,
      b_V: v.b,
      W_O: linear(src, `${p}attention.dense.weight`, d, d),
      b_O: optional(src, `${p}attention.dense.bias`, [d]),
      ln2: { w: src.get(`${p}post_attention_layernorm.weight`, [d]), b: src.get(`${p}post_attention_layernorm.bias`, [d]) },
      W_in: linear(src, `${p}mlp.dense_h_to_4h.weight`, dMlp, d),
      b_in: optional(src, `${p}mlp.dense_h_to_4h.bias`, [dMlp]),
      W_out: linear(src, `${p}mlp.dense_4h_to_h.weight`, d, dMlp),
      b_out: optional(src, `${p}mlp.dense_4h_to_h.bias`, [d]),
    });
  }
  const W_E = src.get('gpt_neox.embed_in.weight', [dVocab, d]);
  return {
    config,
    weights: {
      W_E,
      layers,
      lnFinal: { w: src.get('gpt_neox.final_layer_norm.weight', [d]), b: src.get('gpt_neox.final_layer_norm.bias', [d]) },
      W_U: src.has('embed_out.weight') ? src.get('embed_out.weight', [dVocab, d]) : W_E,
    },
  };
}
