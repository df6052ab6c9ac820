// Attention patterns and head detectors (the idea of TransformerLens' head_detector.py).
// For every layer and head, the score is the mean attention a query puts on the positions a head of
// that kind would attend to, averaged over the queries where such positions exist:
//   previous-token: key t-1;  duplicate-token: earlier keys holding the same token;
//   induction: the key right after an earlier copy of the current token (Olsson et al. 2022).
// Induction is measured on a repeated random sequence (first half random, second half the same),
// where only an induction head can predict the second half.
import { parseHookName } from '../hooks';
import type { HookName } from '../hooks';
import { UserError, throwIfAborted } from '../errors';
import * as ort from 'onnxruntime-node';
import { buildForwardGraph, forwardOptionsKey } from '../onnx/forwardGraph';
import type { ForwardOptions } from '../onnx/forwardGraph';
import type { Model } from '../model';
import type { AttentionResult, HeadKind } from '../../shared/protocol';
import type { Intervention } from '../../shared/interventions';
import type { AnalysisParams, AnalysisResults } from '../../shared/analyses';
import { checkInterventionPositions, resolvePrompt } from '../prompt';

export const HEAD_KINDS: readonly HeadKind[] = ['previous_token', 'duplicate_token', 'induction'];


/** Scores one [H, T, T] pattern for each kind, given the tokens it was computed on. */
export function headScores(pattern: Float32Array, H: number, tokens: number[]): Record<HeadKind, number[]> {
  const T = tokens.length;
  const out: Record<HeadKind, number[]> = { previous_token: [], duplicate_token: [], induction: [] };
  for (let h = 0; h < H; h++) {
    const at = (q: number, k: number) => pattern[(h * T + q) * T + k]!;
    let prev = 0;
    let prevN = 0;
    let dup = 0;
    let dupN = 0;
    let ind = 0;
    let indN = 0;
    for (let q = 1; q < T; q++) {
      prev += at(q, q - 1);
      prevN++;
      let dupMass = 0;
      let indMass = 0;
      let hasDup = false;
      for (let k = 0; k < q; k++) {
        if (tokens[k] === tokens[q]) {
          hasDup = true;
          dupMass += at(q, k);
          if (k + 1 <= q) indMass += at(q, k + 1);
        }
      }
      if (hasDup) {
        dup += dupMass;
        dupN++;
        ind += indMass;
        indN++;
      }
    }
    out.previous_token.push(prevN ? prev / prevN : NaN);
    out.duplicate_token.push(dupN ? dup / dupN : NaN);
    out.induction.push(indN ? ind / indN : NaN);
  }
  return out;
}

/**
 * Every layer's attention pattern on `tokens`, under `interventions` when given, from one forward (every layer at
 * once; `layerPatterns` streams them). A graph of the patterns alone (`only`): the main graph exposes every hook, so
 * onnxruntime fuses fewer ops there and its patterns differ from these in the last bits (a few 1e-7 on the test
 * models); these are what `layerPatterns` reproduces exactly.
 */
export async function attentionPatterns(model: Model, tokens: number[], signal?: AbortSignal, interventions?: readonly Intervention[]): Promise<AttentionResult> {
  const { nLayers: L, nHeads: H } = model.config;
  const hooks = Array.from({ length: L }, (_, l): HookName => `blocks.${l}.attn.hook_pattern`);
  const r = await model.forward({ tokens: [tokens], hooks, interventions, logits: 'none', only: true, signal });
  const patterns = hooks.map((h) => r.hooks.get(h)!.data);
  const scores: Record<HeadKind, number[][]> = { previous_token: [], duplicate_token: [], induction: [] };
  for (const p of patterns) {
    const s = headScores(p, H, tokens);
    for (const kind of HEAD_KINDS) scores[kind].push(s[kind]);
  }
  return { tokens, patterns, nHeads: H, scores };
}

/** One layer's attention pattern and its heads' scores on the prompt. */
export interface LayerPattern {
  layer: number;
  /** [head][query][key] row-major. */
  pattern: Float32Array;
  scores: Record<HeadKind, number[]>;
}

/** The residual streams of a model's last layer-by-layer attention request, kept for the next one on the same prompt. */
interface ResidCache {
  key: string;
  /** Layer -> hook_resid_pre [1, T, d]. */
  resid: Map<number, Float32Array>;
}
const residCache = new WeakMap<Model, ResidCache>();
/** At most this many bytes of residual streams are kept between requests (37.7 MB: GPT-2 small, T = 1024, 12 layers). */
const MAX_CACHED_BYTES = 256 * 2 ** 20;

/**
 * The interventions of `list` that a graph of layer `l`'s attention alone, started from the residual stream
 * entering it, must apply: those at its hooks after hook_resid_pre (its edit is already in the captured stream,
 * as are those of earlier layers) up to the pattern (later ones cannot change it).
 */
function interventionsBeforePattern(model: Model, list: readonly Intervention[] | undefined, l: number): Intervention[] {
  if (!list?.length) return [];
  const order = new Map<string, number>(model.hookNames().map((h, i) => [h, i]));
  const from = order.get(`blocks.${l}.hook_resid_pre`)!;
  const to = order.get(`blocks.${l}.attn.hook_pattern`)!;
  return list.filter((iv) => {
    if (iv.kind === 'feature') return false; // written at an MLP output: after every pattern of its layer
    const at = order.get(parseHookName(iv.hook, model.config).name)!;
    return at > from && at <= to;
  });
}

/**
 * Attention patterns one layer at a time (issue #13: at T = 1024 every layer of GPT-2 small is 576 MiB). A forward
 * of a graph of the residual streams alone gives the stream entering each layer asked for (L x T x d_model floats;
 * with `keep`, kept for the next request on the same prompt and interventions, and a first request runs only the
 * layers up to the deepest it asks for); then each layer's pattern comes from a graph of that layer's attention
 * alone (its norm, queries, keys and softmax) started from that stream. Equal bit for bit to `attentionPatterns`
 * (tested on every architecture). Yields the layers in the order asked; a caller that drops each one holds one
 * layer's pattern at a time.
 */
export async function* layerPatterns(
  model: Model,
  tokens: number[],
  options: {
    layers?: readonly number[];
    interventions?: readonly Intervention[];
    signal?: AbortSignal;
    /** Keep the residual streams for a follow-up request on the same prompt (a panel's next layer). */
    keep?: boolean;
  } = {},
): AsyncGenerator<LayerPattern> {
  const { nLayers: L, nHeads: H, dModel: d } = model.config;
  const layers = options.layers ?? Array.from({ length: L }, (_, l) => l);
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= L) throw new UserError(`Layer ${l} is out of range: ${model.info.name} has layers 0..${L - 1}.`);
  if (layers.length === 0) return;
  const { interventions, signal } = options;
  const T = tokens.length;
  const key = JSON.stringify([tokens, interventions ?? []]);
  const all = options.keep === true && L * T * d * 4 <= MAX_CACHED_BYTES;
  let cached = residCache.get(model);
  if (cached?.key !== key) cached = undefined;
  const missing = [...new Set(layers)].filter((l) => !cached?.resid.has(l));
  if (missing.length > 0) {
    const resid = all && cached ? cached.resid : new Map<number, Float32Array>();
    const hookOf = (l: number): HookName => `blocks.${l}.hook_resid_pre`;
    // `only` below: a graph of these streams alone (the main graph would hold every layer's scores and patterns to its end).
    if (all && !interventions?.length) {
      // Kept for the next request. The first (a panel's layer on screen) runs the layers up to it only (layer 0's
      // stream is the embedding); the next continues from the deepest stream held to the last layer. Two graphs per
      // first layer asked for, so a few sessions (each keeps its own memory arena) serve every order of requests.
      let from = -1;
      while (resid.has(from + 1)) from++;
      const top = from < 0 ? Math.max(...missing) : L - 1;
      const capture = Array.from({ length: top - from }, (_, i) => from + 1 + i);
      const r =
        from < 0
          ? await model.forward({ tokens: [tokens], hooks: capture.map(hookOf), logits: 'none', only: true, signal })
          : await model.forward({ resid: { shape: [1, T, d], dims: ['batch', 'pos', 'd_model'], data: resid.get(from)! }, startLayer: from, hooks: capture.map(hookOf), logits: 'none', signal });
      for (const l of capture) resid.set(l, r.hooks.get(hookOf(l))!.data);
    } else {
      // Small enough: every layer's stream, so a later request for another layer runs no forward.
      const capture = all ? Array.from({ length: L }, (_, l) => l).filter((l) => !resid.has(l)) : missing;
      const r = await model.forward({ tokens: [tokens], hooks: capture.map(hookOf), interventions, logits: 'none', only: true, signal });
      for (const l of capture) resid.set(l, r.hooks.get(hookOf(l))!.data);
    }
    cached = { key, resid };
    if (all) residCache.set(model, cached);
    else residCache.delete(model);
  }
  for (const l of layers) {
    throwIfAborted(signal);
    const resid = cached!.resid.get(l)!;
    const own = interventionsBeforePattern(model, interventions, l);
    const template = own.length === 0 ? patternTemplate(model, l) : null;
    let pattern: Float32Array;
    if (template) {
      // Layer l's weights fed to its template layer's graph (one session for every such layer). The session is
      // asked of the cache each time: it may have been evicted (and released) since.
      const options = patternGraphOptions(template.layer);
      const session = await model.graphs.get(forwardOptionsKey(options), () => buildForwardGraph(model.spec, options));
      throwIfAborted(signal);
      const out = await session.run({ resid: new ort.Tensor('float32', resid, [1, T, d]), ...template.feeds }, [template.output]);
      pattern = out[template.output]!.data as Float32Array;
    } else {
      const hook: HookName = `blocks.${l}.attn.hook_pattern`;
      const r = await model.forward({ resid: { shape: [1, T, d], dims: ['batch', 'pos', 'd_model'], data: resid }, startLayer: l, hooks: [hook], interventions: own, logits: 'none', signal });
      pattern = r.hooks.get(hook)!.data;
    }
    throwIfAborted(signal);
    yield { layer: l, pattern, scores: headScores(pattern, H, tokens) };
  }
}

/** The graph of layer `l`'s attention pattern alone, from the residual stream entering it (as Model.forward builds it). */
function patternGraphOptions(l: number): ForwardOptions {
  return {
    startLayer: l,
    residInput: true,
    outputs: new Set([`blocks.${l}.attn.hook_pattern`]),
    interventions: new Set(),
    logits: 'none',
    past: false,
    weightsAsInputs: true,
  };
}

interface PatternTemplate {
  /** The layer whose graph runs. */
  layer: number;
  /** Layer l's weights under the template layer's input names (none when l is its own template). */
  feeds: Record<string, ort.Tensor>;
  output: string;
}
const templates = new WeakMap<Model, Map<number, PatternTemplate | null>>();

/**
 * Every layer's attention-pattern graph is the same graph but for its weights, except where layers differ in
 * kind (sliding-window layers have their own mask and rotary table): so the first layer of each kind is the
 * template, and layer l runs as that graph fed l's weights. One onnxruntime session per kind instead of one per
 * layer: each session keeps its own memory arena at its peak (about 200 MB at T = 1024 on GPT-2 small), and a
 * 32-layer model would otherwise fill the session cache (24) with them. Null when the weights do not line up
 * (then layer l gets its own graph through Model.forward).
 */
function patternTemplate(model: Model, l: number): PatternTemplate | null {
  let byLayer = templates.get(model);
  if (!byLayer) templates.set(model, (byLayer = new Map()));
  if (byLayer.has(l)) return byLayer.get(l)!;
  const sliding = model.config.slidingLayers;
  const first = sliding.findIndex((s) => s === sliding[l]);
  const t = first >= 0 ? first : l;
  let result: PatternTemplate | null = { layer: t, feeds: {}, output: `blocks.${t}.attn.hook_pattern` };
  if (t !== l) {
    // The graph reads its own layer's weights only (later layers' stay unused inputs); l's must line up with t's.
    const ownWeights = (layer: number) => {
      const prefix = `blocks.${layer}.`;
      const weights = buildForwardGraph(model.spec, patternGraphOptions(layer)).weightInputs.filter((w) => w.name.startsWith(prefix));
      return new Map(weights.map((w) => [w.name.slice(prefix.length), w]));
    };
    const own = ownWeights(l);
    const theirs = ownWeights(t);
    const feeds: Record<string, ort.Tensor> = {};
    let lined = own.size === theirs.size;
    for (const [suffix, w] of own) {
      if (theirs.get(suffix)?.dims.join() !== w.dims.join()) lined = false;
      feeds[`blocks.${t}.${suffix}`] = new ort.Tensor('float32', w.data, w.dims);
    }
    result = lined ? { ...result, feeds } : null;
  }
  byLayer.set(l, result);
  return result;
}

/**
 * The `attention` analysis (src/shared/analyses.ts): the patterns of `layers` (default: every layer) and the head
 * scores of every layer (or only of `layers` with `allScores: false`), computed layer by layer: beyond the patterns
 * it returns, it holds one layer's pattern at a time. The layers asked for come first, then the others to score.
 */
export async function attentionAnalysis(
  model: Model,
  p: AnalysisParams<'attention'>,
  ctx: { signal?: AbortSignal; onProgress?: (message: string, fraction?: number, steps?: { phase: string; done: number; total: number }) => void } = {},
): Promise<AnalysisResults['attention']> {
  const tokens = resolvePrompt(model, p.prompt);
  checkInterventionPositions(p.interventions, tokens.ids.length);
  const { nLayers: L, nHeads: H } = model.config;
  const every = Array.from({ length: L }, (_, l) => l);
  const returned = p.layers ?? every;
  const wanted = new Set(returned);
  const order = [...new Set([...returned, ...(p.allScores === false ? [] : every)])];
  const scores: Record<HeadKind, number[][]> = { previous_token: every.map(() => []), duplicate_token: every.map(() => []), induction: every.map(() => []) };
  const patterns = new Map<number, Float32Array>();
  let done = 0;
  // A panel's request (`layers` given) keeps the residual streams: its next request (another layer, the scores) runs
  // at most the layers the first one did not.
  for await (const lp of layerPatterns(model, tokens.ids, { layers: order, interventions: p.interventions, signal: ctx.signal, keep: p.layers !== undefined })) {
    for (const kind of HEAD_KINDS) scores[kind][lp.layer] = lp.scores[kind];
    if (wanted.has(lp.layer)) patterns.set(lp.layer, lp.pattern);
    done++;
    ctx.onProgress?.(`Attention patterns: layer ${done} of ${order.length}`, done / order.length, { phase: 'layers', done, total: order.length });
  }
  const result = { tokens: tokens.ids, patterns: returned.map((l) => patterns.get(l)!), nHeads: H, scores, prompt: tokens };
  return p.layers === undefined ? result : { ...result, layers: [...returned] };
}

/** A seeded random sequence repeated twice, drawn from `vocab` (default: every id). */
export function repeatedRandomTokens(length: number, seed: number, vocab: number[] | number): number[] {
  let s = seed >>> 0;
  const pool = typeof vocab === 'number' ? null : vocab;
  const size = pool ? pool.length : (vocab as number);
  const first: number[] = [];
  const used = new Set<number>();
  while (first.length < length) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const i = s % size;
    const id = pool ? pool[i]! : i;
    if (used.has(id) && used.size < size) continue;
    used.add(id);
    first.push(id);
  }
  return [...first, ...first];
}

/**
 * Head-detector scores averaged over several repeated random sequences: the standard benchmark for
 * previous-token, duplicate-token and induction heads. Random ids from the whole vocabulary are the
 * default (as TransformerLens does); a small model trained on a narrow corpus sees most ids rarely,
 * so a model folder may ship its own probe sequences (`eval/head_probe.json`, `repeated` rows: in-
 * distribution tokens, first half repeated), which are used when present.
 */
export async function detectHeads(
  model: Model,
  options: { length?: number; samples?: number; vocab?: number[]; sequences?: number[][]; signal?: AbortSignal } = {},
): Promise<Record<HeadKind, number[][]>> {
  const length = Math.min(options.length ?? 20, Math.floor(model.config.nCtx / 2));
  const probe = options.sequences ?? (options.vocab ? undefined : model.headProbe);
  const samples = probe ? Math.min(options.samples ?? probe.length, probe.length) : (options.samples ?? 4);
  const sum: Record<HeadKind, number[][]> = { previous_token: [], duplicate_token: [], induction: [] };
  for (let s = 0; s < samples; s++) {
    const tokens = probe ? probe[s]! : repeatedRandomTokens(length, 1000 + s, options.vocab ?? model.config.dVocab);
    const r = await attentionPatterns(model, tokens, options.signal);
    for (const kind of HEAD_KINDS) {
      r.scores[kind].forEach((row, l) => {
        sum[kind][l] ??= new Array<number>(row.length).fill(0);
        row.forEach((v, h) => (sum[kind][l]![h]! += v / samples));
      });
    }
  }
  return sum;
}
