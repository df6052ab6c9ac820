// Direct logit attribution: how much each component writes directly into a target logit (or the
// difference of two). The final residual stream at a position is a sum of parts (token and position
// embeddings, each head's output, each attention output bias, each MLP's output); with the final
// norm's scale frozen at its value on this prompt, the logit is linear in those parts:
//   logit = sum_c ((c - mean(c)) / scale) . (w_norm * u)  +  b_norm . u  +  b_U[target]
// (no centering for RMSNorm). The parts therefore sum to the logit exactly (tested).
// Gemma-2 normalises each attention and MLP output before adding it, so per-head parts are not
// additive there: its heads are reported as null and the layer's attention output is one part; the
// final soft-cap is not linear, so its attribution is of the logit before soft-capping.
import type { HookName } from '../hooks';
import { UserError } from '../errors';
import type { Model } from '../model';
import type { DlaResult } from '../../shared/protocol';
import type { Intervention } from '../../shared/interventions';

export interface DlaRequest {
  tokens: number[];
  target: number;
  /** Attribute the difference target - baseline. */
  baseline?: number;
  /** Position to explain (default: last). */
  position?: number;
  /** Run the prompt under these interventions (the parts are then those of the changed run). */
  interventions?: readonly Intervention[];
  signal?: AbortSignal;
}


export async function directLogitAttribution(model: Model, req: DlaRequest): Promise<DlaResult> {
  const c = model.config;
  const { nLayers: L, nHeads: H, dModel: d, dVocab: V } = c;
  const T = req.tokens.length;
  const pos = req.position ?? T - 1;
  if (pos < 0 || pos >= T) throw new UserError(`Position ${pos} is outside the prompt (0..${T - 1}).`);
  for (const t of [req.target, req.baseline]) if (t !== undefined && (t < 0 || t >= V)) throw new UserError(`Token ${t} is outside the vocabulary.`);
  const headsAdditive = !c.postNorms;
  const hooks: HookName[] = ['hook_embed', 'ln_final.hook_scale'];
  if (c.positional === 'learned') hooks.push('hook_pos_embed');
  for (let l = 0; l < L; l++) {
    hooks.push(`blocks.${l}.hook_attn_out`, `blocks.${l}.hook_mlp_out`);
    if (headsAdditive) hooks.push(`blocks.${l}.attn.hook_result`);
  }
  const r = await model.forward({ tokens: [req.tokens], hooks, interventions: req.interventions, logits: 'all', signal: req.signal });
  const w = model.spec.weights;
  // Direction in the residual stream: (u_target - u_baseline) scaled by the final norm's weight.
  const u = new Float64Array(d);
  const wn = w.lnFinal.w;
  const offset = c.normWeightOffset;
  for (let i = 0; i < d; i++) {
    let ui = w.W_U[req.target * d + i]!;
    if (req.baseline !== undefined) ui -= w.W_U[req.baseline * d + i]!;
    u[i] = ui * (Math.fround(wn[i]! + offset));
  }
  const scale = r.hooks.get('ln_final.hook_scale')!.data[pos]!;
  const centre = c.norm === 'layernorm';
  const project = (v: Float32Array, at: number): number => {
    let mean = 0;
    if (centre) {
      for (let i = 0; i < d; i++) mean += v[at + i]!;
      mean /= d;
    }
    let s = 0;
    for (let i = 0; i < d; i++) s += (v[at + i]! - mean) * u[i]!;
    return s / scale;
  };
  const part = (hook: string) => project(r.hooks.get(hook)!.data, pos * d);
  let embed = part('hook_embed');
  if (c.embedScale !== 1) embed *= c.embedScale;
  const posEmbed = c.positional === 'learned' ? part('hook_pos_embed') : 0;
  const attn: number[] = [];
  const attnBias: number[] = [];
  const mlp: number[] = [];
  const heads: number[][] | null = headsAdditive ? [] : null;
  for (let l = 0; l < L; l++) {
    attn.push(part(`blocks.${l}.hook_attn_out`));
    mlp.push(part(`blocks.${l}.hook_mlp_out`));
    if (heads) {
      const result = r.hooks.get(`blocks.${l}.attn.hook_result`)!.data;
      const row = Array.from({ length: H }, (_, h) => project(result, (pos * H + h) * d));
      heads.push(row);
      attnBias.push(attn[l]! - row.reduce((a, b) => a + b, 0));
    } else {
      attnBias.push(0);
    }
  }
  let constant = 0;
  const dirU = (i: number) => w.W_U[req.target * d + i]! - (req.baseline !== undefined ? w.W_U[req.baseline * d + i]! : 0);
  if (w.lnFinal.b) for (let i = 0; i < d; i++) constant += w.lnFinal.b[i]! * dirU(i);
  if (w.b_U) constant += w.b_U[req.target]! - (req.baseline !== undefined ? w.b_U[req.baseline]! : 0);
  const total = embed + posEmbed + attn.reduce((a, b) => a + b, 0) + mlp.reduce((a, b) => a + b, 0) + constant;
  // The model's own logit (difference); undo a final soft-cap so both sides are pre-cap.
  const logits = r.logits!.data;
  const uncap = (x: number) => (c.finalSoftcap !== null ? c.finalSoftcap * Math.atanh(x / c.finalSoftcap) : x);
  let logit = uncap(logits[pos * V + req.target]!);
  if (req.baseline !== undefined) logit -= uncap(logits[pos * V + req.baseline]!);
  return { position: pos, target: req.target, baseline: req.baseline, logit, embed, posEmbed, heads, attn, attnBias, mlp, constant, total };
}
