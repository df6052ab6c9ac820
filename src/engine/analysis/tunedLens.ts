// Tuned lens files (Belrose et al. 2023, "Eliciting Latent Predictions from Transformers with the Tuned
// Lens"): one learned affine "translator" per layer, applied to that layer's residual stream before the
// final norm and unembedding: resid' = resid + resid @ W^T + b (tuned-lens' translators are nn.Linear
// layers added to the identity). The file is safetensors with, for each layer i = 0..n_layers-1,
//   layers.{i}.weight  [d_model, d_model]  nn.Linear layout (out, in)
//   layers.{i}.bias    [d_model]           (optional: zero when absent)
// F32, F16 or BF16. The engine's logitLens takes A = W^T (row-major [in, out]), so it computes
// resid @ A = resid @ W^T. Steps: read the header; check every layer's shapes; transpose each weight.
import { basename } from 'node:path';
import { UserError } from '../errors';
import { readSafetensorsHeader, readTensorF32 } from '../checkpoint/safetensors';
import type { TunedLens } from './logitLens';

export function readTunedLens(file: string, nLayers: number, dModel: number): TunedLens {
  const name = basename(file);
  const header = readSafetensorsHeader(file);
  const layers: TunedLens['layers'] = [];
  for (let i = 0; i < nLayers; i++) {
    const w = header.tensors.get(`layers.${i}.weight`);
    if (!w) throw new UserError(`${name}: tensor layers.${i}.weight is missing (a tuned lens needs one [${dModel}, ${dModel}] weight per layer; the model has ${nLayers} layers).`);
    if (w.shape.length !== 2 || w.shape[0] !== dModel || w.shape[1] !== dModel) {
      throw new UserError(`${name}: layers.${i}.weight has shape [${w.shape.join(', ')}]; expected [${dModel}, ${dModel}].`);
    }
    const W = readTensorF32(w);
    const A = new Float32Array(dModel * dModel);
    for (let out = 0; out < dModel; out++) for (let inp = 0; inp < dModel; inp++) A[inp * dModel + out] = W[out * dModel + inp]!;
    const b = header.tensors.get(`layers.${i}.bias`);
    if (b && (b.shape.length !== 1 || b.shape[0] !== dModel)) throw new UserError(`${name}: layers.${i}.bias has shape [${b.shape.join(', ')}]; expected [${dModel}].`);
    layers.push({ A, b: b ? readTensorF32(b) : new Float32Array(dModel) });
  }
  return { layers };
}
