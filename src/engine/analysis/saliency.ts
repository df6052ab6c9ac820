// Input saliency: how much each prompt token's embedding contributes to a metric of the last
// position's logits (logit(target), or logit(target) − logit(baseline)). Scores are taken at
// hook_embed (the token embedding, before Gemma's √d scale; positions stay as they are) and summed
// over d_model:
// - grad_x_input: e · ∂metric/∂e (Simonyan et al. 2013; Shrikumar et al. 2016);
// - integrated_gradients: e · mean over α of ∂metric/∂e at α·e, α from 0 to 1 by the midpoint rule
//   (Sundararajan et al. 2017), from a zero embedding. Completeness: the scores sum to
//   metric(input) − metric(zero embedding) as the steps grow (tested at 64 steps within 1%).
import { UserError, throwIfAborted } from '../errors';
import { BACKWARD_BUDGET, RunSizer, backwardRows, computeGradients } from '../gradients';
import type { Model } from '../model';
import type { SaliencyMethod } from '../../shared/analyses';

export interface SaliencyRequest {
  tokens: number[];
  target: number;
  baseline?: number;
  method: SaliencyMethod;
  /** Integrated gradients: interpolation steps (default 32). */
  steps?: number;
  signal?: AbortSignal;
  onProgress?: (fraction: number) => void;
}

export interface SaliencyResult {
  /** One score per prompt token. */
  scores: number[];
  /** The metric on the prompt. */
  metric: number;
  /** Integrated gradients: the metric with every token embedding zeroed (what the scores are relative to). */
  baselineMetric?: number;
}

/**
 * Rows per backward run for integrated gradients: at most 16 (memory), fewer where a run would hold the
 * thread long (a big model, a long prompt), so that a cancel is honoured between runs. Each row is a full
 * forward and backward of the unfrozen model, some three forwards, where an attribution row (what
 * BACKWARD_BUDGET is sized for) is a frozen, linear backward: a quarter of that budget per run.
 */
const ROWS_PER_RUN = 16;
const RUN_BUDGET = BACKWARD_BUDGET / 4;

export async function inputSaliency(model: Model, req: SaliencyRequest): Promise<SaliencyResult> {
  const { tokens, target, baseline } = req;
  const T = tokens.length;
  const d = model.config.dModel;
  const metric = { target, baseline };
  if (req.method === 'grad_x_input') {
    const r = await computeGradients(model, { tokens: [tokens], wrt: ['hook_embed'], metrics: [metric], activations: ['hook_embed'], signal: req.signal });
    const grad = r.grads.get('hook_embed')!.data;
    const embed = r.activations.get('hook_embed')!.data;
    return { scores: sumOverModel(grad, embed, T, d), metric: r.metric![0]! };
  }
  const steps = req.steps ?? 32;
  if (!Number.isInteger(steps) || steps < 1 || steps > 4096) throw new UserError(`--steps must be an integer from 1 to 4096 (got ${steps}).`);
  const meanGrad = new Float64Array(T * d);
  let embed: Float32Array | undefined;
  const ends = await computeGradients(model, {
    tokens: [tokens, tokens],
    wrt: ['hook_embed'],
    metrics: [metric, metric],
    activations: ['hook_embed'],
    edits: scaleEmbedding([1, 0]),
    signal: req.signal,
  });
  const perRun = Math.min(ROWS_PER_RUN, backwardRows(model.config, T, model.config.nLayers, RUN_BUDGET));
  const sizer = new RunSizer(); // fewer steps a run where runs prove slow (a busy machine)
  for (let start = 0; start < steps; ) {
    throwIfAborted(req.signal);
    const alphas = Array.from({ length: Math.min(sizer.rows(perRun), steps - start) }, (_, k) => (start + k + 0.5) / steps);
    const r = await sizer.time(alphas.length, () => computeGradients(model, {
      tokens: alphas.map(() => tokens),
      wrt: ['hook_embed'],
      metrics: alphas.map(() => metric),
      // The same graph as the end points' run (one session, built once): a second graph's build is a
      // step that cannot be interrupted, and the activation fetched is small.
      activations: ['hook_embed'],
      edits: scaleEmbedding(alphas),
      signal: req.signal,
    }));
    // hook_embed's activation is after the edit (α·e); row 0 of the end points has α = 1.
    embed ??= ends.activations.get('hook_embed')!.data.subarray(0, T * d);
    const grad = r.grads.get('hook_embed')!.data;
    for (let k = 0; k < alphas.length; k++) for (let i = 0; i < T * d; i++) meanGrad[i]! += grad[k * T * d + i]! / steps;
    start += alphas.length;
    throwIfAborted(req.signal); // no progress after a cancel
    req.onProgress?.(Math.min(1, start / steps));
  }
  return { scores: sumOverModel(meanGrad, embed!, T, d), metric: ends.metric![0]!, baselineMetric: ends.metric![1]! };
}

/** An edit scaling hook_embed by α per row (x · α + 0). */
function scaleEmbedding(alphas: number[]) {
  const n = alphas.length;
  return new Map([['hook_embed', { shape: [n, 1, 1], keep: Float32Array.from(alphas), add: new Float32Array(n) }]]);
}

function sumOverModel(grad: ArrayLike<number>, embed: Float32Array, T: number, d: number): number[] {
  return Array.from({ length: T }, (_, t) => {
    let s = 0;
    for (let i = 0; i < d; i++) s += grad[t * d + i]! * embed[t * d + i]!;
    return s;
  });
}
