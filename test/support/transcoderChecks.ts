// What a bundled model's card says about its transcoders, recomputed through the engine: each layer's FVU and
// L0 over some token rows, and how often the replacement model (every MLP replaced by its transcoder, layer by
// layer, no error terms) keeps the model's top-1 prediction. Used by the bundled models' engine tests.
import type { HookName } from '../../src/engine/hooks';
import type { HookEdit } from '../../src/engine/interventions';
import { argmax } from '../../src/engine/model';
import type { Model } from '../../src/engine/model';
import { TranscoderRunner, fractionOfVarianceUnexplained } from '../../src/engine/attribution/transcoders';
import type { TranscoderSet } from '../../src/engine/attribution/transcoders';

/** Per layer: FVU of the MLP output and mean active features per token, over `rows` (equal lengths). */
export async function transcoderFvuL0(model: Model, set: TranscoderSet, rows: number[][]): Promise<Array<{ fvu: number; l0: number }>> {
  const L = model.config.nLayers;
  const d = model.config.dModel;
  const hooks = Array.from({ length: L }, (_, l): HookName[] => [`blocks.${l}.${set.inputHook}`, `blocks.${l}.hook_mlp_out`]).flat();
  const r = await model.forward({ tokens: rows, hooks, logits: 'none' });
  const out: Array<{ fvu: number; l0: number }> = [];
  for (let l = 0; l < L; l++) {
    const runner = await TranscoderRunner.create(model.graphs, set, set.layers[l]!, d);
    const { acts, recon } = await runner.run(r.hooks.get(`blocks.${l}.${set.inputHook}`)!.data);
    let active = 0;
    for (const a of acts) if (a > 0) active++;
    out.push({ fvu: fractionOfVarianceUnexplained(r.hooks.get(`blocks.${l}.hook_mlp_out`)!.data, recon, d), l0: active / (rows.length * rows[0]!.length) });
  }
  return out;
}

/** Fraction of positions of `rows` where the replacement model's top-1 token equals the model's. */
export async function replacementAgreement(model: Model, set: TranscoderSet, rows: number[][]): Promise<number> {
  const { nLayers: L, dModel: d, dVocab: V } = model.config;
  const T = rows[0]!.length;
  const runners = await Promise.all(set.layers.map((t) => TranscoderRunner.create(model.graphs, set, t, d)));
  const shape = [rows.length, T, d];
  const edits = (recons: Float32Array[]) => new Map<string, HookEdit>(recons.map((recon, l) => [`blocks.${l}.hook_mlp_out`, { shape, keep: new Float32Array(recon.length), add: recon }]));
  // Layer by layer: each transcoder reads the MLP input of the model whose earlier MLPs are replaced.
  const replaced: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    const r = await model.forward({ tokens: rows, hooks: [`blocks.${l}.${set.inputHook}`], logits: 'none', edits: edits(replaced) });
    replaced.push((await runners[l]!.run(r.hooks.get(`blocks.${l}.${set.inputHook}`)!.data)).recon);
  }
  const clean = await model.forward({ tokens: rows, logits: 'all' });
  const repl = await model.forward({ tokens: rows, logits: 'all', edits: edits(replaced) });
  let agree = 0;
  const n = rows.length * T;
  for (let i = 0; i < n; i++) if (argmax(clean.logits!.data, i * V, (i + 1) * V) === argmax(repl.logits!.data, i * V, (i + 1) * V)) agree++;
  return agree / n;
}
