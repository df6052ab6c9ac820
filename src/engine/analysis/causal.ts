// Causal abstraction, the shared part (issue #16; params and results in src/shared/causal.ts): a
// hypothesis' counterfactual pairs, sites resolved on the prompts, reading and writing a site's values in
// a hook's activation, and interchange interventions with their accuracy (IIA), also swept over layers x
// positions. DAS (das.ts) and probes (probe.ts) build on these.
//
// An interchange intervention sets a site's value in the base run to its value in a source run (for
// several variables at once, each from its own source): h_base' = h_source on the site, or, for a
// subspace with orthonormal columns R, h_base' = h_base + R R^T (h_source - h_base). It is applied as an
// edit x * keep + add of the forward graph (keep 0 and add h' on the site's entries, identity elsewhere).
import { UserError, throwIfAborted } from '../errors';
import { hookDims, hookRank, parseHookName } from '../hooks';
import type { HookEdit } from '../interventions';
import { mulberry32 } from '../model';
import type { Model } from '../model';
import { readSubspaceFile } from './subspaceFile';
import { chunkRows } from './patching';
import type { AnalysisContext } from './registry';
import type { Hypothesis, IiaParams, IiaResult, ResolvedSite, Site } from '../../shared/causal';
import type { NamedTensor } from '../../shared/tensor';
import { numel } from '../../shared/tensor';
import { subspaceInterchange } from '../../shared/subspace';

/** Rows per batched forward (a chunk of pairs). */
export const PAIR_BATCH = 64;

export interface Pair {
  base: number[];
  /** One source per hypothesis variable (in `variables` order). */
  sources: number[][];
  /** The high-level counterfactual output's token. */
  label: number;
  /** The high-level output on the base (when known). */
  baseLabel?: number;
  text: { base: string; sources: string[]; /** The base's slot values (template hypotheses). */ baseSlots?: Record<string, string> };
}

export interface PairSet {
  pairs: Pair[];
  variables: Hypothesis['variables'];
  name: string;
}

/** One token's id for a label text; the output of a hypothesis must be a single token. */
function labelToken(model: Model, text: string, where: string): number {
  const ids = model.tokenize(text).ids;
  if (ids.length !== 1) throw new UserError(`${where}: the label ${JSON.stringify(text)} is ${ids.length} tokens; a hypothesis' output must be a single token (e.g. " Mary" with its leading space).`);
  return ids[0]!;
}

function fill(template: string, slots: Record<string, string>, where: string): string {
  return template.replace(/\{([^{}]+)\}/g, (_, name: string) => {
    const v = slots[name];
    if (v === undefined) throw new UserError(`${where}: the template names the slot {${name}}, which the hypothesis does not define (slots: ${Object.keys(slots).join(', ')}).`);
    return v;
  });
}

/** A seeded Fisher-Yates permutation of 0..n-1. */
export function permutation(n: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/**
 * The hypothesis' counterfactual pairs, tokenized. From templates: each pair draws a template, the base's
 * slot values and, per variable, a source's (same template); the label is the output template with the
 * slots of the interchanged variables (`interchanged`, indices into `variables`; default all) taken from
 * their sources. A source is redrawn (up to 100 times) until its slot differs from the base's, so a pair
 * always tests the intervention. `randomLabels`: labels shuffled across pairs.
 */
export function buildPairs(model: Model, h: Hypothesis, options: { randomLabels?: boolean; interchanged?: readonly number[] } = {}): PairSet {
  const name = h.name ?? 'hypothesis';
  const variables = h.variables;
  const interchanged = new Set(options.interchanged ?? variables.map((_, i) => i));
  if (h.pairs && interchanged.size !== variables.length) {
    throw new UserError(`The hypothesis' pairs give the label for interchanging all its variables (${variables.map((v) => v.name).join(', ')}); to interchange fewer, write pairs with only those variables, or use templates.`);
  }
  const pairs: Pair[] = [];
  const tok = (text: string) => model.tokenize(text).ids;
  if (h.pairs) {
    for (const [i, p] of h.pairs.entries()) {
      const where = `pair ${i + 1}`;
      if (p.sources.length !== variables.length) throw new UserError(`${where} has ${p.sources.length} source prompts; the hypothesis has ${variables.length} variables (one source each, in order).`);
      pairs.push({
        base: tok(p.base),
        sources: p.sources.map(tok),
        label: labelToken(model, p.label, where),
        baseLabel: p.baseLabel !== undefined ? labelToken(model, p.baseLabel, where) : undefined,
        text: { base: p.base, sources: p.sources },
      });
    }
  } else {
    const slots = h.slots!;
    const templates = h.templates!;
    if (templates.length === 0) throw new UserError('The hypothesis has an empty list of templates.');
    for (const [name, values] of Object.entries(slots)) if (values.length === 0) throw new UserError(`Slot ${name} has no values.`);
    for (const v of variables) {
      const slot = v.slot ?? v.name;
      if (!(slot in slots)) throw new UserError(`Variable ${v.name}: there is no slot "${slot}" (slots: ${Object.keys(slots).join(', ')}); give the variable's slot.`);
    }
    const distinct = h.distinct ?? true;
    const rand = mulberry32(h.seed ?? 0);
    const pick = <T>(a: readonly T[]) => a[Math.floor(rand() * a.length)]!;
    const draw = (): Record<string, string> => {
      for (let attempt = 0; attempt < 1000; attempt++) {
        const s = Object.fromEntries(Object.entries(slots).map(([k, vs]) => [k, pick(vs)]));
        if (!distinct || new Set(Object.values(s)).size === Object.keys(s).length) return s;
      }
      throw new UserError('Could not draw distinct slot values: give the slots more values, or set "distinct": false.');
    };
    const n = h.n ?? 200;
    for (let i = 0; i < n; i++) {
      const template = pick(templates);
      const base = draw();
      const sources: Array<Record<string, string>> = [];
      const cf = { ...base };
      for (const [i, v] of variables.entries()) {
        const slot = v.slot ?? v.name;
        let src = draw();
        for (let attempt = 0; attempt < 100 && src[slot] === base[slot]; attempt++) src = draw();
        sources.push(src);
        if (interchanged.has(i)) cf[slot] = src[slot]!;
      }
      const where = `template ${templates.indexOf(template) + 1}`;
      const texts = { base: fill(template, base, where), sources: sources.map((s) => fill(template, s, where)), baseSlots: base };
      pairs.push({
        base: tok(texts.base),
        sources: texts.sources.map(tok),
        label: labelToken(model, fill(h.output!, cf, 'output'), 'output'),
        baseLabel: labelToken(model, fill(h.output!, base, 'output'), 'output'),
        text: texts,
      });
    }
  }
  for (const [i, p] of pairs.entries()) {
    for (const [v, s] of p.sources.entries()) {
      if (s.length !== p.base.length) {
        throw new UserError(
          `Pair ${i + 1}: the base ${JSON.stringify(p.text.base)} has ${p.base.length} tokens but the source for ${variables[v]!.name} ${JSON.stringify(p.text.sources[v])} has ${s.length}. ` +
            'Interchange sites align positions, so base and source must tokenize to the same length (use slot values of one token each).',
        );
      }
    }
  }
  if (pairs.length === 0) throw new UserError('The hypothesis has no pairs.');
  if (options.randomLabels) {
    const perm = permutation(pairs.length, (h.seed ?? 0) + 7919);
    const labels = pairs.map((p) => p.label);
    pairs.forEach((p, i) => (p.label = labels[perm[i]!]!));
  }
  return { pairs, variables, name };
}

/** A variable's index by name; an unknown name is refused naming the hypothesis' variables. */
export function variableIndex(variables: Hypothesis['variables'], name: string): number {
  const i = variables.findIndex((v) => v.name === name);
  if (i < 0) throw new UserError(`Unknown variable "${name}" (the hypothesis has ${variables.map((v) => v.name).join(', ')}).`);
  return i;
}

export interface SiteAt extends ResolvedSite {
  /** Shape of the hook's activation for one row ([T, d] or [T, H, dh]). */
  rowShape: number[];
  /** Element offsets within one row of each site value, [positions x dim]. */
  offsets: Int32Array;
  /** A saved subspace, [dim, rank] row-major. */
  subspace?: Float32Array;
}

/** A site on prompts of T tokens: positions made absolute, heads checked, the element offsets of its values. */
export function resolveSite(model: Model, site: Site, T: number, where: string): SiteAt {
  const c = model.config;
  const p = parseHookName(site.hook, c);
  const { dims, shape } = hookDims(c, p.local, 1, T);
  if (dims.includes('key_pos')) throw new UserError(`${where}: ${site.hook} is an attention pattern, not a site a value can be interchanged at; use the head outputs (blocks.L.attn.hook_z with heads) instead.`);
  if (dims[1] !== 'pos' || dims.includes('one')) throw new UserError(`${where}: ${site.hook} is not a per-position activation a variable can live in; use a residual, attention or MLP hook.`);
  const positions = (site.positions ?? Array.from({ length: T }, (_, i) => i)).map((q) => {
    const abs = q < 0 ? T + q : q;
    if (abs < 0 || abs >= T) throw new UserError(`${where}: position ${q} is outside the prompt (${T} tokens: 0..${T - 1}, or -1..-${T}).`);
    return abs;
  });
  if (positions.length === 0) throw new UserError(`${where}: the site has no positions.`);
  if (new Set(positions).size !== positions.length) throw new UserError(`${where}: position ${positions.find((q, i) => positions.indexOf(q) !== i)} is named twice.`);
  const rank4 = hookRank(p.local) === 4;
  if (site.heads && !rank4) throw new UserError(`${where}: ${site.hook} has no head axis; remove "heads" or use a per-head hook (attn.hook_z, hook_q, hook_k, hook_v, hook_result).`);
  const nHeads = rank4 ? shape[2]! : 0;
  const heads = rank4 ? (site.heads ?? Array.from({ length: nHeads }, (_, i) => i)) : undefined;
  for (const hd of heads ?? []) if (hd >= nHeads) throw new UserError(`${where}: head ${hd} is out of range (${site.hook} has ${nHeads} heads).`);
  const last = shape[shape.length - 1]!;
  const dim = rank4 ? heads!.length * last : last;
  const rowShape = shape.slice(1);
  const offsets = new Int32Array(positions.length * dim);
  positions.forEach((pos, i) => {
    if (rank4) heads!.forEach((hd, k) => {
      for (let j = 0; j < last; j++) offsets[i * dim + k * last + j] = (pos * nHeads + hd) * last + j;
    });
    else for (let j = 0; j < last; j++) offsets[i * dim + j] = pos * last + j;
  });
  const out: SiteAt = { hook: p.name, positions, ...(heads && site.heads ? { heads } : {}), dim, rowShape, offsets };
  if (site.subspace !== undefined) {
    out.subspace = readSubspace(site.subspace, dim, where);
    out.subspaceRank = out.subspace.length / dim;
  }
  return out;
}

/** A saved subspace's rotation [dim, rank] (the `rotation` tensor of `mechlens das --out`'s safetensors), for a site of `dim` values. */
export function readSubspace(file: string, dim: number, where: string): Float32Array {
  const s = readSubspaceFile(file);
  if (s.dim !== dim) throw new UserError(`${where}: ${file}'s rotation has shape [${s.dim}, ${s.rank}], but the site has ${dim} values per position: expected [${dim}, rank].`);
  return s.rotation;
}

/** The site's values of batch row `b` of a hook activation, [positions x dim]. */
export function readSite(act: NamedTensor, b: number, s: SiteAt, out = new Float32Array(s.offsets.length)): Float32Array {
  const base = b * numel(s.rowShape);
  for (let i = 0; i < s.offsets.length; i++) out[i] = act.data[base + s.offsets[i]!]!;
  return out;
}

/** An identity edit (x * 1 + 0) of a hook for B rows. */
export function identityEdit(s: SiteAt, B: number): HookEdit {
  const n = B * numel(s.rowShape);
  return { shape: [B, ...s.rowShape], keep: new Float32Array(n).fill(1), add: new Float32Array(n) };
}

/** Sets row `b`'s site values to `values` ([positions x dim]) in an edit. */
export function writeSite(edit: HookEdit, b: number, s: SiteAt, values: Float32Array): void {
  const base = b * numel(s.rowShape);
  for (let i = 0; i < s.offsets.length; i++) {
    edit.keep[base + s.offsets[i]!] = 0;
    edit.add[base + s.offsets[i]!] = values[i]!;
  }
}

/** Activations of the hooks for rows of equal length, batch kept. */
export async function captureHooks(model: Model, rows: number[][], hooks: readonly string[], signal?: AbortSignal): Promise<Map<string, NamedTensor>> {
  const r = await model.forward({ tokens: rows, hooks: hooks.map((h) => parseHookName(h, model.config).name), logits: 'none', signal });
  return r.hooks;
}

/** The last position's top token of each row of a forward with edits. */
export async function topTokensWithEdits(model: Model, rows: number[][], edits: ReadonlyMap<string, HookEdit>, signal?: AbortSignal): Promise<number[]> {
  const r = await model.forward({ tokens: rows, edits, logits: 'last', signal });
  const V = model.config.dVocab;
  const data = r.logits!.data;
  return rows.map((_, b) => {
    let best = 0;
    for (let v = 1; v < V; v++) if (data[b * V + v]! > data[b * V + best]!) best = v;
    return best;
  });
}

/**
 * Indices of pairs grouped by token length, in chunks of at most PAIR_BATCH (one batched forward each) and,
 * given the model, of at most one bounded run's rows (patching.ts chunkRows): one onnxruntime run cannot be
 * interrupted, so a cancel is honoured between chunks (a wide model runs fewer rows at once; a small one,
 * the bundled model, the same PAIR_BATCH).
 */
export function chunksByLength(pairs: readonly Pair[], indices: readonly number[], model?: Model): number[][] {
  const byLen = new Map<number, number[]>();
  for (const i of indices) byLen.set(pairs[i]!.base.length, [...(byLen.get(pairs[i]!.base.length) ?? []), i]);
  const out: number[][] = [];
  for (const [T, group] of byLen) {
    const size = model ? Math.min(PAIR_BATCH, chunkRows(model, T, 0)) : PAIR_BATCH;
    for (let i = 0; i < group.length; i += size) out.push(group.slice(i, i + size));
  }
  return out;
}

/** 1 / the number of distinct labels. */
export function chanceLevel(pairs: readonly Pair[]): number {
  return 1 / new Set(pairs.map((p) => p.label)).size;
}

interface Interchange {
  variable: number;
  site: Site;
}

/**
 * The edits of an interchange of every variable in `list` for a chunk of pairs, each from its own source
 * (sources' activations at the sites' hooks read once per chunk).
 */
async function interchangeEdits(model: Model, pairs: readonly Pair[], chunk: readonly number[], list: readonly Interchange[], sites: readonly SiteAt[], signal?: AbortSignal): Promise<Map<string, HookEdit>> {
  const edits = new Map<string, HookEdit>();
  const bases = chunk.map((i) => pairs[i]!.base);
  const needBase = sites.some((s) => s.subspace);
  const baseActs = needBase ? await captureHooks(model, bases, [...new Set(sites.filter((s) => s.subspace).map((s) => s.hook))], signal) : undefined;
  for (const [k, iv] of list.entries()) {
    const s = sites[k]!;
    const src = await captureHooks(model, chunk.map((i) => pairs[i]!.sources[iv.variable]!), [s.hook], signal);
    let edit = edits.get(s.hook);
    if (!edit) edits.set(s.hook, (edit = identityEdit(s, chunk.length)));
    // Several variables on one hook compose: each writes its own entries (a later one wins on overlaps).
    const prev = new Float32Array(s.offsets.length);
    for (let b = 0; b < chunk.length; b++) {
      let v = readSite(src.get(s.hook)!, b, s);
      if (s.subspace) v = subspaceInterchange(readSite(baseActs!.get(s.hook)!, b, s, prev), v, s.subspace, s.dim, s.subspaceRank!);
      writeSite(edit, b, s, v);
    }
  }
  return edits;
}

/** IIA of interchanging `list` together over the pairs (and, when known, the base accuracy). */
async function iiaOf(model: Model, pairs: readonly Pair[], list: readonly Interchange[], ctx: AnalysisContext, progress?: (done: number) => void): Promise<{ iia: number; predicted: number[] }> {
  const predicted = new Array<number>(pairs.length);
  let done = 0;
  for (const chunk of chunksByLength(pairs, pairs.map((_, i) => i), model)) {
    throwIfAborted(ctx.signal);
    const T = pairs[chunk[0]!]!.base.length;
    const sites = list.map((iv) => resolveSite(model, iv.site, T, `variable ${iv.variable + 1}'s site`));
    const edits = await interchangeEdits(model, pairs, chunk, list, sites, ctx.signal);
    const top = await topTokensWithEdits(model, chunk.map((i) => pairs[i]!.base), edits, ctx.signal);
    chunk.forEach((i, b) => (predicted[i] = top[b]!));
    done += chunk.length;
    throwIfAborted(ctx.signal); // no progress after a cancel
    progress?.(done);
  }
  const ok = pairs.filter((p, i) => predicted[i] === p.label).length;
  return { iia: ok / pairs.length, predicted };
}

/** An IIA sweep's variable index and layers, every layer's site resolved once (a bad hook fails here). */
function checkSweep(model: Model, sweep: NonNullable<IiaParams['sweep']>, index: (name: string) => number, pairs: ReadonlyArray<{ base: number[] }>, variables: Hypothesis['variables'], T0: number): { v: number; layers: number[] } {
  const v = index(sweep.variable);
  const layers = sweep.layers ?? Array.from({ length: model.config.nLayers }, (_, l) => l);
  for (const l of layers) if (l >= model.config.nLayers) throw new UserError(`sweep: layer ${l} is outside the model (0..${model.config.nLayers - 1}).`);
  if (new Set(pairs.map((p) => p.base.length)).size > 1) throw new UserError('A layer x position sweep needs every prompt to have the same token length (positions are columns).');
  const heads = variables[v]!.site?.heads;
  for (const l of layers) resolveSite(model, { hook: sweep.hook.replace('{l}', String(l)), positions: [0], ...(heads ? { heads } : {}) }, T0, `sweep at layer ${l}`);
  return { v, layers };
}

/** The `iia` analysis: interchange interventions and their accuracy, optionally swept over layers x positions. */
export async function interchangeAnalysis(model: Model, params: IiaParams, ctx: AnalysisContext = {}): Promise<IiaResult> {
  const variables = params.hypothesis.variables;
  const index = (name: string) => variableIndex(variables, name);
  const chosen = params.variables ? params.variables.map(index) : variables.flatMap((v, i) => (v.site ? [i] : []));
  if (chosen.length === 0 && !params.sweep) throw new UserError(`No variable has a site to interchange: give ${variables[0]!.name} {"site": {"hook": ..., "positions": [...]}} (mechlens iia --site HOOK).`);
  const set = buildPairs(model, params.hypothesis, { randomLabels: params.randomLabels, interchanged: chosen.length ? chosen : undefined });
  const { pairs } = set;
  const list: Interchange[] = chosen.map((i) => {
    const site = variables[i]!.site;
    if (!site) throw new UserError(`Variable ${variables[i]!.name} has no site: give it {"site": {"hook": ..., "positions": [...]}}.`);
    return { variable: i, site };
  });
  const T0 = pairs[0]!.base.length;
  const sites = list.map((iv) => resolveSite(model, iv.site, T0, `variable ${variables[iv.variable]!.name}'s site`));
  let baseAccuracy: number | undefined;
  const withBase = pairs.filter((p) => p.baseLabel !== undefined);
  if (withBase.length > 0) {
    let ok = 0;
    for (const chunk of chunksByLength(withBase, withBase.map((_, i) => i), model)) {
      const top = await topTokensWithEdits(model, chunk.map((i) => withBase[i]!.base), new Map(), ctx.signal);
      chunk.forEach((i, b) => (ok += top[b] === withBase[i]!.baseLabel ? 1 : 0));
    }
    baseAccuracy = ok / withBase.length;
  }
  const sweepCells = params.sweep ? (params.sweep.layers ?? Array.from({ length: model.config.nLayers }, (_, l) => l)).length * T0 : 0;
  const total = (list.length > 0 ? pairs.length : 0) + sweepCells * pairs.length;
  let done = 0;
  const report = (n: number) => ctx.onProgress?.(`Interchange interventions: ${done + n} / ${total} runs`, total > 0 ? (done + n) / total : undefined);
  // The sweep's variable, layers and hook are checked before any run: a bad one is refused at once.
  const sweepPlan = params.sweep ? checkSweep(model, params.sweep, index, pairs, variables, T0) : undefined;
  const main = list.length > 0 ? await iiaOf(model, pairs, list, ctx, report) : { iia: NaN, predicted: [] as number[] };
  done += list.length > 0 ? pairs.length : 0;

  let sweep: IiaResult['sweep'];
  if (params.sweep && sweepPlan) {
    const { v, layers } = sweepPlan;
    // The same prompts (the draw does not depend on what is interchanged), labelled for this variable alone.
    const own = chosen.length === 1 && chosen[0] === v ? pairs : buildPairs(model, params.hypothesis, { randomLabels: params.randomLabels, interchanged: [v] }).pairs;
    const iia: number[][] = [];
    for (const l of layers) {
      const row: number[] = [];
      for (let pos = 0; pos < T0; pos++) {
        const heads = variables[v]!.site?.heads;
        const r = await iiaOf(model, own, [{ variable: v, site: { hook: params.sweep.hook.replace('{l}', String(l)), positions: [pos], ...(heads ? { heads } : {}) } }], ctx, report);
        done += pairs.length;
        row.push(r.iia);
      }
      iia.push(row);
    }
    sweep = { variable: params.sweep.variable, hook: params.sweep.hook, layers, tokens: pairs[0]!.base.map((id) => model.tokenText(id)), iia };
  }
  const examples = pairs.slice(0, 20).map((p, i) => ({
    base: p.text.base,
    sources: chosen.map((v) => p.text.sources[v]!),
    label: model.tokenText(p.label),
    predicted: main.predicted[i] !== undefined ? model.tokenText(main.predicted[i]!) : '',
    ok: main.predicted[i] === p.label,
  }));
  return {
    hypothesis: set.name,
    variables: chosen.map((i) => variables[i]!.name),
    sites: sites.map(({ hook, positions, heads, dim, subspaceRank }) => ({ hook, positions, ...(heads ? { heads } : {}), dim, ...(subspaceRank ? { subspaceRank } : {}) })),
    pairs: pairs.length,
    iia: main.iia,
    chance: chanceLevel(pairs),
    ...(baseAccuracy !== undefined ? { baseAccuracy } : {}),
    randomLabels: params.randomLabels ?? false,
    examples,
    ...(sweep ? { sweep } : {}),
    prompt: { ids: pairs[0]!.base, texts: pairs[0]!.base.map((id) => model.tokenText(id)) },
  };
}
