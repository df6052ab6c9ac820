// Generates random GPT-2 checkpoints in Hugging Face format (config.json + model.safetensors),
// seeded. The benchmarks use it for the GPT-2-small-shaped model; tests use it for edge cases.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from './safetensorsWriter';
import type { TensorToWrite } from './safetensorsWriter';

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
  const rand = normal(seed);
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

/** Standard normal samples from a seeded generator (Box-Muller over mulberry32). */
function normal(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}
