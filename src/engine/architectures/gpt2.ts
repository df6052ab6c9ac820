// GPT-2: Conv1D weights stored [in, out] (already x @ W), fused c_attn [d, 3d] split into Q, K, V,
// learned positions, LayerNorm, gelu_new, lm_head tied to wte. Hub checkpoints name tensors
// without the `transformer.` prefix; save_pretrained adds it: both are accepted.
import { SIZE_LIMITS as LIM, positive, size } from './spec';
import type { ConfigJson, ModelConfig, ModelSpec, TensorSource, Activation } from './spec';

const ACTIVATIONS: Record<string, Activation> = { gelu_new: 'gelu_new', gelu: 'gelu', gelu_pytorch_tanh: 'gelu_tanh', relu: 'relu' };

export function gpt2Config(cfg: ConfigJson): ModelConfig {
  const d = size(cfg, 'n_embd', LIM.width);
  const nHeads = size(cfg, 'n_head', LIM.heads);
  const nLayers = size(cfg, 'n_layer', LIM.layers);
  const act = String(cfg.activation_function ?? 'gelu_new');
  const activation = ACTIVATIONS[act];
  if (!activation) throw new Error(`unsupported activation_function "${act}" (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return {
    architecture: 'gpt2',
    modelType: 'gpt2',
    nLayers,
    dModel: d,
    nHeads,
    nKvHeads: nHeads,
    dHead: d / nHeads,
    dMlp: size(cfg, 'n_inner', LIM.dMlp, 4 * d),
    dVocab: size(cfg, 'vocab_size', LIM.vocab),
    nCtx: size(cfg, 'n_positions', LIM.context, size(cfg, 'n_ctx', LIM.context, 1024)),
    norm: 'layernorm',
    normEps: positive(cfg, 'layer_norm_epsilon', 1e-5),
    normWeightOffset: 0,
    positional: 'learned',
    rotaryDim: 0,
    rotaryBase: 0,
    parallelResidual: false,
    activation,
    gatedMlp: false,
    embedScale: 1,
    attnScale: cfg.scale_attn_weights === false ? 1 : 1 / Math.sqrt(d / nHeads),
    attnSoftcap: null,
    finalSoftcap: null,
    slidingWindow: null,
    slidingLayers: new Array<boolean>(nLayers).fill(false),
    postNorms: false,
    tiedEmbeddings: true,
  };
}

export function gpt2Weights(config: ModelConfig, src: TensorSource): ModelSpec {
  const { dModel: d, dMlp, dVocab, nCtx } = config;
  const p = src.has('transformer.wte.weight') ? 'transformer.' : '';
  const layers = [];
  for (let l = 0; l < config.nLayers; l++) {
    const h = `${p}h.${l}.`;
    // Conv1D stores [in, out]; the engine keeps [out, in]. The fused [d, 3d] matrix's transpose is
    // [3d, d], whose row blocks are W_Q, W_K and W_V.
    const cAttnT = src.getTransposed(`${h}attn.c_attn.weight`, [d, 3 * d]);
    const cAttnB = src.get(`${h}attn.c_attn.bias`, [3 * d]);
    const split = (part: number) => cAttnT.subarray(part * d * d, (part + 1) * d * d);
    layers.push({
      ln1: { w: src.get(`${h}ln_1.weight`, [d]), b: src.get(`${h}ln_1.bias`, [d]) },
      W_Q: split(0),
      W_K: split(1),
      W_V: split(2),
      b_Q: cAttnB.slice(0, d),
      b_K: cAttnB.slice(d, 2 * d),
      b_V: cAttnB.slice(2 * d),
      W_O: src.getTransposed(`${h}attn.c_proj.weight`, [d, d]),
      b_O: src.get(`${h}attn.c_proj.bias`, [d]),
      ln2: { w: src.get(`${h}ln_2.weight`, [d]), b: src.get(`${h}ln_2.bias`, [d]) },
      W_in: src.getTransposed(`${h}mlp.c_fc.weight`, [d, dMlp]),
      b_in: src.get(`${h}mlp.c_fc.bias`, [dMlp]),
      W_out: src.getTransposed(`${h}mlp.c_proj.weight`, [dMlp, d]),
      b_out: src.get(`${h}mlp.c_proj.bias`, [d]),
    });
  }
  const W_E = src.get(`${p}wte.weight`, [dVocab, d]);
  return {
    config,
    weights: {
      W_E,
      W_pos: src.get(`${p}wpe.weight`, [nCtx, d]),
      layers,
      lnFinal: { w: src.get(`${p}ln_f.weight`, [d]), b: src.get(`${p}ln_f.bias`, [d]) },
      W_U: src.has('lm_head.weight') ? src.get('lm_head.weight', [dVocab, d]) : W_E,
    },
  };
}
