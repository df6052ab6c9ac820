// Builds the transformer forward pass as an ONNX graph from a ModelSpec, with TransformerLens hook
// points as optional graph outputs and optional intervention inputs.
//
// Shape of a graph (one per ForwardOptions, built on demand and cached by the caller):
//   1. input: token ids [B, n] (startLayer 0) or the residual stream entering `startLayer` [B, n, d];
//      with `past`, each layer's cached keys/values [B, Hkv, P, dh] (positions start at P);
//   2. blocks startLayer..n_layers-1, each hook point passing through `hook()`, which applies an
//      intervention (x * keep + add, with `keep.<hook>` and `add.<hook>` fed per run) and/or exposes
//      the value as an output named after the hook;
//   3. final norm and unembedding at every position, only the last one, or none (`logits` [B * rows, d_vocab]).
// Weights are graph inputs by default, so every graph variant shares the one float32 copy the
// engine holds. Attention output is computed per head (hook_result) only when that hook is asked
// for; otherwise heads are concatenated and multiplied by W_O in one matmul.
import { onnx } from 'onnx-proto';
import type { ModelSpec, NormWeights } from '../architectures/spec';
import { rotaryInvFreq } from '../architectures/rope';
import { GraphBuilder } from './graphBuilder';
import { hookRank, localHookName } from '../hooks';
import type { WeightRef } from './graphBuilder';

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;

export interface ForwardOptions {
  /** First layer to run (n_layers = only the final norm and unembedding). */
  startLayer: number;
  /** Take `resid` (hook_resid_pre of startLayer) [B, n, d] as input instead of token ids. */
  residInput: boolean;
  /** Hook names to expose as outputs. */
  outputs: ReadonlySet<string>;
  /** Hook names that take intervention inputs `keep.<hook>` / `add.<hook>`. */
  interventions: ReadonlySet<string>;
  logits: 'all' | 'last' | 'none';
  /**
   * Instead of the full logits, per row of [batch * positions]: the top-k logits and their ids
   * (`top_values`, `top_indices` [N, k]), the log-sum-exp (`logsumexp` [N, 1]) for probabilities, and
   * for the token ids fed as `targets` [n_targets] their logits and ranks (`target_logits`,
   * `target_ranks` [N, n_targets]). Keeps a lens over a 50k vocabulary from shipping 40M numbers.
   */
  summary?: { topK: number };
  /** Key/value cache inputs `past.<l>.k|v` and outputs `present.<l>.k|v` (incremental decoding). */
  past: boolean;
  /** Build the final norm even without logits (a graph extending the forward reads it). */
  finalNorm?: boolean;
  /**
   * The graph will only see one position per row (a decoding step): matrix products are then
   * x · Wᵀ, which onnxruntime's CPU kernel computes as a matrix-vector product reading W in place,
   * instead of (W · xᵀ)ᵀ, which suits many positions (see `linear`). Results are the same either way.
   */
  onePosition?: boolean;
  weightsAsInputs: boolean;
  /**
   * The linearised model attribution graphs are about (circuit-tracer's constrained, fully frozen
   * model), as a forward: 'capture' exposes every quantity it freezes (`frozen.scale.<k>` for the k-th
   * norm in forward order, `frozen.pattern.<l>`, `frozen.mlp.<l>` the MLP module's raw output);
   * 'frozen' takes them as inputs of the same names instead of computing them, so the model is linear
   * in the residual stream. A frozen MLP may keep a live linear skip path from a hook of its layer:
   * `frozen.mlp.<l>` + (x − `frozen.skip_in.<l>`) @ `skip.<l>` [D, d_model], x the hook's value.
   */
  freezing?: { mode: 'capture' } | { mode: 'frozen'; skips: ReadonlyArray<{ layer: number; input: string; dIn: number }> };
}

export interface BuiltGraph {
  bytes: Uint8Array;
  weightInputs: WeightRef[];
}

/**
 * Where the forward pass's quantities live in the graph, for builders that extend it (the gradient
 * graph): every hook's value (whether or not it is exposed), and the values attribution freezes.
 */
export interface ForwardValues {
  /** Hook name -> the value flowing on after the hook (after any intervention). */
  hooks: Map<string, string>;
  /** Every norm's scale sqrt(mean(x²) + eps), including Gemma-2's post-norms (which have no hooks). */
  normScales: string[];
  /** By layer (from the start layer on): the MLP module's raw output, before mlp.hook_out's edits. */
  mlpOut: string[];
  /** The final norm's output after its weight and bias (what the unembedding reads), when built. */
  finalNormOut: string | null;
}

export function forwardOptionsKey(o: ForwardOptions): string {
  return JSON.stringify([o.startLayer, o.residInput, o.summary?.topK ?? 0, [...o.outputs].sort(), [...o.interventions].sort(), o.logits, o.past, o.weightsAsInputs, o.finalNorm ?? false, o.freezing ?? null, o.onePosition ?? false]);
}

export function buildForwardGraph(spec: ModelSpec, o: ForwardOptions): BuiltGraph {
  const g = new GraphBuilder(o.weightsAsInputs);
  emitForward(g, spec, o);
  return { bytes: g.build('mechlens_forward'), weightInputs: g.weightInputs };
}

/** Emits the forward pass into `g` and says where its quantities are. */
export function emitForward(g: GraphBuilder, spec: ModelSpec, o: ForwardOptions): ForwardValues {
  const { config: c, weights: w } = spec;
  const H = c.nHeads;
  const Hkv = c.nKvHeads;
  const dh = c.dHead;
  const d = c.dModel;
  const values: ForwardValues = { hooks: new Map(), normScales: [], mlpOut: [], finalNormOut: null };

  /** Applies an intervention and/or exposes a hook point; returns the value flowing on. */
  const hook = (name: string, x: string): string => {
    let y = x;
    if (o.interventions.has(name)) {
      const rank = hookRank(localHookName(name));
      const keep = g.input(`keep.${name}`, F, Array.from({ length: rank }, (_, i) => `keep_${name}_${i}`));
      const add = g.input(`add.${name}`, F, Array.from({ length: rank }, (_, i) => `add_${name}_${i}`));
      y = g.op1('Add', [g.op1('Mul', [y, keep]), add]);
    }
    if (o.outputs.has(name)) {
      g.expose(y, name);
      // When the producer was renamed, downstream nodes must read the hook's name.
      y = name;
    }
    values.hooks.set(name, y);
    return y;
  };

  // Frozen quantities (see ForwardOptions.freezing): exposed, or read from inputs instead of computed.
  const frozenMode = o.freezing?.mode;
  const freezePoint = (name: string, x: string, dims: Array<number | string>): string => {
    if (frozenMode === 'capture') {
      g.op1('Identity', [x], {}, name);
      g.output(name);
    }
    return frozenMode === 'frozen' ? g.input(name, F, dims) : x;
  };

  const axesLast = g.constI64([-1]);
  // TransformerLens' norm hooks: hook_scale = sqrt(mean(centred²) + eps), hook_normalized = centred /
  // scale, before the weight and bias (what transcoders trained through TransformerLens read).
  const norm = (x: string, nw: NormWeights, prefix: string, hookPrefix: string | null): string => {
    const eps = g.constF([c.normEps]);
    let centered = x;
    if (c.norm === 'layernorm') {
      const mean = g.op1('ReduceMean', [x, axesLast], { keepdims: 1 });
      centered = g.op1('Sub', [x, mean]);
    }
    const meanSq = g.op1('ReduceMean', [g.op1('Mul', [centered, centered]), axesLast], { keepdims: 1 });
    let scale = freezePoint(`frozen.scale.${values.normScales.length}`, g.op1('Sqrt', [g.op1('Add', [meanSq, eps])]), [1, 'seq', 1]);
    if (hookPrefix) scale = hook(`${hookPrefix}.hook_scale`, scale);
    values.normScales.push(scale);
    let normalized = g.op1('Div', [centered, scale]);
    if (hookPrefix) normalized = hook(`${hookPrefix}.hook_normalized`, normalized);
    const weight = c.normWeightOffset !== 0 ? nw.w.map((v) => Math.fround(v + c.normWeightOffset)) : nw.w;
    const y = g.op1('Mul', [normalized, g.weight(`${prefix}.w`, weight, [d])]);
    return nw.b ? g.op1('Add', [y, g.weight(`${prefix}.b`, nw.b, [d])]) : y;
  };

  /**
   * x @ Wᵀ (+ b) for x [B, n, in] and W stored [out, in]. For many positions it is computed as
   * (W · xᵀ)ᵀ: with the fed weight as the left operand onnxruntime's CPU kernel reads it in place, while
   * as the right operand it would re-pack all of W on every run, which at tens of tokens costs about as
   * much as the product (only the activations are packed and transposed here). For one position per row
   * the kernel's matrix-vector path for x · Wᵀ is faster still. The batch stays on axis 0 (autodiff.ts
   * relies on it).
   */
  const linear = (x: string, W: Float32Array, [inDim, outDim]: [number, number], name: string, b?: Float32Array): string => {
    const w = g.weight(name, W, [outDim, inDim]);
    let y: string;
    if (o.onePosition) {
      const rows = g.op1('Gemm', [g.op1('Reshape', [x, g.constI64([-1, inDim])]), w], { transB: 1 });
      y = g.op1('Reshape', [rows, g.constI64([-1, 1, outDim])]);
    } else {
      const xT = g.op1('Transpose', [x], { perm: [0, 2, 1] }); // [B, in, n]
      y = g.op1('Transpose', [g.op1('MatMul', [w, xT])], { perm: [0, 2, 1] });
    }
    if (b) y = g.op1('Add', [y, g.weight(`${name}.b`, b, [outDim])]);
    return y;
  };

  const activation = (x: string): string => {
    switch (c.activation) {
      case 'gelu_new':
      case 'gelu_tanh':
        return g.op1('Gelu', [x], { approximate: 'tanh' });
      case 'gelu':
        return g.op1('Gelu', [x]);
      case 'silu':
        return g.op1('Mul', [x, g.op1('Sigmoid', [x])]);
      case 'relu':
        return g.op1('Relu', [x]);
    }
  };

  // ---- inputs and positions
  let resid: string;
  let seqSource: string;
  if (o.startLayer > 0 && !o.residInput) throw new Error('internal: a graph starting after layer 0 needs resid input');
  if (!o.residInput) {
    seqSource = g.input('input_ids', I64, ['batch', 'seq']);
  } else {
    seqSource = g.input('resid', F, ['batch', 'seq', d]);
  }
  const shape = g.op1('Shape', [seqSource]);
  const batchDim = g.op1('Slice', [shape, g.constI64([0]), g.constI64([1])]);
  const seqLen = g.op1('Squeeze', [g.op1('Slice', [shape, g.constI64([1]), g.constI64([2])]), g.constI64([0])]);
  let pastLen = g.constI64([0], []);
  // A graph starting at a later layer (from its residual input) reads and returns the cache of its own layers.
  if (o.past && o.startLayer >= c.nLayers) throw new Error('internal: a key/value cache needs at least one layer');
  if (o.past) {
    // Positions continue after the cached ones: P = past_k.shape[2].
    const p0 = g.input(`past.${o.startLayer}.k`, F, ['batch', Hkv, 'past', dh]);
    pastLen = g.op1('Squeeze', [g.op1('Slice', [g.op1('Shape', [p0]), g.constI64([2]), g.constI64([3])]), g.constI64([0])]);
  }
  const totalLen = g.op1('Add', [pastLen, seqLen]);
  const one = g.constI64([1], []);
  const qPos = g.op1('Range', [pastLen, totalLen, one]); // [n]
  const kPos = g.op1('Range', [g.constI64([0], []), totalLen, one]); // [Tk]

  if (!o.residInput) {
    let embed = g.op1('Gather', [g.weight('W_E', w.W_E, [c.dVocab, d]), seqSource], { axis: 0 });
    embed = hook('hook_embed', embed);
    if (c.embedScale !== 1) embed = g.op1('Mul', [embed, g.constF([c.embedScale])]);
    if (c.positional === 'learned' && w.W_pos) {
      let pos = g.op1('Gather', [g.weight('W_pos', w.W_pos, [c.nCtx, d]), qPos], { axis: 0 }); // [n, d]
      pos = g.op1('Expand', [g.op1('Unsqueeze', [pos, g.constI64([0])]), g.op1('Concat', [batchDim, g.constI64([1, 1])], { axis: 0 })]);
      pos = hook('hook_pos_embed', pos);
      resid = g.op1('Add', [embed, pos]);
    } else {
      resid = embed;
    }
  } else {
    resid = seqSource;
  }

  // ---- attention masks [n, Tk]: causal, and causal within the sliding window
  const qCol = g.op1('Unsqueeze', [qPos, g.constI64([1])]);
  const kRow = g.op1('Unsqueeze', [kPos, g.constI64([0])]);
  const causal = g.op1('LessOrEqual', [kRow, qCol]);
  let sliding: string | null = null;
  if (c.slidingWindow !== null && c.slidingLayers.some((s) => s)) {
    const within = g.op1('Less', [g.op1('Sub', [qCol, kRow]), g.constI64([c.slidingWindow], [])]);
    sliding = g.op1('And', [causal, within]);
  }
  const negInf = g.constF([-Infinity], []);

  // ---- rotary tables [1, n, 1, rotaryDim]: one per base (Gemma-3's sliding layers have their own, unscaled)
  const r = c.rotaryDim;
  interface Rotary {
    cos: string;
    sin: string;
  }
  let rotateHalf: string | null = null;
  const rotaryTable = (invFreq: number[]): Rotary => {
    const posF = g.op1('Cast', [qPos], { to: F });
    const freqs = g.op1('Mul', [g.op1('Unsqueeze', [posF, g.constI64([1])]), g.constF(invFreq, [1, r / 2])]); // [n, r/2]
    const emb = g.op1('Concat', [freqs, freqs], { axis: 1 }); // [n, r]
    const emb4 = g.op1('Unsqueeze', [emb, g.constI64([0, 2])]); // [1, n, 1, r]
    return { cos: g.op1('Cos', [emb4]), sin: g.op1('Sin', [emb4]) };
  };
  let rotaryGlobal: Rotary | null = null;
  let rotaryLocal: Rotary | null = null;
  if (c.positional === 'rotary') {
    rotaryGlobal = rotaryTable(rotaryInvFreq(c.rotaryBase, r, c.ropeScaling));
    const local = c.rotaryBaseLocal ?? null;
    if (local !== null && c.slidingLayers.some((s) => s)) rotaryLocal = rotaryTable(rotaryInvFreq(local, r, null));
    // rotate_half(x) = cat(-x2, x1) as an exact signed permutation matrix: x @ R.
    const R = new Array<number>(r * r).fill(0);
    for (let i = 0; i < r / 2; i++) {
      R[(i + r / 2) * r + i] = -1;
      R[i * r + (i + r / 2)] = 1;
    }
    rotateHalf = g.constF(R, [r, r]);
  }
  const rope = (x: string, table: Rotary | null): string => {
    if (!table || !rotateHalf) return x;
    let rot = x;
    let pass: string | null = null;
    if (r < dh) {
      rot = g.op1('Slice', [x, g.constI64([0]), g.constI64([r]), g.constI64([3])]);
      pass = g.op1('Slice', [x, g.constI64([r]), g.constI64([dh]), g.constI64([3])]);
    }
    const rotated = g.op1('Add', [g.op1('Mul', [rot, table.cos]), g.op1('Mul', [g.op1('MatMul', [rot, rotateHalf]), table.sin])]);
    return pass ? g.op1('Concat', [rotated, pass], { axis: 3 }) : rotated;
  };
  // Qwen3 / Gemma-3: RMSNorm over each head's d_head values of q or k (no hooks; not frozen, since
  // attribution freezes the attention pattern that q and k only feed).
  const headNorm = (x: string, nw: NormWeights, name: string): string => {
    const meanSq = g.op1('ReduceMean', [g.op1('Mul', [x, x]), axesLast], { keepdims: 1 });
    const scale = g.op1('Sqrt', [g.op1('Add', [meanSq, g.constF([c.normEps])])]);
    const weight = c.normWeightOffset !== 0 ? nw.w.map((v) => Math.fround(v + c.normWeightOffset)) : nw.w;
    return g.op1('Mul', [g.op1('Div', [x, scale]), g.weight(name, weight, [dh])]);
  };

  for (let l = o.startLayer; l < c.nLayers; l++) {
    const lw = w.layers[l]!;
    const p = `blocks.${l}`;
    resid = hook(`${p}.hook_resid_pre`, resid);

    // ---- attention
    const x1 = norm(resid, lw.ln1, `${p}.ln1`, `${p}.ln1`);
    let q = g.op1('Reshape', [linear(x1, lw.W_Q, [d, H * dh], `${p}.W_Q`, lw.b_Q), g.constI64([0, 0, H, dh])]);
    let k = g.op1('Reshape', [linear(x1, lw.W_K, [d, Hkv * dh], `${p}.W_K`, lw.b_K), g.constI64([0, 0, Hkv, dh])]);
    let v = g.op1('Reshape', [linear(x1, lw.W_V, [d, Hkv * dh], `${p}.W_V`, lw.b_V), g.constI64([0, 0, Hkv, dh])]);
    q = hook(`${p}.attn.hook_q`, q);
    k = hook(`${p}.attn.hook_k`, k);
    v = hook(`${p}.attn.hook_v`, v);
    if (lw.qNorm) q = headNorm(q, lw.qNorm, `${p}.q_norm`);
    if (lw.kNorm) k = headNorm(k, lw.kNorm, `${p}.k_norm`);
    if (c.positional === 'rotary') {
      const table = c.slidingLayers[l] && rotaryLocal ? rotaryLocal : rotaryGlobal;
      q = hook(`${p}.attn.hook_rot_q`, rope(q, table));
      k = hook(`${p}.attn.hook_rot_k`, rope(k, table));
    }
    const perm = { perm: [0, 2, 1, 3] };
    const qT = g.op1('Transpose', [q], perm); // [B, H, n, dh]
    let kT = g.op1('Transpose', [k], perm); // [B, Hkv, n, dh]
    let vT = g.op1('Transpose', [v], perm);
    if (o.past) {
      const pk = l === o.startLayer ? `past.${l}.k` : g.input(`past.${l}.k`, F, ['batch', Hkv, 'past', dh]);
      const pv = g.input(`past.${l}.v`, F, ['batch', Hkv, 'past', dh]);
      kT = g.op1('Concat', [pk, kT], { axis: 2 }, `present.${l}.k`);
      vT = g.op1('Concat', [pv, vT], { axis: 2 }, `present.${l}.v`);
      g.output(`present.${l}.k`);
      g.output(`present.${l}.v`);
    }
    if (Hkv !== H) {
      // Grouped-query attention: each key/value head serves H / Hkv query heads.
      const expandTo = g.op1('Concat', [batchDim, g.constI64([Hkv, H / Hkv]), g.constI64([1, 1])], { axis: 0 });
      const rep = (t: string) => g.op1('Reshape', [g.op1('Expand', [g.op1('Unsqueeze', [t, g.constI64([2])]), expandTo]), g.constI64([0, H, -1, dh])]);
      kT = rep(kT);
      vT = rep(vT);
    }
    let scores = g.op1('Mul', [g.op1('MatMul', [qT, g.op1('Transpose', [kT], { perm: [0, 1, 3, 2] })]), g.constF([c.attnScale], [])]);
    if (c.attnSoftcap !== null) {
      const cap = g.constF([c.attnSoftcap], []);
      scores = g.op1('Mul', [g.op1('Tanh', [g.op1('Div', [scores, cap])]), cap]);
    }
    const mask = c.slidingLayers[l] && sliding ? sliding : causal;
    scores = hook(`${p}.attn.hook_attn_scores`, g.op1('Where', [mask, scores, negInf]));
    const pattern = hook(`${p}.attn.hook_pattern`, freezePoint(`frozen.pattern.${l}`, g.op1('Softmax', [scores], { axis: -1 }), [1, H, 'seq', 'seq']));
    const zT = g.op1('MatMul', [pattern, vT]); // [B, H, n, dh]
    const z = hook(`${p}.attn.hook_z`, g.op1('Transpose', [zT], perm)); // [B, n, H, dh]
    let attnOut: string;
    const resultName = `${p}.attn.hook_result`;
    if (o.outputs.has(resultName) || o.interventions.has(resultName)) {
      // W_O is [d, H*dh]; per head its transpose [H, dh, d].
      const WO = g.op1('Transpose', [g.op1('Reshape', [g.weight(`${p}.W_O`, lw.W_O, [d, H * dh]), g.constI64([d, H, dh])])], { perm: [1, 2, 0] });
      // From hook_z's value (not zT), so that an intervention on z and gradients through z reach it.
      const zHeads = g.op1('Transpose', [z], perm);
      const perHead = g.op1('Transpose', [g.op1('MatMul', [zHeads, WO])], perm); // [B, n, H, d]
      const result = hook(resultName, perHead);
      attnOut = g.op1('ReduceSum', [result, g.constI64([2])], { keepdims: 0 });
      if (lw.b_O) attnOut = g.op1('Add', [attnOut, g.weight(`${p}.W_O.b`, lw.b_O, [d])]);
    } else {
      attnOut = linear(g.op1('Reshape', [z, g.constI64([0, 0, H * dh])]), lw.W_O, [H * dh, d], `${p}.W_O`, lw.b_O);
    }
    if (lw.ln1Post) attnOut = norm(attnOut, lw.ln1Post, `${p}.ln1_post`, null);
    attnOut = hook(`${p}.hook_attn_out`, attnOut);

    // ---- MLP (reads the block input when the residual is parallel, as in GPT-NeoX)
    let mlpIn: string;
    if (c.parallelResidual) {
      mlpIn = resid;
    } else {
      resid = hook(`${p}.hook_resid_mid`, g.op1('Add', [resid, attnOut]));
      mlpIn = resid;
    }
    // mlp.hook_in / mlp.hook_out: the MLP module's own input and output (circuit-tracer's transcoder hooks).
    const x2 = hook(`${p}.mlp.hook_in`, norm(mlpIn, lw.ln2, `${p}.ln2`, `${p}.ln2`));
    let post: string;
    if (c.gatedMlp && lw.W_gate) {
      const pre = hook(`${p}.mlp.hook_pre`, linear(x2, lw.W_gate, [d, c.dMlp], `${p}.W_gate`));
      const lin = hook(`${p}.mlp.hook_pre_linear`, linear(x2, lw.W_in, [d, c.dMlp], `${p}.W_in`, lw.b_in));
      post = g.op1('Mul', [activation(pre), lin]);
    } else {
      const pre = hook(`${p}.mlp.hook_pre`, linear(x2, lw.W_in, [d, c.dMlp], `${p}.W_in`, lw.b_in));
      post = activation(pre);
    }
    post = hook(`${p}.mlp.hook_post`, post);
    let rawOut = freezePoint(`frozen.mlp.${l}`, linear(post, lw.W_out, [c.dMlp, d], `${p}.W_out`, lw.b_out), [1, 'seq', d]);
    const skip = o.freezing?.mode === 'frozen' ? o.freezing.skips.find((s) => s.layer === l) : undefined;
    if (skip) {
      const x = values.hooks.get(skip.input);
      if (!x) throw new Error(`internal: the skip path of layer ${l} reads ${skip.input}, which comes after the MLP`);
      const delta = g.op1('Sub', [x, g.input(`frozen.skip_in.${l}`, F, [1, 'seq', skip.dIn])]);
      rawOut = g.op1('Add', [rawOut, g.op1('MatMul', [delta, g.input(`skip.${l}`, F, [skip.dIn, d])])]);
    }
    values.mlpOut[l] = rawOut;
    let mlpOut = hook(`${p}.mlp.hook_out`, rawOut);
    if (lw.ln2Post) mlpOut = norm(mlpOut, lw.ln2Post, `${p}.ln2_post`, null);
    mlpOut = hook(`${p}.hook_mlp_out`, mlpOut);
    resid = c.parallelResidual ? g.op1('Add', [g.op1('Add', [mlpOut, attnOut]), resid]) : g.op1('Add', [resid, mlpOut]);
    resid = hook(`${p}.hook_resid_post`, resid);
  }

  // ---- final norm and unembedding
  if (o.logits !== 'none' || o.finalNorm || o.outputs.has('ln_final.hook_normalized') || o.outputs.has('ln_final.hook_scale')) {
    const xf = norm(resid, w.lnFinal, 'ln_final', 'ln_final');
    values.finalNormOut = xf;
    if (o.logits !== 'none') {
      const rows = o.logits === 'last' ? g.op1('Slice', [xf, g.constI64([-1]), g.constI64([2 ** 62]), g.constI64([1])]) : xf;
      const flat = g.op1('Reshape', [rows, g.constI64([-1, d])]);
      // W_U [d_vocab, d_model]: for a prompt's positions it is the Gemm's left operand, read in place (see
      // `linear`). With one row per prompt the kernel's matrix-vector path for x · Wᵀ is faster, and with
      // many rows (a lens summary: layers × positions) re-packing W_U costs little against the product
      // while a [vocab, rows] result would need a transpose as large as the logits.
      const WU = g.weight('W_U', w.W_U, [c.dVocab, d]);
      const bU = w.b_U ? g.weight('b_U', w.b_U, [c.dVocab]) : undefined;
      const wuLeft = o.logits === 'all' && !o.summary && !o.onePosition;
      // Full logits leave the graph as [rows, d_vocab], named at their producer: a Reshape to [B, n, d_vocab] as the
      // output would be a copy (onnxruntime does not alias a graph output; 196 MB at T = 1024 on GPT-2's vocabulary).
      const out = o.summary ? undefined : 'logits';
      const named = c.finalSoftcap === null ? out : undefined;
      let logits: string;
      if (wuLeft) {
        const perm = { perm: [1, 0] };
        const t = g.op1('Gemm', [WU, flat], { transB: 1 });
        logits = bU ? g.op1('Add', [g.op1('Transpose', [t], perm), bU], {}, named) : g.op1('Transpose', [t], perm, named);
      } else {
        logits = g.op1('Gemm', bU ? [flat, WU, bU] : [flat, WU], { transB: 1 }, named);
      }
      if (c.finalSoftcap !== null) {
        const cap = g.constF([c.finalSoftcap], []);
        logits = g.op1('Mul', [g.op1('Tanh', [g.op1('Div', [logits, cap])]), cap], {}, out);
      }
      if (o.summary) {
        g.op('TopK', [logits, g.constI64([Math.min(o.summary.topK, c.dVocab)])], { axis: -1 }, ['top_values', 'top_indices']);
        g.output('top_values');
        g.output('top_indices', I64);
        // log-sum-exp as max + log Σ exp(x - max): onnxruntime's ReduceLogSumExp is a scalar loop (4× slower on
        // a lens' 832 × 50257 logits) and sums in float32 without care (errors of 8e-5 against 2e-6 here).
        const max = g.op1('ReduceMax', [logits, g.constI64([-1])], { keepdims: 1 });
        const sumExp = g.op1('ReduceSum', [g.op1('Exp', [g.op1('Sub', [logits, max])]), g.constI64([-1])], { keepdims: 1 });
        g.op1('Add', [g.op1('Log', [sumExp]), max], {}, 'logsumexp');
        g.output('logsumexp');
        const targets = g.input('targets', I64, ['n_targets']);
        const targetLogits = g.op1('Gather', [logits, targets], { axis: 1 }, 'target_logits'); // [N, nT]
        g.output('target_logits');
        // rank = how many logits exceed the target's: compare [N, 1, V] with [N, nT, 1]. Counted in float32, exact
        // to 2^24 (SIZE_LIMITS.vocab is 2^22): an int64 count writes and sums twice the bytes through a
        // slower kernel (5× the time on a lens).
        const above = g.op1('Greater', [g.op1('Unsqueeze', [logits, g.constI64([1])]), g.op1('Unsqueeze', [targetLogits, g.constI64([2])])]);
        const count = g.op1('ReduceSum', [g.op1('Cast', [above], { to: F }), g.constI64([2])], { keepdims: 0 });
        g.op1('Cast', [count], { to: I64 }, 'target_ranks');
        g.output('target_ranks', I64);
      } else {
        g.output('logits');
      }
    }
  }
  return values;
}
