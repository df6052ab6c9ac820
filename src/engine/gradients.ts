// Gradients of the model, computed by generated backward graphs (onnx/gradientGraph.ts): of a metric of
// the last position's logits (a token's logit, a logit difference, a log-probability), or of a vector
// placed at a hook and position, with respect to any set of hooks; optionally through the frozen
// (linearised) model that attribution graphs differentiate. One request is one onnxruntime run: the
// forward and the backward of every seed row.
import * as ort from 'onnxruntime-node';
import { UserError, throwIfAborted } from './errors';
import { hookDims, parseHookName } from './hooks';
import type { HookEdit } from './interventions';
import type { Model } from './model';
import { addEditFeeds, tokenFeed } from './onnx/feeds';
import { UNEMBED_INPUT, buildGradientGraph, gradientOptionsKey } from './onnx/gradientGraph';
import type { Freeze, GradientGraphOptions } from './onnx/gradientGraph';
import type { NamedTensor } from '../shared/tensor';

/** A metric of the last position's logits: logit(target) [− logit(baseline)], or log p(target). */
export interface LogitMetric {
  target: number;
  baseline?: number;
  /** log p(target) instead of logit(target) (with a baseline the two differences are equal). */
  logProb?: boolean;
}

/**
 * A vector placed at a hook and position: the gradient of its dot product with the hook's activation.
 * The hook may also be UNEMBED_INPUT, the final norm's output that the unembedding reads.
 */
export interface HookSeed {
  hook: string;
  position: number;
  vector: Float32Array;
}

export interface GradientRequest {
  /** Forward rows: one prompt shared by every seed row, or one prompt per seed row. */
  tokens: number[][];
  /** Hooks to differentiate with respect to. */
  wrt: readonly string[];
  /** One metric per seed row, or */
  metrics?: readonly LogitMetric[];
  /**
   * or the metric's weights themselves: Σ_v weights[row, v] · logit_v − logSumExp[row] · logsumexp(logits),
   * [rows, d_vocab] and [rows] (any linear function of the last logits and their logsumexp: KL(p || softmax)
   * is −p · logits + logsumexp up to a constant; a row of zeros seeds nothing); `probs` [rows, forward rows]
   * adds Σ_s probs[row, s] · softmax(forward row s's last logits) to the row's weights, that softmax held
   * constant (not differentiated): a KL against another row of the same run, or
   */
  metricWeights?: { weights: Float32Array; logSumExp: Float32Array; probs?: Float32Array };
  /** one hook seed per seed row. */
  seeds?: readonly HookSeed[];
  /** Also return the forward rows' last-position logits. */
  logits?: boolean;
  /** Hooks given seed inputs even when no row of this request seeds them (one graph for many requests). */
  seedHooks?: readonly string[];
  /** Quantities held at their values on this forward (all false: the full gradient). */
  freeze?: Partial<Freeze> & {
    /** With the MLPs frozen, live linear paths from a hook to a layer's MLP output: weight [D, d_model]. */
    skips?: ReadonlyArray<{ layer: number; input: string; weight: Float32Array }>;
  };
  /**
   * The frozen model with its frozen quantities fed (captureFrozenState's feeds: `frozen.*`, skip inputs
   * and weights) instead of recomputed and stop-gradiented: far less work per run (GradientGraphOptions.
   * frozenInputs). Every freeze flag must be set; the skip paths are these, not `freeze.skips`.
   */
  frozenInputs?: { feeds: Readonly<Record<string, ort.Tensor>>; skips: ReadonlyArray<{ layer: number; input: string; dIn: number }> };
  /** Edits (x * keep + add) applied in the forward, as in ForwardRequest. */
  edits?: ReadonlyMap<string, HookEdit>;
  /** Hooks whose forward activations are returned too. */
  activations?: readonly string[];
  /**
   * Gradients contracted in the graph instead of returned: per rank-3 hook, N vectors per position,
   * [T, D, N] (position-major, the vectors as columns); the result's `edges` holds [T, rows, N].
   */
  contract?: ReadonlyMap<string, { vectors: Float32Array; n: number }>;
  signal?: AbortSignal;
}

export interface GradientResult {
  /** Seed rows. */
  rows: number;
  /** The metric per seed row (metric seeds only). */
  metric?: Float32Array;
  /** The forward rows' last-position logits, [forward rows, d_vocab] (when asked for). */
  logits?: Float32Array;
  /** Per hook: [rows, ...the hook's dims after batch]. */
  grads: Map<string, NamedTensor>;
  activations: Map<string, NamedTensor>;
  /** Per contracted hook: [T, rows, N]. */
  edges: Map<string, Float32Array>;
}

/**
 * Work per backward run, in rows x positions x layers x (d_model^2 + positions x d_model) (the unit of
 * patching.ts's CHUNK_BUDGET). A 64-row batch of 64 tokens on a 6-layer, 512-wide model is 7e9 of
 * these and took 0.6 to 2.3 s on one thread of a busy two-core machine; 2^29 is some 0.1 s there, so a
 * cancel is honoured well within 200 ms, while small models (the bundled one) still run a whole batch
 * at once.
 */
export const BACKWARD_BUDGET = 2 ** 29;

/** What one run should take at most, so that a cancel (checked between runs) is honoured within 200 ms. */
export const RUN_TARGET_MS = 100;

/**
 * Rows per run, lowered when runs take longer than RUN_TARGET_MS: the work budgets assume a machine that is
 * not busy; under load the same run takes several times longer, and a cancel waits for the run in progress.
 * Two slow runs in a row lower the cap (one alone may be a session being built, which no cap shortens); rows
 * are independent, so only how they are grouped into runs changes.
 */
export class RunSizer {
  private cap = Infinity;
  private lastSlow = Infinity;

  /** Rows for the next run, at most `max`. */
  rows(max: number): number {
    return Math.max(1, Math.min(max, this.cap));
  }

  /** Runs `run` (n rows) and records how long it took. */
  async time<T>(n: number, run: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const r = await run();
    const perRow = (performance.now() - t0) / n;
    if (perRow * n > RUN_TARGET_MS) {
      const fitting = Math.max(1, Math.floor(RUN_TARGET_MS / Math.min(perRow, this.lastSlow)));
      if (this.lastSlow !== Infinity && n > 1) this.cap = Math.min(this.cap, fitting);
      this.lastSlow = perRow;
    } else this.lastSlow = Infinity;
    return r;
  }
}

/** Rows per backward run for a prompt of T tokens through `layers` layers. */
export function backwardRows(c: { dModel: number }, T: number, layers: number, budget = BACKWARD_BUDGET): number {
  const d = c.dModel;
  return Math.max(1, Math.floor(budget / (T * Math.max(1, layers) * (d * d + T * d))));
}

export async function computeGradients(model: Model, req: GradientRequest): Promise<GradientResult> {
  const c = model.config;
  model.checkTokens(req.tokens);
  const T = req.tokens[0]!.length;
  const hasMetrics = (req.metrics?.length ?? 0) > 0 || req.metricWeights !== undefined;
  const hasSeeds = (req.seeds?.length ?? 0) > 0;
  if (hasMetrics === hasSeeds || ((req.metrics?.length ?? 0) > 0 && req.metricWeights)) throw new Error('internal: a gradient request needs metrics, metric weights or hook seeds (one of them)');
  const rows = req.metricWeights ? req.metricWeights.logSumExp.length : hasMetrics ? req.metrics!.length : req.seeds!.length;
  if (req.tokens.length !== 1 && req.tokens.length !== rows) throw new Error(`internal: ${req.tokens.length} forward rows for ${rows} seed rows`);
  const wrt = [...new Set(req.wrt)];
  const contract = [...(req.contract?.keys() ?? [])];
  if (wrt.length === 0 && contract.length === 0) throw new UserError('Name at least one hook to take gradients with respect to.');
  const parsedWrt = wrt.map((h) => parseHookName(h, c));
  const activations = new Set(req.activations ?? []);
  for (const h of activations) parseHookName(h, c);
  // Per-head results exist in the graph only when asked for.
  for (const p of parsedWrt) if (p.local === 'attn.hook_result') activations.add(p.name);

  const feeds: Record<string, ort.Tensor> = {
    input_ids: tokenFeed(req.tokens),
  };
  const seedHooks: string[] = [];
  if (req.metricWeights) {
    const { weights, logSumExp, probs } = req.metricWeights;
    if (weights.length !== rows * c.dVocab) throw new Error(`internal: ${weights.length} metric weights for ${rows} rows of ${c.dVocab}`);
    feeds['metric.weights'] = new ort.Tensor('float32', weights, [rows, c.dVocab]);
    feeds['metric.logsumexp'] = new ort.Tensor('float32', logSumExp, [rows]);
    if (probs) {
      if (probs.length !== rows * req.tokens.length) throw new Error(`internal: ${probs.length} probability weights for ${rows} rows of ${req.tokens.length}`);
      feeds['metric.probs'] = new ort.Tensor('float32', probs, [rows, req.tokens.length]);
    }
  } else if (hasMetrics) {
    const V = c.dVocab;
    const weights = new Float32Array(rows * V);
    const lse = new Float32Array(rows);
    for (const [r, m] of req.metrics!.entries()) {
      for (const t of [m.target, m.baseline]) {
        if (t !== undefined && (!Number.isInteger(t) || t < 0 || t >= V)) throw new UserError(`Token ${t} is outside the vocabulary (0..${V - 1}).`);
      }
      weights[r * V + m.target] = 1;
      if (m.baseline !== undefined) weights[r * V + m.baseline]! -= 1;
      lse[r] = m.logProb && m.baseline === undefined ? 1 : 0;
    }
    feeds['metric.weights'] = new ort.Tensor('float32', weights, [rows, V]);
    feeds['metric.logsumexp'] = new ort.Tensor('float32', lse, [rows]);
  } else {
    const byHook = new Map<string, number[]>((req.seedHooks ?? []).map((h) => [h, []]));
    for (const [r, s] of req.seeds!.entries()) {
      const shape = s.hook === UNEMBED_INPUT ? [1, T, c.dModel] : hookDims(c, parseHookName(s.hook, c).local, 1, T).shape;
      if (shape.length !== 3) throw new UserError(`Seeds go on hooks shaped [batch, pos, d]; ${s.hook} is not.`);
      if (!Number.isInteger(s.position) || s.position < 0 || s.position >= T) throw new UserError(`Seed position ${s.position} is outside the prompt (0..${T - 1}).`);
      if (s.vector.length !== shape[2]) throw new UserError(`The seed vector for ${s.hook} has ${s.vector.length} entries; the hook has ${shape[2]}.`);
      byHook.set(s.hook, [...(byHook.get(s.hook) ?? []), r]);
    }
    for (const [hook, rowsHere] of byHook) {
      const D = hook === UNEMBED_INPUT ? c.dModel : hookDims(c, parseHookName(hook, c).local, 1, T).shape[2]!;
      const vector = new Float32Array(rows * D);
      const at = new Float32Array(rows * T);
      for (const r of rowsHere) {
        const s = req.seeds![r]!;
        vector.set(s.vector, r * D);
        at[r * T + s.position] = 1;
      }
      feeds[`seed.${hook}.vector`] = new ort.Tensor('float32', vector, [rows, D]);
      feeds[`seed.${hook}.at`] = new ort.Tensor('float32', at, [rows, T]);
      seedHooks.push(hook);
    }
  }

  const freeze: Freeze = { attention: req.freeze?.attention ?? false, norms: req.freeze?.norms ?? false, mlp: req.freeze?.mlp ?? false };
  const skips: Array<{ layer: number; input: string; dIn: number }> = [];
  for (const s of req.freeze?.skips ?? []) {
    if (!freeze.mlp) throw new UserError('A skip path needs the MLP outputs frozen.');
    if (!Number.isInteger(s.layer) || s.layer < 0 || s.layer >= c.nLayers) throw new UserError(`Skip layer ${s.layer} is outside the model (0..${c.nLayers - 1}).`);
    const p = parseHookName(s.input, c);
    if (p.layer !== s.layer) throw new UserError(`The skip path of layer ${s.layer} must read a hook of that layer, not ${s.input}.`);
    const dIn = hookDims(c, p.local, 1, 1).shape.at(-1)!;
    if (s.weight.length !== dIn * c.dModel) throw new UserError(`The skip weight of layer ${s.layer} has ${s.weight.length} entries; expected ${dIn} x ${c.dModel}.`);
    skips.push({ layer: s.layer, input: s.input, dIn });
    feeds[`skip.${s.layer}`] = new ort.Tensor('float32', s.weight, [dIn, c.dModel]);
  }
  if (req.frozenInputs) {
    if (skips.length > 0) throw new Error('internal: with frozen inputs, skip paths come with them');
    if (!(freeze.attention && freeze.norms && freeze.mlp)) throw new Error('internal: frozen inputs need every freeze flag');
    skips.push(...req.frozenInputs.skips);
  }
  for (const hook of req.edits?.keys() ?? []) parseHookName(hook, c);
  addEditFeeds(feeds, req.edits ?? []);
  for (const [hook, { vectors, n }] of req.contract ?? []) {
    const shape = hookDims(c, parseHookName(hook, c).local, 1, T).shape;
    if (shape.length !== 3) throw new Error(`internal: contracted gradients need a hook shaped [batch, pos, d], not ${hook}`);
    if (vectors.length !== T * shape[2]! * n) throw new Error(`internal: ${vectors.length} contraction entries for ${hook}, expected ${T} x ${shape[2]} x ${n}`);
    feeds[`contract.${hook}`] = new ort.Tensor('float32', vectors, [T, shape[2]!, n]);
  }

  const options: GradientGraphOptions = {
    wrt,
    metric: hasMetrics,
    probs: req.metricWeights?.probs !== undefined,
    logits: req.logits ?? false,
    seedHooks,
    freeze,
    skips,
    interventions: new Set(req.edits?.keys() ?? []),
    activations,
    contract,
    frozenInputs: req.frozenInputs !== undefined,
  };
  throwIfAborted(req.signal);
  const session = await model.graphs.get(gradientOptionsKey(options), () => buildGradientGraph(model.spec, options));
  // The frozen state covers every layer's skip path; a graph has those of the skips it was given.
  const inputs = new Set(session.inputNames);
  for (const [name, t] of Object.entries(req.frozenInputs?.feeds ?? {})) if (inputs.has(name)) feeds[name] = t;
  throwIfAborted(req.signal);
  const fetches = [...wrt.map((h) => `grad.${h}`), ...activations, ...contract.map((h) => `edges.${h}`)];
  if (hasMetrics) fetches.push('metric');
  if (req.logits) fetches.push('logits');
  const out = await session.run(feeds, fetches);

  const result: GradientResult = { rows, grads: new Map(), activations: new Map(), edges: new Map() };
  for (const h of contract) result.edges.set(h, out[`edges.${h}`]!.data as Float32Array);
  for (const p of parsedWrt) {
    const t = out[`grad.${p.name}`]!;
    result.grads.set(p.name, { shape: t.dims.slice(), dims: hookDims(c, p.local, rows, T).dims, data: t.data as Float32Array });
  }
  for (const h of activations) {
    const t = out[h]!;
    result.activations.set(h, { shape: t.dims.slice(), dims: hookDims(c, parseHookName(h, c).local, req.tokens.length, T).dims, data: t.data as Float32Array });
  }
  if (hasMetrics) result.metric = out.metric!.data as Float32Array;
  if (req.logits) result.logits = out.logits!.data as Float32Array;
  return result;
}
