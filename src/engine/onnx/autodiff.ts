// Reverse-mode differentiation of a graph made with GraphBuilder. onnxruntime-node has no training
// API, so the engine writes backward graphs itself: `appendBackward` walks the nodes between the
// values whose gradients are wanted and the seeded values in reverse and appends, for each, the nodes
// of its vector-Jacobian product (VJP). It covers every op the forward builder emits on a
// differentiable path; anything else is refused by name, never silently given a zero gradient.
//
// Conventions:
// - Differentiated values are batch-first. The seeds' batch Bs may differ from the forward's when the
//   forward has batch 1: the forward is then computed once and every seed row shares it through
//   broadcasting (circuit-tracer's trick: one backward run computes many rows). A gradient therefore
//   has the shape [Bs, ...the value's shape after dim 0] and is never summed over the batch.
// - Frozen values are constants for differentiation (torch's `detach`): their own gradient exists (it
//   may be asked for) but does not flow on to what they were computed from.
// - Links are gradient-only linear paths, grad(from) += grad(to) @ Wᵀ with W [d_from, d_to]: a
//   transcoder's skip connection while the MLP output it adds to is frozen.
import type { onnx } from 'onnx-proto';
import type { GraphBuilder } from './graphBuilder';

export interface BackwardSpec {
  /** Values seeded with a cotangent (a value of shape [Bs, ...]); several seeds on one value add. */
  seeds: Array<{ value: string; cotangent: string }>;
  /** Values whose gradients are wanted, each named `output` and exposed as a graph output unless `internal`. */
  wrt: Array<{ value: string; output: string; internal?: boolean }>;
  frozen?: ReadonlySet<string>;
  links?: Array<{ from: string; to: string; weight: string }>;
  /** A value whose dim 0 is the seeds' batch Bs. */
  batchRef: string;
}

/** Ops whose outputs carry no gradient (shapes, comparisons, indices, positions). */
const NON_DIFFERENTIABLE = new Set(['Shape', 'Size', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Not', 'NonZero', 'Range', 'ArgMax', 'ConstantOfShape', 'Cos', 'Sin', 'Cast', 'TopK']);

const BIG = 2 ** 62;

export function appendBackward(g: GraphBuilder, spec: BackwardSpec): void {
  const nodes = [...g.nodeList];
  const frozen = spec.frozen ?? new Set<string>();
  const shapes = inferShapes(g, nodes);
  const linksTo = new Map<string, Array<{ from: string; weight: string }>>();
  for (const l of spec.links ?? []) linksTo.set(l.to, [...(linksTo.get(l.to) ?? []), l]);

  // Values whose gradient can reach a wanted one: the wanted values and everything computed from them
  // (not through a frozen value, a non-differentiable op, or only through a link's target).
  const live = new Set(spec.wrt.map((w) => w.value));
  for (const n of nodes) {
    if (NON_DIFFERENTIABLE.has(n.opType!)) continue;
    for (const o of n.output!) {
      if (live.has(o)) continue;
      const viaInputs = !frozen.has(o) && n.input!.some((i) => live.has(i));
      const viaLinks = (linksTo.get(o) ?? []).some((l) => live.has(l.from));
      if (viaInputs || viaLinks) live.add(o);
    }
  }

  const bs = g.op1('Slice', [g.op1('Shape', [spec.batchRef]), g.constI64([0]), g.constI64([1])]);
  const shapeNodes = new Map<string, string>();
  /** v's run-time shape (a Shape node, one per value). */
  const shapeOf = (v: string): string => {
    let s = shapeNodes.get(v);
    if (!s) shapeNodes.set(v, (s = g.op1('Shape', [v])));
    return s;
  };
  const targets = new Map<string, string>();
  /** The shape of v's gradient: [Bs, ...v's shape after dim 0]. */
  const target = (v: string): string => {
    let t = targets.get(v);
    if (!t) targets.set(v, (t = g.op1('Concat', [bs, g.op1('Slice', [shapeOf(v), g.constI64([1]), g.constI64([BIG])])], { axis: 0 })));
    return t;
  };
  /**
   * Sums the gradient of `out` (an op's output) over the axes where its input v was broadcast (v's dim 1
   * against a larger one). Decided when the graph is built where the static shapes tell (the common
   * case: nothing to sum, no copy made); otherwise at run time from the actual shapes. Axis 0 (the
   * batch) is never summed.
   */
  const sumToShape = (grad: string, v: string, out: string): string => {
    const vd = shapes.get(v)?.slice(1);
    const od = shapes.get(out)?.slice(1);
    if (vd && od && vd.length === od.length) {
      const axes: number[] = [];
      let known = true;
      for (let i = 0; i < vd.length; i++) {
        const [a, b] = [vd[i]!, od[i]!];
        if (a !== null && a !== 1) continue; // v's own dim: the output's equals it
        if (a === 1 && b === 1) continue;
        if (a === 1 && b !== null) axes.push(i + 1);
        else known = false;
      }
      if (known) return axes.length ? g.op1('ReduceSum', [grad, g.constI64(axes)], { keepdims: 1 }) : grad;
    }
    const differs = g.op1('Not', [g.op1('Equal', [target(v), g.op1('Shape', [grad])])]);
    const axes = g.op1('Reshape', [g.op1('NonZero', [differs]), g.constI64([-1])]);
    return g.op1('ReduceSum', [grad, axes], { keepdims: 1, noop_with_empty_axes: 1 });
  };
  const rankOf = (v: string): number => {
    const r = shapes.get(v)?.length;
    if (r === undefined) throw new Error(`internal: autodiff needs the rank of ${v}`);
    return r;
  };

  // A value's gradient is the sum of its contributions. Most have the gradient's full shape; a
  // reduction's VJP contributes its keepdims-shaped gradient (`partial`), which the sum broadcasts, so
  // no full-size Expand is made unless nothing else reaches the value.
  const contributions = new Map<string, Array<{ grad: string; partial: boolean }>>();
  const add = (v: string, grad: string, partial = false) => contributions.set(v, [...(contributions.get(v) ?? []), { grad, partial }]);
  const totals = new Map<string, string>();
  const total = (v: string): string | undefined => {
    const done = totals.get(v);
    if (done) return done;
    const parts = contributions.get(v);
    if (!parts?.length) return undefined;
    const grads = parts.map((p) => p.grad);
    let t = grads.length === 1 ? grads[0]! : g.op1('Sum', grads);
    if (parts.every((p) => p.partial)) t = g.op1('Expand', [t, target(v)]);
    totals.set(v, t);
    return t;
  };
  for (const s of spec.seeds) add(s.value, s.cotangent);

  for (let idx = nodes.length - 1; idx >= 0; idx--) {
    const n = nodes[idx]!;
    const outs = n.output!;
    if (!outs.some((o) => live.has(o))) continue;
    const gy = outs.map((o) => total(o));
    if (gy.every((x) => x === undefined)) continue;
    for (const [k, o] of outs.entries()) {
      for (const l of linksTo.get(o) ?? []) {
        if (live.has(l.from) && gy[k]) add(l.from, matmulTransposed(g, gy[k], l.weight, target(l.from)));
      }
    }
    if (outs.every((o) => frozen.has(o)) || NON_DIFFERENTIABLE.has(n.opType!)) continue;
    const inputs = n.input!;
    const wants = inputs.map((i) => live.has(i));
    if (!wants.some((w) => w)) continue;
    if (outs.length !== 1) throw new Error(`internal: autodiff does not differentiate ${n.opType} (several outputs)`);
    const dy = gy[0]!;
    const y = outs[0]!;
    const x = inputs[0]!;
    // Binary ops: with one input live, the other is a parameter broadcast into it (a bias, a norm
    // weight, a constant, an intervention's keep), so the gradient already has the live input's shape;
    // with both live they may differ (a norm's [B, T, 1] scale against [B, T, d]) and are reduced.
    const bothLive = wants[0] && wants[1] && inputs[0] !== inputs[1];
    const reduced = (grad: string, v: string) => (bothLive ? sumToShape(grad, v, y) : grad);
    const give = (i: number, grad: () => string, partial = false) => {
      if (wants[i]) add(inputs[i]!, grad(), partial);
    };
    const attrs = readAttributes(n);
    switch (n.opType) {
      case 'Identity':
        give(0, () => dy);
        break;
      case 'Add':
        give(0, () => reduced(dy, inputs[0]!));
        give(1, () => reduced(dy, inputs[1]!));
        break;
      case 'Sub':
        give(0, () => reduced(dy, inputs[0]!));
        give(1, () => g.op1('Neg', [reduced(dy, inputs[1]!)])); // reduce first: Neg on the smaller tensor
        break;
      case 'Mul':
        if (inputs[0] === inputs[1]) {
          give(0, () => g.op1('Mul', [g.op1('Mul', [dy, x]), g.constF([2], [])]));
          break;
        }
        give(0, () => reduced(g.op1('Mul', [dy, inputs[1]!]), inputs[0]!));
        give(1, () => reduced(g.op1('Mul', [dy, inputs[0]!]), inputs[1]!));
        break;
      case 'Div':
        give(0, () => reduced(g.op1('Div', [dy, inputs[1]!]), inputs[0]!));
        // d(a/b)/db = -(a/b)/b
        give(1, () => reduced(g.op1('Neg', [g.op1('Div', [g.op1('Mul', [dy, y]), inputs[1]!])]), inputs[1]!));
        break;
      case 'Neg':
        give(0, () => g.op1('Neg', [dy]));
        break;
      case 'Sqrt':
        give(0, () => g.op1('Div', [dy, g.op1('Mul', [y, g.constF([2], [])])]));
        break;
      case 'Exp':
        give(0, () => g.op1('Mul', [dy, y]));
        break;
      case 'Tanh':
        give(0, () => g.op1('Mul', [dy, g.op1('Sub', [g.constF([1], []), g.op1('Mul', [y, y])])]));
        break;
      case 'Sigmoid':
        give(0, () => g.op1('Mul', [dy, g.op1('Mul', [y, g.op1('Sub', [g.constF([1], []), y])])]));
        break;
      case 'Relu':
        give(0, () => g.op1('Where', [g.op1('Greater', [x, g.constF([0], [])]), dy, g.constF([0], [])]));
        break;
      case 'Gelu':
        give(0, () => g.op1('Mul', [dy, geluDerivative(g, x, attrs.get('approximate') === 'tanh')]));
        break;
      case 'Softmax': {
        const axis = numberAttr(attrs, 'axis', -1);
        give(0, () => {
          const dot = g.op1('ReduceSum', [g.op1('Mul', [dy, y]), g.constI64([axis])], { keepdims: 1 });
          return g.op1('Mul', [y, g.op1('Sub', [dy, dot])]);
        });
        break;
      }
      case 'Where':
        give(1, () => g.op1('Where', [inputs[0]!, dy, g.constF([0], [])]));
        give(2, () => g.op1('Where', [inputs[0]!, g.constF([0], []), dy]));
        break;
      case 'MatMul': {
        const [a, b] = [inputs[0]!, inputs[1]!];
        const bDims = g.dimsOf(b);
        if (wants[0]) {
          if (bDims?.length === 2 && !wants[1]) add(a, matmulTransposed(g, dy, b, target(a)));
          else add(a, g.op1('MatMul', [dy, g.op1('Transpose', [b], { perm: swapLast(rankOf(b)) })]));
        }
        if (wants[1]) {
          const aDims = g.dimsOf(a);
          // A 2-D weight on the left (W · xᵀ, forwardGraph's linear): (dyᵀ · W)ᵀ reads W as stored, where
          // Wᵀ · dy would transpose all of W on every run.
          if (aDims?.length === 2 && !wants[0]) add(b, g.op1('Transpose', [g.op1('MatMul', [g.op1('Transpose', [dy], { perm: swapLast(rankOf(b)) }), a])], { perm: swapLast(rankOf(b)) }));
          else add(b, g.op1('MatMul', [g.op1('Transpose', [a], { perm: swapLast(rankOf(a)) }), dy]));
        }
        break;
      }
      case 'Gemm': {
        if (numberAttr(attrs, 'transA', 0) !== 0 || numberAttr(attrs, 'alpha', 1) !== 1) throw new Error('internal: autodiff supports Gemm without transA and alpha');
        if (wants[2]) throw new Error('internal: autodiff does not differentiate a Gemm in its bias');
        const [a, b] = [inputs[0]!, inputs[1]!];
        const transB = numberAttr(attrs, 'transB', 0) !== 0;
        // y = a·bᵀ: da = dy·b, db = dyᵀ·a; y = a·b: da = dy·bᵀ, db = aᵀ·dy. A fed weight stays an
        // operand read as it is stored (no transposed copy).
        give(0, () => (transB ? g.op1('MatMul', [dy, b]) : g.op1('Gemm', [dy, b], { transB: 1 })));
        give(1, () => (transB ? g.op1('Gemm', [dy, a], { transA: 1 }) : g.op1('Gemm', [a, dy], { transA: 1 })));
        break;
      }
      case 'Reshape':
      case 'Squeeze':
      case 'Unsqueeze':
        give(0, () => g.op1('Reshape', [dy, target(x)]));
        break;
      case 'Transpose': {
        const perm = attrs.get('perm') as number[];
        const inverse = perm.map((_, i) => perm.indexOf(i));
        give(0, () => g.op1('Transpose', [dy], { perm: inverse }));
        break;
      }
      case 'Expand':
        if (rankOf(x) !== rankOf(y)) throw new Error('internal: autodiff supports Expand without new axes');
        give(0, () => sumToShape(dy, x, y));
        break;
      case 'ReduceSum':
      case 'ReduceMean':
      case 'ReduceLogSumExp': {
        const axesValues = inputs[1] ? g.constValues(inputs[1]) : undefined;
        if (!axesValues) throw new Error(`internal: autodiff needs constant axes on ${n.opType}`);
        const r = rankOf(x);
        const axes = g.constI64(axesValues.map((a) => (a < 0 ? a + r : a)));
        const keep = numberAttr(attrs, 'keepdims', 1) === 1;
        const dyk = keep ? dy : g.op1('Unsqueeze', [dy, axes]);
        if (n.opType === 'ReduceSum') give(0, () => dyk, true);
        else if (n.opType === 'ReduceMean') {
          give(0, () => g.op1('Div', [dyk, g.op1('Cast', [g.op1('ReduceProd', [g.op1('Gather', [shapeOf(x), axes], { axis: 0 })], { keepdims: 0 })], { to: 1 })]), true);
        } else {
          give(0, () => g.op1('Mul', [dyk, g.op1('Exp', [g.op1('Sub', [x, keep ? y : g.op1('Unsqueeze', [y, axes])])])]));
        }
        break;
      }
      case 'Slice':
        give(0, () => sliceVjp(g, n, dy, shapeOf(x)));
        break;
      case 'Concat': {
        const axis = numberAttr(attrs, 'axis', 0);
        let start = g.constI64([0]);
        for (const [i, v] of inputs.entries()) {
          const size = g.op1('Gather', [shapeOf(v), g.constI64([axis])], { axis: 0 });
          const end = g.op1('Add', [start, size]);
          const from = start;
          give(i, () => g.op1('Slice', [dy, from, end, g.constI64([axis])]));
          start = end;
        }
        break;
      }
      default:
        throw new Error(`internal: autodiff has no vector-Jacobian product for ${n.opType}`);
    }
  }

  for (const w of spec.wrt) {
    const grad = total(w.value) ?? g.op1('Expand', [g.constF([0], []), target(w.value)]);
    g.op1('Identity', [grad], {}, w.output);
    if (!w.internal) g.output(w.output);
  }
}

/** grad @ Wᵀ for a 2-D W [k_in, k_out] and a gradient [..., k_out], through Gemm (no transposed copy of W). */
function matmulTransposed(g: GraphBuilder, grad: string, weight: string, targetShape: string): string {
  const dims = g.dimsOf(weight);
  const kOut = dims?.[1];
  if (typeof kOut !== 'number') throw new Error(`internal: autodiff needs the static dims of ${weight}`);
  const flat = g.op1('Reshape', [grad, g.constI64([-1, kOut])]);
  return g.op1('Reshape', [g.op1('Gemm', [flat, weight], { transB: 1 }), targetShape]);
}

function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return perm;
}

/** d gelu(x) / dx, exact (erf) or with GPT-2's tanh approximation. */
function geluDerivative(g: GraphBuilder, x: string, tanh: boolean): string {
  const c = (v: number) => g.constF([v], []);
  if (!tanh) {
    // Φ(x) + x φ(x)
    const cdf = g.op1('Mul', [c(0.5), g.op1('Add', [c(1), g.op1('Erf', [g.op1('Mul', [x, c(Math.SQRT1_2)])])])]);
    const pdf = g.op1('Mul', [c(1 / Math.sqrt(2 * Math.PI)), g.op1('Exp', [g.op1('Mul', [c(-0.5), g.op1('Mul', [x, x])])])]);
    return g.op1('Add', [cdf, g.op1('Mul', [x, pdf])]);
  }
  // gelu = 0.5 x (1 + t), t = tanh(k (x + 0.044715 x³)), k = sqrt(2/π)
  const k = Math.sqrt(2 / Math.PI);
  const x2 = g.op1('Mul', [x, x]);
  const inner = g.op1('Mul', [c(k), g.op1('Add', [x, g.op1('Mul', [c(0.044715), g.op1('Mul', [x2, x])])])]);
  const t = g.op1('Tanh', [inner]);
  const dInner = g.op1('Mul', [c(k), g.op1('Add', [c(1), g.op1('Mul', [c(3 * 0.044715), x2])])]);
  const sech2 = g.op1('Sub', [c(1), g.op1('Mul', [t, t])]);
  return g.op1('Add', [g.op1('Mul', [c(0.5), g.op1('Add', [c(1), t])]), g.op1('Mul', [g.op1('Mul', [c(0.5), x]), g.op1('Mul', [sech2, dInner])])]);
}

/** The gradient of a Slice (constant starts/ends/axes, step 1): the slice's gradient padded with zeros. */
function sliceVjp(g: GraphBuilder, n: onnx.INodeProto, dy: string, xShape: string): string {
  const [, startsName, endsName, axesName, stepsName] = n.input!;
  const starts = g.constValues(startsName!);
  const ends = g.constValues(endsName!);
  const axes = axesName ? g.constValues(axesName) : starts?.map((_, i) => i);
  const steps = stepsName ? g.constValues(stepsName) : undefined;
  if (!starts || !ends || !axes || (steps && steps.some((s) => s !== 1))) throw new Error('internal: autodiff supports Slice with constant starts, ends, axes and step 1');
  const zero = g.constI64([0]);
  const before: string[] = [];
  const after: string[] = [];
  for (const [i, axis] of axes.entries()) {
    const dim = g.op1('Gather', [xShape, g.constI64([axis])], { axis: 0 });
    // The clamped bound as Slice resolves it: negative counts from the end, beyond the end is the end.
    const bound = (v: number) => (v < 0 ? g.op1('Max', [g.op1('Add', [dim, g.constI64([v])]), zero]) : g.op1('Min', [g.constI64([Math.min(v, BIG)]), dim]));
    const s = bound(starts[i]!);
    const e = g.op1('Max', [bound(ends[i]!), s]);
    before.push(s);
    after.push(g.op1('Sub', [dim, e]));
  }
  const pads = g.op1('Concat', [...before, ...after], { axis: 0 });
  return g.op1('Pad', [dy, pads, '', g.constI64(axes)]);
}

type Attr = number | string | number[];

function readAttributes(n: onnx.INodeProto): Map<string, Attr> {
  const out = new Map<string, Attr>();
  for (const a of n.attribute ?? []) {
    if (a.ints && a.ints.length) out.set(a.name!, a.ints.map(Number));
    else if (a.s && a.s.length) out.set(a.name!, new TextDecoder().decode(a.s));
    else if (a.f !== undefined && a.f !== null && a.type === 1) out.set(a.name!, a.f);
    else if (a.i !== undefined && a.i !== null) out.set(a.name!, Number(a.i));
  }
  return out;
}

function numberAttr(attrs: Map<string, Attr>, name: string, fallback: number): number {
  const v = attrs.get(name);
  return typeof v === 'number' ? v : fallback;
}

/**
 * A dim known at graph-build time: a number, a symbol shared by equal dims (a graph input's named dim,
 * e.g. 'seq'), or null when unknown.
 */
type Dim = number | string | null;

/**
 * Static shapes of the graph's values, as far as they can be known without running it: enough to give
 * every value's rank and to decide most broadcast reductions when the graph is built.
 */
function inferShapes(g: GraphBuilder, nodes: readonly onnx.INodeProto[]): Map<string, Dim[]> {
  const shapes = new Map<string, Dim[]>();
  const dimsOf = (v: string): Dim[] | undefined => {
    if (!shapes.has(v)) {
      const d = g.dimsOf(v);
      if (d) shapes.set(v, [...d]);
    }
    return shapes.get(v);
  };
  const broadcast = (all: Dim[][]): Dim[] => {
    const r = Math.max(...all.map((d) => d.length));
    return Array.from({ length: r }, (_, i) => {
      // Aligned from the right; a missing leading axis counts as 1 (not `?? 1`: null means unknown).
      const ds = all.map((d) => (d.length - r + i < 0 ? 1 : d[d.length - r + i]!)).filter((x) => x !== 1);
      if (ds.length === 0) return 1;
      // In a valid graph every dim that is not 1 is the result's: an unknown one is 1 or equals the known ones.
      const known = ds.filter((x) => x !== null);
      if (known.length === 0) return null;
      return known.every((x) => x === known[0]) ? known[0]! : (known.find((x) => typeof x === 'number') ?? null);
    });
  };
  const consts = (v: string | undefined) => (v ? g.constValues(v) : undefined);
  for (const n of nodes) {
    const ins = n.input!.map((i) => (i ? dimsOf(i) : undefined));
    const x = ins[0];
    const attrs = readAttributes(n);
    let out: Dim[] | undefined;
    const all = ins.filter((d): d is Dim[] => d !== undefined);
    switch (n.opType) {
      case 'Shape':
        out = x ? [x.length] : undefined;
        break;
      case 'Range':
        out = [null];
        break;
      case 'NonZero':
        out = x ? [x.length, null] : undefined;
        break;
      case 'Reshape': {
        const target = consts(n.input![1]);
        if (target && x) out = target.map((t, i) => (t === 0 ? x[i]! : t === -1 ? null : t));
        else {
          const len = ins[1]?.[0];
          out = typeof len === 'number' ? new Array<Dim>(len).fill(null) : undefined;
        }
        break;
      }
      case 'Expand': {
        const target = consts(n.input![1]);
        const len = ins[1]?.[0];
        if (x && target) out = broadcast([x, target]);
        else if (x && typeof len === 'number') out = broadcast([x, new Array<Dim>(len).fill(null)]);
        break;
      }
      case 'Transpose': {
        const perm = attrs.get('perm') as number[] | undefined;
        out = x && perm ? perm.map((p) => x[p]!) : x?.slice().reverse();
        break;
      }
      case 'Slice': {
        const starts = consts(n.input![1]);
        const ends = consts(n.input![2]);
        const axes = consts(n.input![3]) ?? starts?.map((_, i) => i);
        if (x && starts && ends && axes) {
          out = x.slice();
          for (const [i, axis0] of axes.entries()) {
            const axis = axis0 < 0 ? axis0 + x.length : axis0;
            const dim = x[axis]!;
            const [st, en] = [starts[i]!, ends[i]!];
            if (typeof dim === 'number') {
              const clamp = (v: number) => (v < 0 ? Math.max(v + dim, 0) : Math.min(v, dim));
              out[axis] = Math.max(0, clamp(en) - clamp(st));
            } else if (st < 0 && en >= BIG) out[axis] = -st; // the last -st entries (the dim holds at least that many)
            else if (st >= 0 && en < BIG && en >= 0) out[axis] = Math.max(0, en - st);
            else out[axis] = null;
          }
        }
        break;
      }
      case 'Concat': {
        const axis0 = numberAttr(attrs, 'axis', 0);
        if (all.length === ins.length && x) {
          const axis = axis0 < 0 ? axis0 + x.length : axis0;
          out = x.slice();
          const parts = all.map((d) => d[axis]);
          out[axis] = parts.every((p) => typeof p === 'number') ? (parts as number[]).reduce((a, b) => a + b, 0) : null;
        }
        break;
      }
      case 'Gather': {
        const axis = numberAttr(attrs, 'axis', 0);
        if (x && ins[1]) out = [...x.slice(0, axis), ...ins[1], ...x.slice(axis + 1)];
        break;
      }
      case 'Squeeze': {
        const axes = consts(n.input![1]);
        if (x && axes) out = x.filter((_, i) => !axes.some((a) => (a < 0 ? a + x.length : a) === i));
        break;
      }
      case 'Unsqueeze': {
        const axes = consts(n.input![1]);
        if (x && axes) {
          const r = x.length + axes.length;
          const at = new Set(axes.map((a) => (a < 0 ? a + r : a)));
          const rest = x.slice();
          out = Array.from({ length: r }, (_, i) => (at.has(i) ? 1 : rest.shift()!));
        }
        break;
      }
      case 'ReduceSum':
      case 'ReduceMean':
      case 'ReduceLogSumExp':
      case 'ReduceProd': {
        const axes = consts(n.input![1]);
        if (x && axes) {
          const at = new Set(axes.map((a) => (a < 0 ? a + x.length : a)));
          out = numberAttr(attrs, 'keepdims', 1) === 1 ? x.map((d, i) => (at.has(i) ? 1 : d)) : x.filter((_, i) => !at.has(i));
        } else if (x && numberAttr(attrs, 'keepdims', 1) === 1) out = x.map(() => null);
        break;
      }
      case 'Gemm': {
        const [a, b] = [x, ins[1]];
        if (a && b) out = [numberAttr(attrs, 'transA', 0) ? a[1]! : a[0]!, numberAttr(attrs, 'transB', 0) ? b[0]! : b[1]!];
        break;
      }
      case 'MatMul': {
        const [a, b] = [x, ins[1]];
        if (a && b && a.length >= 2 && b.length >= 2) out = [...broadcast([a.slice(0, -2), b.slice(0, -2)]), a.at(-2)!, b.at(-1)!];
        break;
      }
      case 'TopK':
        out = x ? [...x.slice(0, -1), null] : undefined;
        break;
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'Where':
      case 'Equal':
      case 'Less':
      case 'LessOrEqual':
      case 'Greater':
      case 'And':
      case 'Max':
      case 'Min':
      case 'Sum':
        out = all.length === ins.length ? broadcast(all) : undefined;
        break;
      default:
        out = x?.slice(); // elementwise: Identity, Cast, Gelu, Relu, Sigmoid, Tanh, Sqrt, Softmax, Cos, Sin, ...
    }
    if (out) for (const o of n.output!) shapes.set(o, out);
  }
  return shapes;
}
