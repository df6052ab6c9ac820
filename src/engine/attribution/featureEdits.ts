// Feature interventions (shared/interventions.ts, kind 'feature') as the engine's own edits. A transcoder
// feature's activation becomes a new value as in circuit-tracer's `feature_intervention`: the model's own
// MLP output is kept and (new − current activation) × the feature's decoder row is added at the
// transcoders' write hook (for a cross-layer transcoder, into every layer it writes). The current activation
// is read in the same run (same input, key/value cache and batch rows) under every other intervention and
// the feature edits of earlier layers: intervened layers are visited in order, one forward each up to that
// layer's transcoder input. Model.forward calls this before anything else, so every analysis that runs
// forwards (run, generate, lens, attention, DLA, the views' comparisons) takes feature interventions.
import { UserError } from '../errors';
import type { HookName } from '../hooks';
import type { ForwardRequest, Model } from '../model';
import { interventionSite } from '../../shared/interventions';
import type { FeatureIntervention, HookIntervention } from '../../shared/interventions';
import type { FeatureSitesResult } from '../../shared/features';
import { TranscoderRunner, checkFeature, transcodersFor } from './transcoders';
import type { TranscoderSet } from './transcoders';

/** One feature's activation per position of a clean run of `tokens` (patch sources, mean references), by model. */
const cleanActivations = new WeakMap<Model, Map<string, Float32Array>>();
const CLEAN_CACHE = 64;

async function encodeAt(model: Model, set: TranscoderSet, layer: number, x: Float32Array): Promise<Float32Array> {
  const runner = await TranscoderRunner.create(model.graphs, set, set.layers[layer]!, model.config.dModel);
  return runner.encode(x);
}

/** The feature's activation at every position of `tokens` without interventions. */
async function featureOnPrompt(model: Model, set: TranscoderSet, iv: FeatureIntervention, tokens: number[], signal?: AbortSignal): Promise<Float32Array> {
  let byModel = cleanActivations.get(model);
  if (!byModel) cleanActivations.set(model, (byModel = new Map()));
  const key = `${set.dir}\0${iv.layer}\0${iv.index}\0${tokens.join(',')}`;
  const hit = byModel.get(key);
  if (hit) return hit;
  const hook = `blocks.${iv.layer}.${set.inputHook}` as HookName;
  const r = await model.forward({ tokens: [tokens], hooks: [hook], logits: 'none', signal });
  const acts = await encodeAt(model, set, iv.layer, r.hooks.get(hook)!.data);
  const F = set.layers[iv.layer]!.dTranscoder;
  const column = Float32Array.from({ length: tokens.length }, (_, p) => acts[p * F + iv.index]!);
  byModel.set(key, column);
  if (byModel.size > CLEAN_CACHE) byModel.delete(byModel.keys().next().value!);
  return column;
}

/**
 * `req.interventions` with every feature intervention replaced, in place, by the adds that carry it out on
 * this run. Checks layers, indices, rows and positions against the model's transcoders (UserErrors naming them).
 */
export async function resolveFeatureInterventions(model: Model, req: ForwardRequest): Promise<HookIntervention[]> {
  return (await resolveFeatureClamps(model, req)).interventions;
}

/** A feature held at a value in a run: what an attribution graph needs to make it a clamped node. */
export interface FeatureClamp {
  row: number;
  layer: number;
  position: number;
  index: number;
  /** The activation the run's write hook sees: the current one plus every delta added for it. */
  value: number;
}

/** resolveFeatureInterventions, and every (row, layer, position, feature) it clamps with its resulting activation. */
export async function resolveFeatureClamps(model: Model, req: ForwardRequest): Promise<{ interventions: HookIntervention[]; clamps: FeatureClamp[] }> {
  const list = req.interventions ?? [];
  const features = list.flatMap((iv, i) => (iv.kind === 'feature' ? [{ iv, i }] : []));
  let set: TranscoderSet;
  try {
    set = transcodersFor(model);
  } catch (e) {
    throw new UserError(`Intervention ${features[0]!.i + 1} (${interventionSite(features[0]!.iv)}): feature interventions read the model's transcoders, and ${e instanceof Error ? e.message : String(e)}`);
  }
  const B = req.tokens?.length ?? req.resid!.shape[0]!;
  const n = req.tokens?.[0]?.length ?? req.resid!.shape[1]!;
  const offset = req.past?.length ?? 0;
  const d = model.config.dModel;
  for (const { iv, i } of features) {
    const where = `Intervention ${i + 1} (${interventionSite(iv)})`;
    try {
      checkFeature(set, iv.layer, iv.index);
    } catch (e) {
      throw new UserError(`${where}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (iv.layer < (req.startLayer ?? 0)) throw new UserError(`${where}: this run starts at layer ${req.startLayer}, after the feature's layer.`);
    for (const r of iv.rows ?? []) if (r >= B) throw new UserError(`${where}: row ${r} is out of range (batch of ${B}).`);
    for (const p of iv.positions ?? []) if (p >= model.config.nCtx) throw new UserError(`${where}: position ${p} is beyond the context (${model.config.nCtx}).`);
  }

  const adds = new Map<number, HookIntervention[]>(features.map(({ i }) => [i, []]));
  const clamps = new Map<string, FeatureClamp>();
  const current = (): HookIntervention[] => list.flatMap((iv, i) => (iv.kind === 'feature' ? adds.get(i)! : [iv]));
  const layers = [...new Set(features.map((f) => f.iv.layer))].sort((a, b) => a - b);
  for (const L of layers) {
    const hook = `blocks.${L}.${set.inputHook}` as HookName;
    const r = await model.forward({ tokens: req.tokens, resid: req.resid, startLayer: req.startLayer, past: req.past, hooks: [hook], logits: 'none', interventions: current(), signal: req.signal });
    const acts = await encodeAt(model, set, L, r.hooks.get(hook)!.data);
    const F = set.layers[L]!.dTranscoder;
    for (const { iv, i } of features.filter((f) => f.iv.layer === L)) {
      const target = await targetOf(model, set, iv, i, req.signal);
      const row = set.decoderRows(L, [iv.index]);
      const nOut = row.length / d;
      const vectors = Array.from({ length: nOut }, (_, j) => Array.from(row.subarray(j * d, (j + 1) * d)));
      const positions = iv.positions ? new Set(iv.positions) : null;
      for (let b = 0; b < B; b++) {
        if (iv.rows && !iv.rows.includes(b)) continue;
        for (let q = 0; q < n; q++) {
          const p = offset + q;
          if (positions && !positions.has(p)) continue;
          const now = acts[(b * n + q) * F + iv.index]!;
          const delta = target(p, now) - now;
          // Two interventions on one feature both add their delta (both read the same current activation).
          const key = `${b},${L},${p},${iv.index}`;
          const clamp = clamps.get(key);
          if (clamp) clamp.value += delta;
          else clamps.set(key, { row: b, layer: L, position: p, index: iv.index, value: now + delta });
          if (delta === 0) continue;
          for (let j = 0; j < nOut; j++) {
            adds.get(i)!.push({ kind: 'add', hook: `blocks.${L + j}.${set.outputHook}`, vector: vectors[j]!, scale: delta, positions: [p], ...(B > 1 ? { rows: [b] } : {}) });
          }
        }
      }
    }
  }
  return { interventions: current(), clamps: [...clamps.values()] };
}

/** The new activation at absolute position p, given the current one. */
async function targetOf(model: Model, set: TranscoderSet, iv: FeatureIntervention, i: number, signal?: AbortSignal): Promise<(p: number, now: number) => number> {
  if (iv.value !== undefined) return () => iv.value!;
  if (iv.scale !== undefined) return (_p, now) => iv.scale! * now;
  if (iv.source) {
    const src = await featureOnPrompt(model, set, iv, iv.source.tokens, signal);
    return (p) => {
      if (p >= src.length) throw new UserError(`Intervention ${i + 1} (${interventionSite(iv)}): the source prompt has ${src.length} tokens, too few to patch position ${p}. Clean and corrupted prompts must have equal token lengths.`);
      return src[p]!;
    };
  }
  let sum = 0;
  let count = 0;
  for (const ref of iv.reference!) {
    for (const a of await featureOnPrompt(model, set, iv, ref.tokens, signal)) sum += a;
    count += ref.tokens.length;
  }
  if (count === 0) throw new UserError(`Intervention ${i + 1} (${interventionSite(iv)}): the reference prompts hold no tokens to average over.`);
  const mean = sum / count;
  return () => mean;
}

/**
 * The set's features as intervention sites: features per layer, and on `tokens`, each layer's most active
 * features at `position` (activation > 0, largest first, `top` per layer): what a click on a token offers.
 */
export async function featureSites(model: Model, set: TranscoderSet, o: { tokens?: number[]; position?: number; top?: number; signal?: AbortSignal }): Promise<FeatureSitesResult> {
  const nFeatures = set.layers.map((l) => l.dTranscoder);
  if (!o.tokens) return { nFeatures };
  const T = o.tokens.length;
  const p = o.position ?? T - 1;
  if (T === 0) throw new UserError('The prompt is empty: no token to read features at.');
  if (p >= T) throw new UserError(`Position ${p} is outside the prompt (0..${T - 1}).`);
  const hooks = set.layers.map((_, l) => `blocks.${l}.${set.inputHook}` as HookName);
  const r = await model.forward({ tokens: [o.tokens.slice(0, p + 1)], hooks, logits: 'none', signal: o.signal });
  const d = model.config.dModel;
  const active: NonNullable<FeatureSitesResult['active']> = [];
  for (const [l, hook] of hooks.entries()) {
    const acts = await encodeAt(model, set, l, r.hooks.get(hook)!.data.subarray(p * d, (p + 1) * d));
    const on = Array.from(acts, (act, index) => ({ index, act })).filter((x) => x.act > 0);
    on.sort((a, b) => b.act - a.act || a.index - b.index);
    active.push(on.slice(0, o.top ?? 8));
  }
  return { nFeatures, position: p, active };
}
