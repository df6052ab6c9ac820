// The gradient graph: the forward pass (forwardGraph.ts) followed by its reverse-mode derivative
// (autodiff.ts), in one onnxruntime graph, so one run computes the activations and the gradients.
//
// Seeds (what is differentiated), one per row of the seed batch ("rows"):
// - a metric of the last position's logits: Σ_v w[row, v] · logit_v − λ[row] · logsumexp(logits),
//   fed as `metric.weights` [rows, d_vocab] and `metric.logsumexp` [rows] (a token's logit: w one-hot;
//   a logit difference: +1 / −1; a log-probability: one-hot with λ = 1), with, optionally (`probs`),
//   Σ_s μ[row, s] · softmax(logits of forward row s) added to w, fed as `metric.probs` [rows, forward rows]
//   and held constant for differentiation (KL(p_s || softmax(logits)) is −p_s · logits + logsumexp up to a
//   constant: μ = −1, λ = −1, with p_s from the same run); the graph outputs `metric`
//   (and, asked for with any seed, `logits`: those logits of every forward row, so no separate forward is
//   needed);
// - or a vector at a hook and position: `seed.<hook>.vector` [rows, D] and `seed.<hook>.at` [rows, T]
//   (1 at the row's position, 0 elsewhere, and 0 everywhere on rows that seed another hook).
// - or a vector at the unembedding's input (UNEMBED_INPUT: the final norm's output after its weight),
//   what circuit-tracer's logit targets read: the logit softcap is not part of them.
// The forward's batch is 1 (shared by every row) or `rows`. Gradients come out as `grad.<hook>`
// [rows, ...the hook's dims after batch].
//
// Contractions (attribution graphs' edges): for a hook in `contract`, the gradient [rows, T, D] is not
// an output; instead `edges.<hook>` [T, rows, N] = (gradient at each position) @ `contract.<hook>`
// [T, D, N], N vectors per position (the decoder rows and error vectors written there) — one batched
// MatMul in the graph instead of shipping every gradient out.
//
// Freezing (what attribution graphs linearise around): attention patterns, every norm's scale and the
// MLP outputs become constants taken from this same forward (torch's detach at the same points); a
// frozen MLP can keep a live linear skip path from a hook to its output (`skip.<layer>` [D, d_model]).
import { onnx } from 'onnx-proto';
import type { ModelSpec } from '../architectures/spec';
import { appendBackward } from './autodiff';
import { emitForward } from './forwardGraph';
import type { BuiltGraph } from './forwardGraph';
import { GraphBuilder } from './graphBuilder';

const F = onnx.TensorProto.DataType.FLOAT;

/** Seed name for the unembedding's input (the final norm's output, after its weight and bias). */
export const UNEMBED_INPUT = 'unembed.input';

export interface Freeze {
  attention: boolean;
  norms: boolean;
  mlp: boolean;
}

export interface GradientGraphOptions {
  /** Hooks whose gradients are outputs (`grad.<hook>`). */
  wrt: readonly string[];
  /** Seed with the logit metric (inputs `metric.*`, output `metric`). */
  metric: boolean;
  /** The metric's weights also take forward rows' softmax (input `metric.probs`; needs `metric`). */
  probs?: boolean;
  /** Also output the forward rows' last-position logits (`logits`, [B, d_vocab]; not differentiated). */
  logits?: boolean;
  /** Hooks seeded with a vector at a position (rank-3 hooks [batch, pos, D]). */
  seedHooks: readonly string[];
  freeze: Freeze;
  /** Frozen-MLP layers with a live skip path: gradient from the MLP output to `input` through `skip.<layer>`. */
  skips: ReadonlyArray<{ layer: number; input: string; dIn: number }>;
  /** Hooks taking interventions (x * keep + add), as in the forward graph. */
  interventions: ReadonlySet<string>;
  /** Hooks also returned from the forward. */
  activations: ReadonlySet<string>;
  /** Rank-3 hooks whose gradients are contracted in the graph (`contract.<hook>` → `edges.<hook>`). */
  contract?: readonly string[];
  /**
   * The frozen quantities are inputs (`frozen.*`, from captureFrozenState) instead of stop-gradients on a
   * full forward: the graph then never computes the MLPs, the attention scores or the norms' statistics,
   * so a run's fixed cost is about one row's; skip paths are ordinary ops of that forward (no links).
   * Needs every freeze flag.
   */
  frozenInputs?: boolean;
}

export function gradientOptionsKey(o: GradientGraphOptions): string {
  return JSON.stringify(['grad', [...o.wrt].sort(), o.metric, o.probs ?? false, o.logits ?? false, [...o.seedHooks].sort(), o.freeze, o.skips, [...o.interventions].sort(), [...o.activations].sort(), [...(o.contract ?? [])].sort(), o.frozenInputs ?? false]);
}

export function buildGradientGraph(spec: ModelSpec, o: GradientGraphOptions): BuiltGraph {
  const { config: c, weights: w } = spec;
  const g = new GraphBuilder(true);
  const fwd = emitForward(g, spec, {
    startLayer: 0,
    residInput: false,
    outputs: o.activations,
    interventions: o.interventions,
    logits: 'none',
    past: false,
    weightsAsInputs: true,
    // The final norm: what the metric reads, and its hooks may be seeded or differentiated.
    finalNorm: true,
    freezing: o.frozenInputs ? { mode: 'frozen', skips: o.skips } : undefined,
  });
  if (o.frozenInputs && !(o.freeze.attention && o.freeze.norms && o.freeze.mlp)) throw new Error('internal: frozen inputs need every freeze flag');
  const valueOf = (hook: string): string => {
    const v = hook === UNEMBED_INPUT ? fwd.finalNormOut : fwd.hooks.get(hook);
    if (!v) throw new Error(`internal: the forward graph has no value for ${hook}`);
    return v;
  };

  const seeds: Array<{ value: string; cotangent: string }> = [];
  const frozen = new Set<string>();
  let batchRef: string | null = null;
  let logits: string | undefined;
  if (o.metric || o.logits) {
    const xf = fwd.finalNormOut!;
    const last = g.op1('Slice', [xf, g.constI64([-1]), g.constI64([2 ** 62]), g.constI64([1])]);
    const rows = g.op1('Reshape', [last, g.constI64([0, -1])]); // [B, d]
    const gemmInputs = [rows, g.weight('W_U', w.W_U, [c.dVocab, c.dModel])];
    if (w.b_U) gemmInputs.push(g.weight('b_U', w.b_U, [c.dVocab]));
    logits = g.op1('Gemm', gemmInputs, { transB: 1 });
    if (c.finalSoftcap !== null) {
      const cap = g.constF([c.finalSoftcap], []);
      logits = g.op1('Mul', [g.op1('Tanh', [g.op1('Div', [logits, cap])]), cap]);
    }
    if (o.logits) {
      g.op1('Identity', [logits], {}, 'logits');
      g.output('logits');
    }
  }
  if (o.metric) {
    let weights = g.input('metric.weights', F, ['rows', c.dVocab]);
    if (o.probs) {
      const probs = g.op1('Softmax', [logits!], { axis: -1 });
      frozen.add(probs);
      weights = g.op1('Add', [weights, g.op1('MatMul', [g.input('metric.probs', F, ['rows', 'batch']), probs])]);
    }
    const lseWeight = g.input('metric.logsumexp', F, ['rows']);
    const axis = g.constI64([1]);
    const linear = g.op1('ReduceSum', [g.op1('Mul', [logits!, weights]), axis], { keepdims: 0 });
    const lse = g.op1('ReduceLogSumExp', [logits!, axis], { keepdims: 0 });
    const metric = g.op1('Sub', [linear, g.op1('Mul', [lse, lseWeight])], {}, 'metric');
    g.output('metric');
    seeds.push({ value: metric, cotangent: g.op1('Expand', [g.constF([1], []), g.op1('Shape', [metric])]) });
    batchRef = metric;
  }
  for (const hook of o.seedHooks) {
    const vector = g.input(`seed.${hook}.vector`, F, ['rows', `seed_${hook}_d`]);
    const at = g.input(`seed.${hook}.at`, F, ['rows', 'seq']);
    const cotangent = g.op1('Mul', [g.op1('Unsqueeze', [at, g.constI64([2])]), g.op1('Unsqueeze', [vector, g.constI64([1])])]);
    seeds.push({ value: valueOf(hook), cotangent });
    batchRef ??= cotangent;
  }
  if (!batchRef) throw new Error('internal: a gradient graph needs a seed');

  for (let l = 0; l < c.nLayers && !o.frozenInputs; l++) {
    if (o.freeze.attention) frozen.add(valueOf(`blocks.${l}.attn.hook_pattern`));
    if (o.freeze.mlp) frozen.add(fwd.mlpOut[l]!);
  }
  if (o.freeze.norms && !o.frozenInputs) for (const s of fwd.normScales) frozen.add(s);
  const links = (o.frozenInputs ? [] : o.skips).map((s) => ({
    from: valueOf(s.input),
    to: fwd.mlpOut[s.layer]!,
    weight: g.input(`skip.${s.layer}`, F, [s.dIn, c.dModel]),
  }));

  const contract = new Set(o.contract ?? []);
  appendBackward(g, {
    seeds,
    wrt: [...new Set([...o.wrt, ...contract])].map((h) => ({ value: valueOf(h), output: `grad.${h}`, internal: !o.wrt.includes(h) })),
    frozen,
    links,
    batchRef,
  });
  for (const h of contract) {
    const vectors = g.input(`contract.${h}`, F, ['seq', `contract_${h}_d`, `contract_${h}_n`]);
    g.op1('MatMul', [g.op1('Transpose', [`grad.${h}`], { perm: [1, 0, 2] }), vectors], {}, `edges.${h}`);
    g.output(`edges.${h}`);
  }
  return { bytes: g.build('mechlens_gradient'), weightInputs: g.weightInputs };
}
