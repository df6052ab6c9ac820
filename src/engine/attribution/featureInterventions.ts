// Feature interventions (circuit-tracer's `feature_intervention` / `feature_intervention_generate`,
// Neuronpedia's Steer; attribution-graphs.md §1e) and a feature's top inputs and outputs on demand.
//
// Steering: a feature's activation becomes a new value (set, scaled or ablated) at chosen positions of the
// prompt and/or at every generated token. As in circuit-tracer, the model's own MLP output is kept and
// (value − current activation) × the feature's decoder row is added at the transcoder's write hook (for a
// cross-layer transcoder, its decoder row into every layer it writes, at each of those layers). The current
// activation is recomputed in the running pass: intervened layers are visited in order, each pass running
// the model with the edits found so far up to that layer's transcoder input. "Attention frozen" replaces
// every attention pattern at the prompt's positions by its value on the clean prompt (freezing applies to
// the prompt pass only, as in circuit-tracer); otherwise it is a plain steering run. The edits are the
// engine's own intervention objects (add a vector at a hook and position, patch a pattern), returned with
// the result: `mechlens generate --interventions` replays them and gives the same continuation.
//
// Top inputs: one backward run from the feature's encoder row at its input hook and position through the
// frozen model (attention patterns, norm scales and MLP outputs held; skip paths live), the direct effects of
// every earlier active feature, error and token embedding, as one row of an attribution graph.
// Top outputs: virtual weights (decoder row · a later layer's encoder rows, through that layer's norm weight,
// norm scale ignored) and the decoder row's logits (see dashboards.ts).
import { UserError, throwIfAborted } from '../errors';
import { computeGradients } from '../gradients';
import type { HookName } from '../hooks';
import { argmax, mulberry32, sample } from '../model';
import type { Model } from '../model';
import { topTokens } from '../prompt';
import type { Intervention } from '../../shared/interventions';
import type { FeatureInputsResult, FeatureOutputsResult, FeatureSteer, SteerResult, SteerSide } from '../../shared/features';
import type { KvCache } from '../model';
import { foldFinalNorm, topLogitsOf, totalDecoderRows } from './dashboards';
import { TranscoderRunner, checkFeature } from './transcoders';
import type { TranscoderSet } from './transcoders';

export interface SteerOptions {
  features: readonly FeatureSteer[];
  freezeAttention?: boolean;
  /** Tokens generated on each side (default 10). */
  maxNewTokens?: number;
  /** 0 (default): greedy; otherwise sampled with `seed` (as Model.generate). */
  temperature?: number;
  seed?: number;
  /** Top next tokens shown (default 5). */
  topK?: number;
  signal?: AbortSignal;
}

const inputHookOf = (set: TranscoderSet, l: number) => `blocks.${l}.${set.inputHook}` as HookName;
const outputHookOf = (set: TranscoderSet, l: number) => `blocks.${l}.${set.outputHook}` as HookName;

async function runnerFor(model: Model, set: TranscoderSet, runners: Map<number, TranscoderRunner>, l: number): Promise<TranscoderRunner> {
  let r = runners.get(l);
  if (!r) runners.set(l, (r = await TranscoderRunner.create(model.graphs, set, set.layers[l]!, model.config.dModel)));
  return r;
}

export async function steerFeatures(model: Model, set: TranscoderSet, tokens: number[], o: SteerOptions): Promise<Omit<SteerResult, 'prompt'>> {
  const T = tokens.length;
  const N = o.maxNewTokens ?? 10;
  const temperature = o.temperature ?? 0;
  const topK = o.topK ?? 5;
  const d = model.config.dModel;
  if (o.features.length === 0) throw new UserError('Give at least one feature to steer.');
  if (T + N > model.config.nCtx) throw new UserError(`The prompt (${T} tokens) plus ${N} new tokens exceeds the context of ${model.config.nCtx}.`);
  for (const [i, f] of o.features.entries()) {
    checkFeature(set, f.layer, f.index);
    for (const p of f.positions ?? []) if (p >= T) throw new UserError(`Feature intervention ${i + 1}: position ${p} is beyond the prompt (positions 0..${T - 1}).`);
  }
  const runners = new Map<number, TranscoderRunner>();
  const layers = [...new Set(o.features.map((f) => f.layer))].sort((a, b) => a - b);
  const rows = new Map(o.features.map((f) => [`${f.layer}:${f.index}`, set.decoderRows(f.layer, [f.index])]));

  // Clean prompt: the "before" side and the clean activations.
  const clean = await model.forward({ tokens: [tokens], hooks: layers.map((l) => inputHookOf(set, l)), logits: 'last', signal: o.signal });
  const cleanActs = new Map<number, Float32Array>();
  for (const l of layers) cleanActs.set(l, await (await runnerFor(model, set, runners, l)).encode(clean.hooks.get(inputHookOf(set, l))!.data));
  const before: SteerSide = {
    top: topTokens(model, clean.logits!.data, topK),
    newTokens: await model.generate(tokens, { maxNewTokens: N, temperature, seed: o.seed, signal: o.signal }),
    newText: '',
  };
  const decode = (ids: number[]) => (ids.length ? model.decode(ids) : '');
  before.newText = decode(before.newTokens);

  const activations: SteerResult['activations'] = [];
  const all: Intervention[] = [];
  /**
   * One pass over `pending` (absolute positions offset..offset+n−1) with the feature edits at `positionsOf`:
   * visits the intervened layers in order, reading each one's current activations with the edits so far.
   */
  const pass = async (pending: number[], offset: number, past: KvCache | undefined, fixed: Intervention[], positionsOf: (f: FeatureSteer) => number[]) => {
    const ivs = [...fixed];
    for (const l of layers) {
      const here = o.features.map((f) => ({ f, ps: f.layer === l ? positionsOf(f).filter((p) => p >= offset && p < offset + pending.length) : [] })).filter((x) => x.ps.length > 0);
      if (here.length === 0) continue;
      throwIfAborted(o.signal);
      const r = await model.forward({ tokens: [pending], past, hooks: [inputHookOf(set, l)], logits: 'none', interventions: ivs, signal: o.signal });
      const acts = await (await runnerFor(model, set, runners, l)).encode(r.hooks.get(inputHookOf(set, l))!.data);
      const F = set.layers[l]!.dTranscoder;
      for (const { f, ps } of here) {
        const row = rows.get(`${f.layer}:${f.index}`)!;
        const nOut = row.length / d;
        for (const p of ps) {
          const current = acts[(p - offset) * F + f.index]!;
          const value = f.ablate ? 0 : f.value !== undefined ? f.value : f.scale! * current;
          const cleanValue = p < T ? cleanActs.get(l)![p * F + f.index]! : null;
          activations.push({ layer: l, index: f.index, position: p, clean: cleanValue, current, value });
          const delta = value - current;
          if (delta === 0) continue;
          for (let j = 0; j < nOut; j++) {
            ivs.push({ kind: 'add', hook: outputHookOf(set, l + j), vector: Array.from(row.subarray(j * d, (j + 1) * d)), scale: delta, positions: [p] });
          }
        }
      }
    }
    const r = await model.forward({ tokens: [pending], past, returnCache: true, logits: 'last', interventions: ivs, signal: o.signal });
    all.push(...ivs);
    return { logits: r.logits!.data, cache: r.cache! };
  };

  // Prompt pass: attention patterns frozen at their clean values when asked.
  const promptPositions = Array.from({ length: T }, (_, p) => p);
  const freeze: Intervention[] = o.freezeAttention
    ? Array.from({ length: model.config.nLayers }, (_, l) => ({ kind: 'patch', hook: `blocks.${l}.attn.hook_pattern`, source: { tokens }, positions: promptPositions }))
    : [];
  let step = await pass(tokens, 0, undefined, freeze, (f) => (f.positions ?? (f.generated ? [] : promptPositions)));
  const afterTop = topTokens(model, step.logits, topK);
  // Generation: only the open-ended interventions (`generated`) apply after the prompt, one position per step.
  const rand = mulberry32(o.seed ?? 0);
  const newTokens: number[] = [];
  for (let i = 0; i < N; i++) {
    throwIfAborted(o.signal);
    const next = temperature > 0 ? sample(step.logits, temperature, rand) : argmax(step.logits);
    newTokens.push(next);
    if (i === N - 1) break;
    const at = T + i;
    step = await pass([next], at, step.cache, [], (f) => (f.generated ? [at] : []));
  }
  return { before, after: { top: afterTop, newTokens, newText: decode(newTokens) }, activations, interventions: all };
}

// ---------------------------------------------------------------- top inputs

export async function featureInputs(
  model: Model,
  set: TranscoderSet,
  tokens: number[],
  o: { layer: number; index: number; position?: number; top?: number; signal?: AbortSignal },
): Promise<Omit<FeatureInputsResult, 'prompt'>> {
  const { layer: L, index: f } = o;
  checkFeature(set, L, f);
  const T = tokens.length;
  const p = o.position ?? T - 1;
  if (!Number.isInteger(p) || p < 0 || p >= T) throw new UserError(`Position ${p} is outside the prompt (0..${T - 1}).`);
  const d = model.config.dModel;
  const below = Array.from({ length: L }, (_, l) => l);
  const hooks = [...below.map((l) => outputHookOf(set, l)), ...below.map((l) => inputHookOf(set, l)), inputHookOf(set, L), 'hook_embed' as HookName];
  const fwd = await model.forward({ tokens: [tokens], hooks, logits: 'none', signal: o.signal });
  const runners = new Map<number, TranscoderRunner>();
  const xL = fwd.hooks.get(inputHookOf(set, L))!.data;
  const tl = set.layers[L]!;
  let pre = tl.b_enc[f]!;
  for (let k = 0; k < d; k++) pre += tl.W_enc[f * d + k]! * xL[p * d + k]!;
  const actL = (await (await runnerFor(model, set, runners, L)).encode(xL.subarray(p * d, (p + 1) * d)))[f]!;

  // Active earlier features at positions ≤ p, the reconstructions they make, and the errors.
  const recon = below.map((l) => {
    const r = new Float32Array(T * d);
    for (let q = 0; q < T; q++) r.set(set.layers[l]!.b_dec, q * d);
    return r;
  });
  const active: Array<{ layer: number; index: number; position: number; act: number; rows: Float32Array }> = [];
  const skips: Array<{ layer: number; input: string; weight: Float32Array }> = [];
  for (const l of below) {
    const x = fwd.hooks.get(inputHookOf(set, l))!.data;
    const acts = await (await runnerFor(model, set, runners, l)).encode(x);
    const F = set.layers[l]!.dTranscoder;
    const here: Array<{ q: number; g: number; a: number }> = [];
    for (let q = 0; q < T; q++) for (let g = 0; g < F; g++) if (acts[q * F + g] !== 0) here.push({ q, g, a: acts[q * F + g]! });
    const rowsAll = set.decoderRows(l, here.map((h) => h.g));
    const nOut = here.length ? rowsAll.length / (here.length * d) : 1;
    here.forEach((h, i) => {
      const rows = rowsAll.subarray(i * nOut * d, (i + 1) * nOut * d);
      for (let j = 0; j < nOut && l + j < L; j++) {
        const r = recon[l + j]!;
        for (let k = 0; k < d; k++) r[h.q * d + k]! += h.a * rows[j * d + k]!;
      }
      if (h.q <= p) active.push({ layer: l, index: h.g, position: h.q, act: h.a, rows });
    });
    const skip = set.layers[l]!.W_skip;
    if (skip) {
      const wT = new Float32Array(d * d);
      for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) wT[k * d + i] = skip[i * d + k]!;
      const r = recon[l]!;
      for (let q = 0; q < T; q++) for (let i = 0; i < d; i++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += x[q * d + k]! * skip[i * d + k]!;
        r[q * d + i]! += s;
      }
      skips.push({ layer: l, input: inputHookOf(set, l), weight: wT });
    }
  }
  throwIfAborted(o.signal);
  const g = await computeGradients(model, {
    tokens: [tokens],
    wrt: [...below.map((l) => outputHookOf(set, l)), 'hook_embed'],
    seeds: [{ hook: inputHookOf(set, L), position: p, vector: tl.W_enc.subarray(f * d, (f + 1) * d) }],
    freeze: { attention: true, norms: true, mlp: true, skips },
    signal: o.signal,
  });
  const dot = (a: Float32Array, ao: number, b: Float32Array, bo: number) => {
    let s = 0;
    for (let k = 0; k < d; k++) s += a[ao + k]! * b[bo + k]!;
    return s;
  };
  const inputs: FeatureInputsResult['inputs'] = [];
  for (const s of active) {
    let w = 0;
    const nOut = s.rows.length / d;
    for (let j = 0; j < nOut && s.layer + j < L; j++) w += s.act * dot(s.rows, j * d, g.grads.get(outputHookOf(set, s.layer + j))!.data, s.position * d);
    inputs.push({ kind: 'feature', layer: s.layer, index: s.index, position: s.position, weight: w, act: s.act });
  }
  for (const l of below) {
    const out = fwd.hooks.get(outputHookOf(set, l))!.data;
    const grad = g.grads.get(outputHookOf(set, l))!.data;
    for (let q = 0; q <= p; q++) {
      let w = 0;
      for (let k = 0; k < d; k++) w += (out[q * d + k]! - recon[l]![q * d + k]!) * grad[q * d + k]!;
      inputs.push({ kind: 'error', layer: l, position: q, weight: w });
    }
  }
  const embed = fwd.hooks.get('hook_embed')!.data;
  const gEmbed = g.grads.get('hook_embed')!.data;
  for (let q = 0; q <= p; q++) inputs.push({ kind: 'embedding', position: q, token: model.tokenText(tokens[q]!), weight: dot(embed, q * d, gEmbed, q * d) });
  inputs.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
  return { position: p, preActivation: pre, activation: actL, inputs: inputs.slice(0, o.top ?? 20) };
}

// ---------------------------------------------------------------- top outputs

/** A write v [d] as a later layer's transcoder input sees it: through that layer's norm weight (centred for LayerNorm). */
function throughInputNorm(model: Model, set: TranscoderSet, layer: number, v: Float32Array): Float32Array {
  const c = model.config;
  if (set.inputHook === 'hook_resid_mid') return v;
  let mean = 0;
  if (c.norm === 'layernorm') {
    for (const x of v) mean += x;
    mean /= v.length;
  }
  const w = model.spec.weights.layers[layer]!.ln2.w;
  const weighted = set.inputHook === 'mlp.hook_in';
  return v.map((x, k) => (x - mean) * (weighted ? w[k]! + c.normWeightOffset : 1));
}

export async function featureOutputs(model: Model, set: TranscoderSet, o: { layer: number; index: number; top?: number }): Promise<FeatureOutputsResult> {
  const { layer: L, index: f } = o;
  checkFeature(set, L, f);
  const d = model.config.dModel;
  const top = o.top ?? 20;
  const rows = set.decoderRows(L, [f]);
  const nOut = rows.length / d;
  const features: FeatureOutputsResult['features'] = [];
  for (let l2 = L + 1; l2 < set.layers.length; l2++) {
    // The write reaching layer l2's input: every decoder row into layers L..l2−1.
    const v = new Float32Array(d);
    for (let j = 0; j < nOut && L + j < l2; j++) for (let k = 0; k < d; k++) v[k]! += rows[j * d + k]!;
    const u = throughInputNorm(model, set, l2, v);
    const t = set.layers[l2]!;
    for (let g = 0; g < t.dTranscoder; g++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += t.W_enc[g * d + k]! * u[k]!;
      features.push({ layer: l2, index: g, weight: s });
    }
    // Keep the list short as it grows: only the top ones can survive.
    if (features.length > 4 * top) {
      features.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
      features.length = top;
    }
  }
  features.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
  const logits = await topLogitsOf(model, foldFinalNorm(model, totalDecoderRows(set, L, [f])), Math.min(top, model.config.dVocab));
  const list = (ids: Int32Array, values: Float32Array) => Array.from(ids, (id, i) => ({ id, text: model.tokenText(id), weight: values[i]! }));
  return { features: features.slice(0, top), topLogits: list(logits.topIds, logits.topValues), bottomLogits: list(logits.bottomIds, logits.bottomValues) };
}
