// Attribution graphs (Ameisen et al. 2025; circuit-tracer's `attribute`, see
// ../shared/design/attribution-graphs.md §1a): the direct effects between the active transcoder
// features, error nodes, token embeddings and logit targets of one prompt, through the model with its
// attention patterns, norm scales and MLP outputs frozen (linear in the residual stream).
//
// How it is computed here:
// - Setup: one forward caches each layer's transcoder input and output and the embeddings; the
//   transcoders encode the inputs (sparse: the active features), each output position's reconstruction
//   is the sum of the active decoder rows (scaled by the activations) + b_dec (+ the skip path), and the
//   error node holds what the reconstruction misses, so the replacement model is exact.
// - Rows: one backward per batch of targets (computeGradients over the frozen quantities captured once
//   for the prompt, fed as inputs: no run recomputes an MLP or an attention score), seeded
//   with a logit target's demeaned unembedding vector at the unembedding's input or a feature's encoder
//   row at its input hook. The edges to every source are contracted inside the graph: per layer and
//   position, the gradient at the output hook times each source's vector written there (decoder rows ·
//   activation, error vectors; the embeddings at hook_embed).
// - Order: logit rows first, then feature rows by estimated influence, re-ranked every `updateInterval`
//   batches, up to `maxFeatureNodes`. The estimate is circuit-tracer's partial influence, computed
//   here in one pass over the rows in layer order (the graph is layered, so that pass sums every path).
// - Cancellation: one onnxruntime run cannot be interrupted, so a batch whose backward would take long
//   (a big model, a long prompt) runs as several runs of bounded work (backwardRows) and the signal is
//   checked between them; a cancel is honoured within about one such run. The rows do not depend on
//   how they are grouped into runs.
import { transpose } from '../architectures/spec';
import { UserError, throwIfAborted } from '../errors';
import { BACKWARD_BUDGET, RunSizer, backwardRows, computeGradients } from '../gradients';
import type { HookSeed } from '../gradients';
import type { Model } from '../model';
import { UNEMBED_INPUT } from '../onnx/gradientGraph';
import { softmax } from '../../shared/logits';
import type { HookEdit } from '../interventions';
import { captureFrozenState } from './frozenModel';
import type { FeatureClamp } from './featureEdits';
import { TranscoderRunner } from './transcoders';
import type { TranscoderSet } from './transcoders';

export type AttributionTarget =
  | { kind: 'token'; token: number }
  | { kind: 'diff'; token: number; baseline: number }
  | { kind: 'direction'; label: string; vector: Float32Array; weight?: number };

export interface AttributionProgress {
  phase: 'setup' | 'logits' | 'features';
  done: number;
  total: number;
}

export interface AttributionOptions {
  /** Feature rows computed (and feature nodes kept), by estimated influence; default: every active feature. */
  maxFeatureNodes?: number;
  /** Salient logit targets: at most this many top logits (default 10) … */
  maxNLogits?: number;
  /** … the fewest whose cumulative probability reaches this (default 0.95). */
  desiredLogitProb?: number;
  /** Instead of salient logits: these targets. */
  targets?: readonly AttributionTarget[];
  /** Rows per batch (default 64): the unit of re-ranking; a batch may run as several bounded backward runs. */
  batchSize?: number;
  /** Work per backward run (default ATTRIBUTION_RUN_BUDGET; see backwardRows). */
  runBudget?: number;
  /** Batches between re-rankings of the pending features (default 4). */
  updateInterval?: number;
  /** One backward graph per batch's highest layer (default: when the model is big enough to gain from it). */
  groupByLayer?: boolean;
  /** Leading positions with no feature nodes and zero error (a BOS; circuit-tracer's zero_positions). */
  zeroPositions?: number;
  /**
   * Interventions as edits of the forward (x * keep + add at hooks; Model.compileEdits, batch 1): the graph
   * is then of the intervened run. Its forward, its frozen quantities and every backward run apply them,
   * so the edges are the direct effects in the intervened, linearised model. A source written at a hook
   * an edit replaces (keep 0) has no effect there: its vector is scaled by `keep`, and the error node
   * holds what the replacement misses of the edited value (the replacing constant included).
   */
  edits?: ReadonlyMap<string, HookEdit>;
  /**
   * Features the intervened run holds at a value (feature interventions; `edits` hold their adds of (value −
   * current) × decoder row, resolveFeatureClamps). Each is a node with `value` as its activation (none when 0)
   * and no incoming edges: its input no longer sets it. The reconstruction writes `value` × its decoder row, so
   * the error node keeps the transcoder's own miss and does not absorb the clamp.
   */
  clamps?: readonly FeatureClamp[];
  signal?: AbortSignal;
  onProgress?: (p: AttributionProgress) => void;
}

export interface LogitTarget {
  /** Vocabulary id; d_vocab + i for the i-th custom target (circuit-tracer's virtual ids). */
  tokenId: number;
  label: string;
  /** The model's probability of the token (custom targets: their weight). */
  prob: number;
  /** The direction attributed at the unembedding's input. */
  vector: Float32Array;
}

export interface Attribution {
  tokens: number[];
  nLayers: number;
  nPos: number;
  zeroPositions: number;
  /** Every active feature: (layer, position, feature index) triples, in (layer, position, index) order. */
  activeFeatures: Int32Array;
  /** Post-activation values of the active features. */
  activations: Float32Array;
  /** Indices into the active features of the feature nodes (the ones whose rows were computed), ascending. */
  selected: Int32Array;
  /** Indices into the active features of the clamped ones (opts.clamps; no incoming edges), ascending. */
  clamped: Int32Array;
  logitTargets: LogitTarget[];
  /** error[layer][pos * d + i]: output − reconstruction (zero at zero positions). */
  errorVectors: Float32Array[];
  /** The embeddings at hook_embed, [T, d]. */
  tokenVectors: Float32Array;
  /**
   * The graph's nodes in circuit-tracer's order: selected features, errors (layer-major, layer * T + pos),
   * tokens, logits; `adjacency` is dense [nNodes, nNodes], A[target, source].
   */
  nNodes: number;
  adjacency: Float32Array;
  stats: { activeFeatures: number; backwardRuns: number; rows: number; ms: { setup: number; rows: number; total: number } };
}

interface Write {
  column: number; // source column (an active feature, or an error)
  vector: Float32Array; // what it writes (scaled decoder row or error vector), length d
}

export async function attribute(model: Model, transcoders: TranscoderSet, tokens: number[], opts: AttributionOptions = {}): Promise<Attribution> {
  const t0 = performance.now();
  const c = model.config;
  const L = c.nLayers;
  const T = tokens.length;
  const d = c.dModel;
  const zeroPositions = opts.zeroPositions ?? 0;
  const batchSize = opts.batchSize ?? 64;
  const updateInterval = opts.updateInterval ?? 4;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`The batch size must be a positive integer (got ${batchSize}).`);
  if (!Number.isInteger(updateInterval) || updateInterval < 1) throw new UserError(`The update interval must be a positive integer (got ${updateInterval}).`);
  if (T <= zeroPositions) throw new UserError('The prompt has no tokens after its BOS: add some text.');
  if (transcoders.layers.length !== L) throw new UserError(`The transcoders have ${transcoders.layers.length} layers; the model has ${L}.`);
  model.checkTokens([tokens]);
  const inputHook = (l: number) => `blocks.${l}.${transcoders.inputHook}`;
  const outputHook = (l: number) => `blocks.${l}.${transcoders.outputHook}`;
  const progress = (phase: AttributionProgress['phase'], done: number, total: number) => opts.onProgress?.({ phase, done, total });
  const hasSkip = transcoders.layers.some((t) => t.W_skip);
  if (hasSkip && c.postNorms && transcoders.outputHook === 'hook_mlp_out') {
    throw new UserError('Skip transcoders writing hook_mlp_out after a post-MLP norm are not supported: their skip path would pass through the frozen norm. Use a set that writes mlp.hook_out.');
  }

  // ---- setup: activations, active features, reconstructions, errors
  progress('setup', 0, 1);
  const hooks = [...Array.from({ length: L }, (_, l) => inputHook(l)), ...Array.from({ length: L }, (_, l) => outputHook(l)), 'hook_embed'];
  const edits = opts.edits ?? new Map<string, HookEdit>();
  for (const [hook, e] of edits) if (e.shape[0] !== 1 || e.shape[1] !== T) throw new Error(`internal: the edit of ${hook} is shaped [${e.shape.join(', ')}], not for one prompt of ${T} tokens`);
  const fwd = await model.forward({ tokens: [tokens], hooks: hooks as never, logits: 'last', edits, signal: opts.signal });
  throwIfAborted(opts.signal);
  const inputs = Array.from({ length: L }, (_, l) => fwd.hooks.get(inputHook(l))!.data);
  const tokenVectors = fwd.hooks.get('hook_embed')!.data.slice();
  const lastLogits = fwd.logits!.data.subarray(fwd.logits!.data.length - c.dVocab);

  // Clamped activations by (layer, position), then feature index.
  const clampsAt = new Map<number, Map<number, number>>();
  for (const cl of opts.clamps ?? []) {
    if (cl.row !== 0 || cl.layer >= L || cl.position >= T) throw new Error(`internal: clamp of feature ${cl.layer}/${cl.index}@${cl.position} (row ${cl.row}) is outside the run`);
    if (cl.position < zeroPositions) continue; // no feature nodes there, and its error is zero
    const key = cl.layer * T + cl.position;
    if (!clampsAt.has(key)) clampsAt.set(key, new Map());
    clampsAt.get(key)!.set(cl.index, cl.value);
  }
  const active: number[] = [];
  const activationList: number[] = [];
  const clampedList: number[] = [];
  // The setup's steps check the signal between them (each is one run or a bounded loop).
  for (let l = 0; l < L; l++) {
    throwIfAborted(opts.signal);
    const layer = transcoders.layers[l]!;
    const runner = await TranscoderRunner.create(model.graphs, transcoders, layer, d);
    const acts = await runner.encode(inputs[l]!); // [T, d_tc]
    const n = layer.dTranscoder;
    for (let p = zeroPositions; p < T; p++) {
      const held = clampsAt.get(l * T + p);
      for (let f = 0; f < n; f++) {
        const c = held?.get(f);
        const a = c ?? acts[p * n + f]!;
        if (a !== 0) {
          if (c !== undefined) clampedList.push(activationList.length);
          active.push(l, p, f);
          activationList.push(a);
        }
      }
    }
  }
  const activeFeatures = Int32Array.from(active);
  const activations = Float32Array.from(activationList);
  const nActive = activations.length;
  const clamped = Int32Array.from(clampedList);
  const isClamped = new Uint8Array(nActive);
  for (const f of clamped) isClamped[f] = 1;

  // What is written at each (output layer, position): scaled decoder rows, then the error.
  const writes: Write[][] = Array.from({ length: L * T }, () => []);
  const recon = Array.from({ length: L }, (_, l) => {
    const r = new Float32Array(T * d);
    const b = transcoders.layers[l]!.b_dec;
    for (let p = 0; p < T; p++) r.set(b, p * d);
    return r;
  });
  for (let l = 0, start = 0; l < L; l++) {
    throwIfAborted(opts.signal);
    let end = start;
    while (end < nActive && activeFeatures[end * 3] === l) end++;
    const ids = Array.from({ length: end - start }, (_, i) => activeFeatures[(start + i) * 3 + 2]!);
    const rows = transcoders.decoderRows(l, ids);
    const nOut = transcoders.kind === 'cross_layer' ? L - l : 1;
    for (let i = 0; i < ids.length; i++) {
      const col = start + i;
      const p = activeFeatures[col * 3 + 1]!;
      const a = activations[col]!;
      for (let j = 0; j < nOut; j++) {
        const v = rows.slice((i * nOut + j) * d, (i * nOut + j + 1) * d);
        for (let k = 0; k < d; k++) v[k]! *= a;
        const out = l + j;
        writes[out * T + p]!.push({ column: col, vector: v });
        const r = recon[out]!;
        for (let k = 0; k < d; k++) r[p * d + k]! += v[k]!;
      }
    }
    start = end;
  }
  const errorVectors: Float32Array[] = [];
  const skips: Array<{ layer: number; input: string; weight: Float32Array }> = [];
  for (let l = 0; l < L; l++) {
    const skip = transcoders.layers[l]!.W_skip;
    const r = recon[l]!;
    if (skip) {
      const x = inputs[l]!;
      for (let p = 0; p < T; p++) {
        for (let i = 0; i < d; i++) {
          let s = 0;
          for (let k = 0; k < d; k++) s += x[p * d + k]! * skip[i * d + k]!;
          r[p * d + i]! += s;
        }
      }
      skips.push({ layer: l, input: inputHook(l), weight: transpose(skip, d, d) });
    }
    const out = fwd.hooks.get(outputHook(l))!.data;
    const err = new Float32Array(T * d);
    // The hook's value is the edited one: keep · (MLP output) + add; the replacement's share is keep · r.
    const keep = edits.get(outputHook(l))?.keep;
    for (let i = zeroPositions * d; i < T * d; i++) err[i] = out[i]! - (keep ? keep[i]! * r[i]! : r[i]!);
    errorVectors.push(err);
  }
  // What the features write passes through the output hook's edit (the gradients are of the edited value).
  for (let l = 0; l < L; l++) {
    const keep = edits.get(outputHook(l))?.keep;
    if (!keep) continue;
    for (let p = 0; p < T; p++) for (const w of writes[l * T + p]!) for (let k = 0; k < d; k++) w.vector[k]! *= keep[p * d + k]!;
  }
  const errorColumn = (l: number, p: number) => nActive + l * T + p;
  const tokenColumn = (p: number) => nActive + L * T + p;
  const nCols = nActive + L * T + T;

  // Contraction matrices, built once: per output layer [T, d, N] with N the most writes at a position + 1.
  const contractAll = new Map<string, { vectors: Float32Array; n: number; columns: Int32Array }>();
  for (let l = 0; l < L; l++) {
    throwIfAborted(opts.signal);
    let n = 1;
    for (let p = 0; p < T; p++) n = Math.max(n, writes[l * T + p]!.length + 1);
    const vectors = new Float32Array(T * d * n);
    const columns = new Int32Array(T * n).fill(-1);
    for (let p = 0; p < T; p++) {
      const list = [...writes[l * T + p]!, { column: errorColumn(l, p), vector: errorVectors[l]!.subarray(p * d, (p + 1) * d) }];
      list.forEach((w, j) => {
        columns[p * n + j] = w.column;
        for (let k = 0; k < d; k++) vectors[(p * d + k) * n + j] = w.vector[k]!;
      });
    }
    contractAll.set(outputHook(l), { vectors, n, columns });
  }
  contractAll.set('hook_embed', { vectors: tokenVectors, n: 1, columns: Int32Array.from({ length: T }, (_, p) => tokenColumn(p)) });
  // A batch whose targets read at layers ≤ m needs the backward from layer m down only, and sources
  // below layer m only (circuit-tracer runs each backward from the batch's highest layer). That takes
  // more graphs, each built once: worth it only when the rows' compute (about L · T · d_model²
  // multiply-adds each) dwarfs building them, not on a small model.
  const rowsEstimate = targetCount(opts) + Math.min(opts.maxFeatureNodes ?? Infinity, activations.length);
  const byLayer = opts.groupByLayer ?? L * T * d * d * rowsEstimate > 2e10;
  // Eight graphs at most (layers grouped in eighths; the top group shares the logits' graph): each graph
  // is a session holding its own memory, and a row still skips nearly all the work above it (on the
  // GPT-2-small shape, groups of 3 layers cost 17% more CPU time than one graph per layer).
  const step = Math.ceil(L / 8);
  const graphLayer = (m: number) => {
    const top = Math.ceil((m + 1) / step) * step - 1;
    return byLayer && top < L - 1 ? top : L;
  };
  const contractBelow = (m: number) => new Map([...contractAll].filter(([h]) => h === 'hook_embed' || Number(h.split('.')[1]) < m));
  const seedHooksUpTo = (m: number) => [...(m === L ? [UNEMBED_INPUT] : []), ...Array.from({ length: Math.min(m + 1, L) }, (_, l) => inputHook(l))];
  // The frozen quantities, fed to every backward run (no run recomputes the MLPs or attention scores).
  throwIfAborted(opts.signal);
  const frozen = await captureFrozenState(model, tokens, skips, edits);
  throwIfAborted(opts.signal); // no progress after a cancel
  const frozenSkips = skips.map((s) => ({ layer: s.layer, input: s.input, dIn: d }));
  progress('setup', 1, 1);
  const tSetup = performance.now();

  // ---- targets
  const logitTargets = chooseTargets(model, lastLogits, opts);
  const targetNodes = logitTargets.length;

  // ---- rows
  const rowData: Float32Array[] = []; // in computation order
  const rowNode: number[] = []; // -1 - i for logit target i, else the active feature's index
  let backwardRuns = 0;
  // Fewer rows a run on a busy machine (RunSizer), so a cancel still lands within about RUN_TARGET_MS.
  const sizer = new RunSizer();
  const runBatch = async (seeds: HookSeed[], nodes: number[], maxLayer: number) => {
    const perRun = backwardRows(c, T, graphLayer(maxLayer), opts.runBudget ?? ATTRIBUTION_RUN_BUDGET);
    for (let i = 0; i < seeds.length; ) {
      const n = sizer.rows(perRun);
      await sizer.time(Math.min(n, seeds.length - i), () => runRows(seeds.slice(i, i + n), nodes.slice(i, i + n), maxLayer));
      i += n;
    }
    throwIfAborted(opts.signal); // no progress after a cancel
  };
  const runRows = async (seeds: HookSeed[], nodes: number[], maxLayer: number) => {
    throwIfAborted(opts.signal);
    const contract = contractBelow(graphLayer(maxLayer));
    const r = await computeGradients(model, {
      tokens: [tokens],
      wrt: [],
      seeds,
      seedHooks: seedHooksUpTo(graphLayer(maxLayer)),
      freeze: { attention: true, norms: true, mlp: true },
      frozenInputs: { feeds: frozen.feeds, skips: frozenSkips.filter((s) => s.layer < graphLayer(maxLayer)) },
      edits,
      contract,
      signal: opts.signal,
    });
    backwardRuns++;
    const B = seeds.length;
    const rows = nodes.map(() => new Float32Array(nCols));
    for (const [h, { n, columns }] of contract) {
      const e = r.edges.get(h)!; // [T, B, N]
      for (let p = 0; p < T; p++) {
        for (let b = 0; b < B; b++) {
          const row = rows[b]!;
          const base = (p * B + b) * n;
          for (let j = 0; j < n; j++) {
            const col = columns[p * n + j]!;
            if (col >= 0) row[col]! += e[base + j]!;
          }
        }
      }
    }
    rows.forEach((row, i) => {
      rowData.push(row);
      rowNode.push(nodes[i]!);
    });
  };

  for (let i = 0; i < targetNodes; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, targetNodes - i) }, (_, k) => i + k);
    await runBatch(idx.map((t) => ({ hook: UNEMBED_INPUT, position: T - 1, vector: logitTargets[t]!.vector })), idx.map((t) => -1 - t), L);
    progress('logits', Math.min(i + batchSize, targetNodes), targetNodes);
  }

  const maxFeatures = Math.min(opts.maxFeatureNodes ?? nActive, nActive);
  const visited = new Uint8Array(nActive);
  let nVisited = 0;
  const layerOf = (f: number) => activeFeatures[f * 3]!;
  /** Feature rows for `queue`, in batches of features sorted by layer (each batch's backward as short as it can be). */
  const featureRows = async (queue: number[]) => {
    // A clamped feature's row is empty: nothing upstream moves it.
    for (const f of queue.filter((f) => isClamped[f])) {
      rowData.push(new Float32Array(nCols));
      rowNode.push(f);
      visited[f] = 1;
      nVisited++;
      progress('features', nVisited, maxFeatures);
    }
    const sorted = queue.filter((f) => !isClamped[f]).sort((a, b) => layerOf(b) - layerOf(a) || a - b);
    for (let i = 0; i < sorted.length; i += batchSize) {
      const ids = sorted.slice(i, i + batchSize);
      const seeds = ids.map((f) => {
        const l = layerOf(f);
        const idx = activeFeatures[f * 3 + 2]!;
        return { hook: inputHook(l), position: activeFeatures[f * 3 + 1]!, vector: transcoders.layers[l]!.W_enc.subarray(idx * d, (idx + 1) * d) };
      });
      await runBatch(seeds, ids, Math.max(...ids.map(layerOf)));
      for (const f of ids) visited[f] = 1;
      nVisited += ids.length;
      progress('features', nVisited, maxFeatures);
    }
  };
  if (maxFeatures === nActive) {
    await featureRows(Array.from({ length: nActive }, (_, f) => f));
  } else {
    while (nVisited < maxFeatures) {
      const influence = partialInfluence(rowData, rowNode, logitTargets, activeFeatures, nActive, L);
      const pending: number[] = [];
      for (let f = 0; f < nActive; f++) if (!visited[f]) pending.push(f);
      pending.sort((a, b) => influence[b]! - influence[a]! || a - b);
      await featureRows(pending.slice(0, Math.min(updateInterval * batchSize, maxFeatures - nVisited)));
    }
  }
  const tRows = performance.now();

  // ---- the dense adjacency over the graph's nodes
  const selected = Int32Array.from({ length: nActive }, (_, f) => f).filter((f) => visited[f]);
  const nSel = selected.length;
  const nNodes = nSel + L * T + T + targetNodes;
  const nodeOfColumn = new Int32Array(nCols).fill(-1);
  selected.forEach((f, i) => (nodeOfColumn[f] = i));
  for (let k = 0; k < L * T + T; k++) nodeOfColumn[nActive + k] = nSel + k;
  const selectedIndex = new Int32Array(nActive).fill(-1);
  selected.forEach((f, i) => (selectedIndex[f] = i));
  const adjacency = new Float32Array(nNodes * nNodes);
  rowData.forEach((row, r) => {
    const node = rowNode[r]!;
    const target = node < 0 ? nSel + L * T + T + (-1 - node) : selectedIndex[node]!;
    const base = target * nNodes;
    for (let col = 0; col < nCols; col++) {
      const v = row[col]!;
      const src = nodeOfColumn[col]!;
      if (v !== 0 && src >= 0) adjacency[base + src] = v;
    }
  });
  const tEnd = performance.now();
  return {
    tokens,
    nLayers: L,
    nPos: T,
    zeroPositions,
    activeFeatures,
    activations,
    selected,
    clamped,
    logitTargets,
    errorVectors,
    tokenVectors,
    nNodes,
    adjacency,
    stats: { activeFeatures: nActive, backwardRuns, rows: rowData.length, ms: { setup: tSetup - t0, rows: tRows - tSetup, total: tEnd - t0 } },
  };
}

/** Logit rows to come (an upper bound for salient targets). */
function targetCount(opts: AttributionOptions): number {
  return opts.targets && opts.targets.length > 0 ? opts.targets.length : (opts.maxNLogits ?? 10);
}

/**
 * Work per backward run of attribution rows (see backwardRows). The runs read the frozen quantities as
 * inputs, so a run's fixed cost is small, but not nothing: on the GPT-2-small shape at T = 16 this is
 * about 24 rows a run, some 0.1 s on this 2-core machine, within 10% of whole 64-row batches, where the
 * default budget (5 rows a run) is 1.4x slower.
 */
const ATTRIBUTION_RUN_BUDGET = 4 * BACKWARD_BUDGET;

/** The logit targets: salient (top logits to a cumulative probability) or the requested ones. */
function chooseTargets(model: Model, lastLogits: Float32Array, opts: AttributionOptions): LogitTarget[] {
  const c = model.config;
  const V = c.dVocab;
  const d = c.dModel;
  const W_U = model.spec.weights.W_U; // [V, d]
  const probs = softmax(lastLogits);
  const mean = new Float64Array(d);
  for (let v = 0; v < V; v++) for (let k = 0; k < d; k++) mean[k]! += W_U[v * d + k]!;
  for (let k = 0; k < d; k++) mean[k]! /= V;
  const demeaned = (t: number) => Float32Array.from({ length: d }, (_, k) => W_U[t * d + k]! - mean[k]!);
  const checkToken = (t: number) => {
    if (!Number.isInteger(t) || t < 0 || t >= V) throw new UserError(`Target token ${t} is outside the vocabulary (0..${V - 1}).`);
  };
  const text = (t: number) => model.tokenText(t);
  if (opts.targets && opts.targets.length > 0) {
    return opts.targets.map((t, i) => {
      switch (t.kind) {
        case 'token':
          checkToken(t.token);
          return { tokenId: t.token, label: text(t.token), prob: probs[t.token]!, vector: demeaned(t.token) };
        case 'diff': {
          checkToken(t.token);
          checkToken(t.baseline);
          if (t.token === t.baseline) throw new UserError('A logit difference needs two different tokens.');
          const vector = Float32Array.from({ length: d }, (_, k) => W_U[t.token * d + k]! - W_U[t.baseline * d + k]!);
          return { tokenId: V + i, label: `${text(t.token)} − ${text(t.baseline)}`, prob: 1, vector };
        }
        case 'direction':
          if (t.vector.length !== d) throw new UserError(`The target direction "${t.label}" has ${t.vector.length} entries; the model's d_model is ${d}.`);
          return { tokenId: V + i, label: t.label, prob: t.weight ?? 1, vector: t.vector };
      }
    });
  }
  const maxN = opts.maxNLogits ?? 10;
  const p = opts.desiredLogitProb ?? 0.95;
  if (!Number.isInteger(maxN) || maxN < 1) throw new UserError(`The number of logit targets must be a positive integer (got ${maxN}).`);
  if (!(p > 0 && p <= 1)) throw new UserError(`The logit probability must be in (0, 1] (got ${p}).`);
  const order = Array.from({ length: V }, (_, i) => i)
    .sort((a, b) => probs[b]! - probs[a]!)
    .slice(0, maxN);
  let cumulative = 0;
  let n = order.length;
  for (let i = 0; i < order.length; i++) {
    cumulative += probs[order[i]!]!;
    if (cumulative >= p) {
      n = i + 1;
      break;
    }
  }
  return order.slice(0, n).map((t) => ({ tokenId: t, label: text(t), prob: probs[t]!, vector: demeaned(t) }));
}

/**
 * circuit-tracer's `compute_partial_influences`: influence flowing from the logits (weighted by their
 * probabilities) through the rows computed so far, each row |A| normalised to sum 1. The series
 * prod ← prod[rows] · Â summed over iterations is, on a layered graph, one pass over the rows from the
 * top layer down: a row's influence is final once every row above it has been added.
 */
function partialInfluence(rows: Float32Array[], rowNode: number[], targets: LogitTarget[], activeFeatures: Int32Array, nActive: number, nLayers: number): Float64Array {
  const nCols = rows[0]?.length ?? 0;
  const influence = new Float64Array(nCols);
  const layerOfRow = (r: number) => (rowNode[r]! < 0 ? nLayers + 1 : activeFeatures[rowNode[r]! * 3]!);
  const order = rows.map((_, r) => r).sort((a, b) => layerOfRow(b) - layerOfRow(a));
  for (const r of order) {
    const node = rowNode[r]!;
    const weight = node < 0 ? targets[-1 - node]!.prob : influence[node]!;
    if (weight === 0) continue;
    const row = rows[r]!;
    let sum = 0;
    for (let i = 0; i < nCols; i++) sum += Math.abs(row[i]!);
    const scale = weight / Math.max(sum, 1e-8);
    for (let i = 0; i < nActive; i++) influence[i]! += Math.abs(row[i]!) * scale;
  }
  return influence;
}
