// Interventions as the views make them: "zero-ablate the MLP output of layers 1-3 at this token",
// "patch head 2.1 from the counterfactual prompt". A view sends such a spec (UiIntervention) to the host,
// which validates it (the webview is untrusted), keeps it in the one intervention state all views share,
// and compiles it, against the prompt each view shows, into the engine's Intervention objects
// (src/shared/interventions.ts). Also here: the before/after comparison every view shows (Δ logit and
// Δ probability of the top tokens, KL to the clean run), and the patch a sweep's heatmap cell stands for.
// Runtime-agnostic and pure: unit-tested without a model.
import type { Intervention } from './interventions';
import { RpcError } from './rpc';
import { logSoftmax, topIndices } from './logits';
import { SWEEP_HOOKS } from './patching';
import { badInput, finiteNumber, integer, list, object, oneOf, optional, refine } from './schema';
import type { Infer, Schema } from './schema';

/**
 * What an intervention replaces the activation with: zero; the mean over the reference prompts' positions
 * (a reference set the user loaded, else the prompt itself and the counterfactual, when there is one); the activation of another prompt of the
 * same length (resample ablation: the counterfactual, or a seeded shuffle of the prompt's own tokens);
 * the counterfactual prompt's activation (activation patching).
 */
export const UI_KINDS = ['zero', 'mean', 'resample', 'patch'] as const;
export type UiKind = (typeof UI_KINDS)[number];

/** Where: residual streams, attention and MLP outputs by layer; a head's output (z), query, key, value or pattern. */
export const UI_SITES = ['resid_pre', 'resid_mid', 'resid_post', 'attn_out', 'mlp_out', 'z', 'q', 'k', 'v', 'pattern'] as const;
export type UiSite = (typeof UI_SITES)[number];

export const SITE_LABELS: Record<UiSite, string> = {
  resid_pre: 'resid pre',
  resid_mid: 'resid mid',
  resid_post: 'resid post',
  attn_out: 'attn out',
  mlp_out: 'MLP out',
  z: 'head output',
  q: 'head query',
  k: 'head key',
  v: 'head value',
  pattern: 'head pattern',
};

export const KIND_LABELS: Record<UiKind, string> = { zero: 'zero', mean: 'mean', resample: 'resample', patch: 'patch from counterfactual' };


export function isHeadSite(site: UiSite): boolean {
  return site === 'z' || site === 'q' || site === 'k' || site === 'v' || site === 'pattern';
}

const LIMIT = 100_000;

/** An intervention at a hook: a kind, a site, layers `from`..`to` (inclusive), token positions (all when absent), a head for head sites (all heads when absent). */
export const uiHookInterventionSchema = refine(
  object({
    kind: oneOf(UI_KINDS),
    site: oneOf(UI_SITES),
    from: integer(0, LIMIT, 'a layer index (a non-negative integer)'),
    to: integer(0, LIMIT, 'a layer index (a non-negative integer)'),
    positions: optional(list(integer(0, LIMIT, 'a token position (a non-negative integer)'), 4096)),
    head: optional(integer(0, LIMIT, 'a head index (a non-negative integer)')),
  }),
  (v, where) => {
    if (v.from > v.to) badInput(`${where}: layers run from ${v.from} to ${v.to}; "from" must not exceed "to"`);
    if (v.head !== undefined && !isHeadSite(v.site)) badInput(`${where}: "head" applies to head sites only (z, q, k, v, pattern), not ${v.site}`);
    if (v.positions && new Set(v.positions).size !== v.positions.length) badInput(`${where}: positions must not repeat`);
  },
);
export type UiHookIntervention = Infer<typeof uiHookInterventionSchema>;

/**
 * A transcoder feature as a site: its activation becomes zero (the feature off), its mean activation (over
 * the dashboards' corpus when the model has dashboards, else the reference prompts), its activation on a
 * resampled prompt or on the counterfactual at the same position, a value, or itself scaled.
 */
export const FEATURE_KINDS = ['zero', 'mean', 'resample', 'patch', 'set', 'scale'] as const;
export type FeatureKind = (typeof FEATURE_KINDS)[number];
export const FEATURE_KIND_LABELS: Record<FeatureKind, string> = {
  zero: 'zero (feature off)',
  mean: 'mean activation',
  resample: 'resample',
  patch: 'patch from counterfactual',
  set: 'set to value',
  scale: 'scale by',
};
export const FEATURE_SITE_LABEL = 'transcoder feature';

/** A feature site: one layer's feature `feature`, at token positions (all when absent); `value` for set and scale. */
export const uiFeatureInterventionSchema = refine(
  object({
    site: oneOf(['feature'] as const),
    kind: oneOf(FEATURE_KINDS),
    layer: integer(0, LIMIT, 'a layer index (a non-negative integer)'),
    feature: integer(0, 100_000_000, 'a feature index (a non-negative integer)'),
    positions: optional(list(integer(0, LIMIT, 'a token position (a non-negative integer)'), 4096)),
    value: optional(finiteNumber(-1e6, 1e6)),
  }),
  (v, where) => {
    const valued = v.kind === 'set' || v.kind === 'scale';
    if (valued && v.value === undefined) badInput(`${where}: "${v.kind}" needs a value (${v.kind === 'set' ? 'the activation to set' : 'the factor'})`);
    if (!valued && v.value !== undefined) badInput(`${where}: "value" applies to set and scale only, not ${v.kind}`);
    if (v.positions && new Set(v.positions).size !== v.positions.length) badInput(`${where}: positions must not repeat`);
  },
);
export type UiFeatureIntervention = Infer<typeof uiFeatureInterventionSchema>;

/** A view's intervention: at a hook, or at a transcoder feature (`site: 'feature'`). */
export type UiIntervention = UiHookIntervention | UiFeatureIntervention;
export const uiInterventionSchema: Schema<UiIntervention> = {
  parse(v, where) {
    const feature = typeof v === 'object' && v !== null && (v as Record<string, unknown>).site === 'feature';
    return feature ? uiFeatureInterventionSchema.parse(v, where) : uiHookInterventionSchema.parse(v, where);
  },
};

/** What set / scale ask for, in the webview menu's message and the editor's input box. */
export const FEATURE_VALUE_PROMPTS: Record<'set' | 'scale', string> = { set: 'the activation to set the feature to', scale: 'the factor to scale the feature by' };

/** A feature active at a token, as the menus list it. */
export interface ActiveFeature {
  layer: number;
  index: number;
  act: number;
}

/**
 * The features active at a token (the host's per-layer lists) as one list, largest activation first across
 * layers (ties by layer, then index): the webview menu's "Active here" and the editor's quick pick show it.
 */
export function activeFeatureList(active: ReadonlyArray<ReadonlyArray<{ index: number; act: number }>>): ActiveFeature[] {
  return active
    .flatMap((list, layer) => list.map((f) => ({ layer, index: f.index, act: f.act })))
    .sort((a, b) => b.act - a.act || a.layer - b.layer || a.index - b.index);
}

/** How the menus name a feature: "L0 #346". */
export function featureName(layer: number, index: number): string {
  return `L${layer} #${index}`;
}

/** A feature typed as "layer:index" (or as named, "L0 #346"); undefined when the text is neither. */
export function parseFeatureRef(text: string): { layer: number; feature: number } | undefined {
  const m = /^\s*(?:L\s*(\d+)\s*#\s*(\d+)|(\d+)\s*:\s*(\d+))\s*$/i.exec(text);
  if (!m) return undefined;
  return { layer: Number(m[1] ?? m[3]), feature: Number(m[2] ?? m[4]) };
}

/**
 * Why the host would refuse `spec` (the schema's check of what a view sends, then checkAgainstModel's), or
 * undefined: the editor's input boxes say it while the user types, in the host's words.
 */
export function specProblem(spec: unknown, ctx: CompileContext, where = 'intervention'): string | undefined {
  try {
    checkAgainstModel(uiInterventionSchema.parse(spec, where), ctx, where);
    return undefined;
  } catch (e) {
    if (e instanceof RpcError && e.code === 'bad-input') return e.message;
    throw e;
  }
}

/** The model's transcoders as feature sites see them: features per layer, or why there are none. */
export type FeatureSiteInfo = { nFeatures: number[] } | { missing: string };

/** Why a model offers no feature sites, and how to get them (the menu shows it beside the disabled site). */
export function noTranscodersReason(modelName: string): string {
  return `${modelName} has no transcoders: feature sites need a transcoder set in its model folder's transcoders/ (circuit-tracer's config.yaml + layer_{i}.safetensors; MechLens: Download Transcoder Files… fetches the files a set lists). The bundled mechlens-tiny and stories260K ship theirs.`;
}

/** What compiling needs to know: the model's shape and the prompts. */
export interface CompileContext {
  nLayers: number;
  nHeads: number;
  /** Whether the model has a mid-block residual stream (not with a parallel residual). */
  hasResidMid: boolean;
  /** The prompt the view runs. */
  prompt: number[];
  /** The counterfactual prompt, when the user wrote one. */
  counterfactual?: number[];
  /** Seed of resample ablation's shuffle when there is no counterfactual. */
  seed?: number;
  /** A reference set of prompts (a file the user picked): mean ablation averages over their positions. */
  reference?: number[][];
  /** The transcoders, for feature sites (checked when given). */
  features?: FeatureSiteInfo;
  /** Features' mean activations over the dashboards' corpus, by `${layer}:${index}`: a feature's mean ablation uses them when known. */
  featureMeans?: ReadonlyMap<string, number>;
}

/** Checks a spec against the model (layers, heads, the mid stream) and the prompt (positions); throws bad-input. */
export function checkAgainstModel(ui: UiIntervention, ctx: CompileContext, where = 'intervention'): void {
  if (ui.site === 'feature') return checkFeatureSite(ui, ctx, where);
  if (ui.to >= ctx.nLayers) badInput(`${where}: layer ${ui.to} is beyond the model (layers 0..${ctx.nLayers - 1})`);
  if (ui.head !== undefined && ui.head >= ctx.nHeads) badInput(`${where}: head ${ui.head} is beyond the model (heads 0..${ctx.nHeads - 1})`);
  if (ui.site === 'resid_mid' && !ctx.hasResidMid) badInput(`${where}: this model has a parallel residual, so no mid-block residual stream; use resid pre or post`);
  for (const p of ui.positions ?? []) if (p >= ctx.prompt.length) badInput(`${where}: position ${p} is beyond the prompt (positions 0..${ctx.prompt.length - 1})`);
}

function checkFeatureSite(ui: UiFeatureIntervention, ctx: CompileContext, where: string): void {
  const f = ctx.features;
  if (f && 'missing' in f) badInput(`${where}: ${f.missing}`);
  if (f) {
    const L = f.nFeatures.length;
    if (ui.layer >= L) badInput(`${where}: layer ${ui.layer} is beyond the transcoders (layers 0..${L - 1})`);
    const F = f.nFeatures[ui.layer]!;
    if (ui.feature >= F) badInput(`${where}: feature ${ui.feature} is beyond layer ${ui.layer}'s ${F} transcoder features (0..${F - 1})`);
  }
  for (const p of ui.positions ?? []) if (p >= ctx.prompt.length) badInput(`${where}: position ${p} is beyond the prompt (positions 0..${ctx.prompt.length - 1})`);
}

/** The prompts mean ablation averages over: the reference set, else the prompt and the counterfactual. */
function meanReference(ctx: CompileContext): Array<{ tokens: number[] }> {
  if (ctx.reference?.length) return ctx.reference.map((tokens) => ({ tokens }));
  return ctx.counterfactual ? [{ tokens: ctx.prompt }, { tokens: ctx.counterfactual }] : [{ tokens: ctx.prompt }];
}

/** A feature site's engine intervention (the engine adds (new − current) × decoder row at the write hook). */
function compileFeatureSite(ui: UiFeatureIntervention, ctx: CompileContext): Intervention {
  const base = { kind: 'feature' as const, layer: ui.layer, index: ui.feature, ...(ui.positions ? { positions: ui.positions } : {}) };
  switch (ui.kind) {
    case 'zero':
      return { ...base, value: 0 };
    case 'mean': {
      const m = ctx.featureMeans?.get(`${ui.layer}:${ui.feature}`);
      return m !== undefined ? { ...base, value: m } : { ...base, reference: meanReference(ctx) };
    }
    case 'resample':
      return { ...base, source: { tokens: ctx.counterfactual ?? shuffledTokens(ctx.prompt, ctx.seed) } };
    case 'patch':
      return { ...base, source: { tokens: ctx.counterfactual! } };
    case 'set':
      return { ...base, value: ui.value! };
    case 'scale':
      return { ...base, scale: ui.value! };
  }
}

/** A deterministic shuffle (mulberry32) of the prompt's tokens: resample ablation's source without a counterfactual. */
export function shuffledTokens(tokens: readonly number[], seed = 0): number[] {
  const out = tokens.slice();
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The engine's interventions for one spec on the context's prompt: one per layer of the range. */
export function compileUiIntervention(ui: UiIntervention, ctx: CompileContext, where = 'intervention'): Intervention[] {
  checkAgainstModel(ui, ctx, where);
  const cf = ctx.counterfactual;
  const positional = ui.kind === 'patch' || ui.kind === 'resample';
  if (ui.kind === 'patch' && !cf) badInput(`${where}: patching needs a counterfactual prompt; write one in the Patching panel (MechLens: Open Patching) or choose zero, mean or resample`);
  if (positional && cf && cf.length !== ctx.prompt.length) {
    badInput(`${where}: the counterfactual has ${cf.length} tokens and the prompt ${ctx.prompt.length}; position-wise ${ui.kind === 'patch' ? 'patching' : 'resampling'} needs equal lengths (the Patching panel highlights where they differ)`);
  }
  if (ui.site === 'feature') return [compileFeatureSite(ui, ctx)];
  const target = {
    ...(ui.positions ? { positions: ui.positions } : {}),
    ...(ui.head !== undefined ? { heads: [ui.head] } : {}),
  };
  const out: Intervention[] = [];
  for (let l = ui.from; l <= ui.to; l++) {
    const hook = `blocks.${l}.${SWEEP_HOOKS[ui.site]}`;
    switch (ui.kind) {
      case 'zero':
        out.push({ kind: 'zero', hook, ...target });
        break;
      case 'mean':
        out.push({ kind: 'mean', hook, ...target, reference: meanReference(ctx) });
        break;
      case 'resample':
        out.push({ kind: 'patch', hook, ...target, source: { tokens: cf ?? shuffledTokens(ctx.prompt, ctx.seed) } });
        break;
      case 'patch':
        out.push({ kind: 'patch', hook, ...target, source: { tokens: cf! } });
        break;
    }
  }
  return out;
}

/** A chip's text, e.g. "zero · MLP out · L1–3 · “ Mary”@4". `tokenText(p)` gives position p's token. */
export function uiLabel(ui: UiIntervention, tokenText: (pos: number) => string | undefined): string {
  const pos = ui.positions?.length ? ui.positions.map((p) => `“${tokenText(p) ?? '?'}”@${p}`).join(', ') : 'all positions';
  if (ui.site === 'feature') {
    const kind = ui.kind === 'set' ? `set ${ui.value}` : ui.kind === 'scale' ? `scale ×${ui.value}` : ui.kind;
    return `${kind} · feature L${ui.layer}#${ui.feature} · ${pos}`;
  }
  const layers = ui.from === ui.to ? `L${ui.from}` : `L${ui.from}–${ui.to}`;
  const site = isHeadSite(ui.site) && ui.head !== undefined ? `${SITE_LABELS[ui.site]} ${layers === `L${ui.from}` ? `${ui.from}.${ui.head}` : `H${ui.head}`}` : SITE_LABELS[ui.site];
  const where = isHeadSite(ui.site) && ui.head !== undefined && ui.from === ui.to ? '' : ` · ${layers}`;
  const kind = ui.kind === 'patch' ? 'patch' : ui.kind;
  return `${kind} · ${site}${where} · ${pos}`;
}

// ---------------------------------------------------------------------------------------------------
// The before/after comparison.

export interface ComparisonRow {
  id: number;
  text: string;
  cleanLogit: number;
  patchedLogit: number;
  cleanProb: number;
  patchedProb: number;
}

export interface Comparison {
  /** Position compared (the prompt's last). */
  position: number;
  /** The top tokens of either run (clean's first), with both runs' logits and probabilities. */
  rows: ComparisonRow[];
  /** KL(clean || patched) of the next-token distributions, in nats. */
  kl: number;
}

/**
 * Compares two next-token logit vectors: the union of each run's top `k` tokens (clean's order first, then
 * tokens only the patched run ranks high) with logits and probabilities before and after, and KL(clean || patched).
 */
export function compareLogits(clean: ArrayLike<number>, patched: ArrayLike<number>, tokenText: (id: number) => string, k = 5, position = 0): Comparison {
  if (clean.length !== patched.length) throw new Error(`internal: logit vectors of ${clean.length} and ${patched.length}`);
  const lc = logSoftmax(clean);
  const lp = logSoftmax(patched);
  let kl = 0;
  for (let i = 0; i < lc.length; i++) {
    const p = Math.exp(lc[i]!);
    if (p > 0) kl += p * (lc[i]! - lp[i]!);
  }
  const ids = topIndices(lc, k);
  for (const id of topIndices(lp, k)) if (!ids.includes(id)) ids.push(id);
  const rows = ids.map((id) => ({ id, text: tokenText(id), cleanLogit: clean[id]!, patchedLogit: patched[id]!, cleanProb: Math.exp(lc[id]!), patchedProb: Math.exp(lp[id]!) }));
  return { position, rows, kl: Math.max(0, kl) };
}

// ---------------------------------------------------------------------------------------------------
// A sweep's cell as a view intervention.

/** What a sweep heatmap needs to map a cell back: its kind, axes and swept layers. */
export interface SweepAxes {
  sweep: 'resid_pre' | 'resid_mid' | 'resid_post' | 'attn_out' | 'mlp_out' | 'z' | 'z_by_pos' | 'q' | 'k' | 'v' | 'pattern';
  dims: string[];
  layers: number[];
}

/**
 * The patch a sweep cell stands for, as a view intervention on the clean prompt: that cell's activation
 * taken from the counterfactual run (`index` holds one index per axis in `dims` order; 'layer' indexes
 * `layers`). The views run the clean prompt, so a denoising sweep's cell shows there as its noising twin.
 */
export function sweepCellIntervention(axes: SweepAxes, index: number[]): UiHookIntervention {
  const at = (dim: string) => {
    const i = axes.dims.indexOf(dim);
    return i < 0 ? undefined : index[i];
  };
  const li = at('layer');
  const layer = li === undefined ? undefined : axes.layers[li];
  if (layer === undefined) badInput('sweep cell: no layer');
  const pos = at('pos');
  const head = at('head') ?? at('kv_head');
  const site: UiSite = axes.sweep === 'z_by_pos' ? 'z' : axes.sweep;
  return {
    kind: 'patch',
    site,
    from: layer,
    to: layer,
    ...(pos !== undefined ? { positions: [pos] } : {}),
    ...(head !== undefined ? { head } : {}),
  };
}
