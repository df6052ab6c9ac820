// The random-init control: the same architecture with its weights re-initialised, seeded, by the
// checkpoint family's own initialisation scheme (Hugging Face's `_init_weights`), so an analysis can be run
// beside the trained model (the control the "non-linear representation dilemma" paper asks every
// interpretability claim to have: a result a random network also shows says little about training).
//   - GPT-2: every matrix and embedding normal(0, initializer_range = 0.02), the residual projections
//     (attn.c_proj, mlp.c_proj) normal(0, 0.02 / sqrt(2 n_layers)) (GPT-2 paper, HF GPT2PreTrainedModel);
//   - GPT-NeoX, Llama, Mistral, Qwen2/3, Gemma-2/3: every matrix and embedding normal(0, initializer_range);
//   - biases 0, norms at 1 (Gemma's (1 + w) norms: w = 0), a tied unembedding stays tied.
// The model is built from the spec in memory (no folder); it keeps the tokenizer and the head probe.
import { join } from 'node:path';
import { readJsonFile } from './files';
import { Model } from './model';
import type { LayerWeights, ModelConfig, ModelSpec, ModelWeights, NormWeights } from './architectures/spec';
import { seededRandom } from './checkpoint/synthetic';

/** HF's default initializer_range for every family MechLens loads. */
export const DEFAULT_INITIALIZER_RANGE = 0.02;

/** The config's initializer_range (default 0.02). */
export function initializerRange(dir: string): number {
  try {
    const v = (readJsonFile(join(dir, 'config.json'), 'config.json', 1 << 20) as Record<string, unknown>).initializer_range;
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : DEFAULT_INITIALIZER_RANGE;
  } catch {
    return DEFAULT_INITIALIZER_RANGE;
  }
}

/** Re-initialised weights of `spec`'s shape (which biases and norms exist follows `spec`). */
export function randomInitSpec(spec: ModelSpec, seed: number, std = DEFAULT_INITIALIZER_RANGE): ModelSpec {
  const c: ModelConfig = spec.config;
  const w = spec.weights;
  const normal = seededRandom(seed).normal;
  const gaussian = (n: number, s: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = s * normal();
    return a;
  };
  const zeros = (v: Float32Array | undefined) => (v ? new Float32Array(v.length) : undefined);
  // Norms at 1: the stored weight is 1 - offset (Gemma multiplies by 1 + w).
  const norm = (n: NormWeights): NormWeights => ({ w: new Float32Array(n.w.length).fill(1 - c.normWeightOffset), ...(n.b ? { b: new Float32Array(n.b.length) } : {}) });
  const residStd = c.architecture === 'gpt2' ? std / Math.sqrt(2 * c.nLayers) : std;
  const W_E = gaussian(w.W_E.length, std);
  const layers = w.layers.map((lw): LayerWeights => {
    const out: LayerWeights = {
      ln1: norm(lw.ln1),
      W_Q: gaussian(lw.W_Q.length, std),
      W_K: gaussian(lw.W_K.length, std),
      W_V: gaussian(lw.W_V.length, std),
      W_O: gaussian(lw.W_O.length, residStd),
      ln2: norm(lw.ln2),
      W_in: gaussian(lw.W_in.length, std),
      W_out: gaussian(lw.W_out.length, residStd),
    };
    for (const b of ['b_Q', 'b_K', 'b_V', 'b_O', 'b_in', 'b_out'] as const) if (lw[b]) out[b] = zeros(lw[b]);
    if (lw.W_gate) out.W_gate = gaussian(lw.W_gate.length, std);
    if (lw.ln1Post) out.ln1Post = norm(lw.ln1Post);
    if (lw.qNorm) out.qNorm = norm(lw.qNorm);
    if (lw.kNorm) out.kNorm = norm(lw.kNorm);
    if (lw.ln2Post) out.ln2Post = norm(lw.ln2Post);
    return out;
  });
  const weights: ModelWeights = {
    W_E,
    ...(w.W_pos ? { W_pos: gaussian(w.W_pos.length, std) } : {}),
    layers,
    lnFinal: norm(w.lnFinal),
    W_U: w.W_U === w.W_E ? W_E : gaussian(w.W_U.length, std),
    ...(w.b_U ? { b_U: new Float32Array(w.b_U.length) } : {}),
  };
  return { config: c, weights };
}

/** `model`'s architecture with re-initialised weights, as a Model of its own (dispose it when done). */
export async function randomInitModel(model: Model, seed: number, options: { threads?: number } = {}): Promise<Model> {
  const spec = randomInitSpec(model.spec, seed, initializerRange(model.info.dir));
  const info = { ...model.info, name: `${model.info.name} (random init, seed ${seed})`, warnings: [] };
  const random = await Model.fromSpec(spec, info, model.tokenizer, { threads: options.threads });
  random.headProbe = model.headProbe;
  return random;
}
