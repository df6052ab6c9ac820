// Attribution graphs against circuit-tracer's exactness test (tests/test_attributions_gemma.py; design
// note §1f): on the fully frozen model — run here as an ordinary forward graph with the frozen quantities
// fed in, not through the backward graphs that computed the edges — adding one more copy of a source
// (an error vector, a token embedding, a feature's scaled decoder row) moves every active feature's
// pre-activation and every demeaned logit target by that source's adjacency column.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { attribute } from '../../src/engine/attribution/attribute';
import { attributionPrompt, graphInterventions } from '../../src/engine/attribution/graph';
import type { Attribution } from '../../src/engine/attribution/attribute';
import { captureFrozenState, runFrozen } from '../../src/engine/attribution/frozenModel';
import { loadTranscoders } from '../../src/engine/attribution/transcoders';
import type { TranscoderSet } from '../../src/engine/attribution/transcoders';
import type { HookEdit } from '../../src/engine/interventions';
import { Model } from '../../src/engine/model';
import { computeGradients } from '../../src/engine/gradients';
import { softmax } from '../../src/shared/logits';
import type { Intervention } from '../../src/shared/interventions';
import { DEFAULT_MODEL, fixture, readGolden } from '../support/fixtures';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { writeCrossLayerTranscoders, writeJumpReluTranscoders, writeTopKSkipTranscoders } from '../support/transcoderFixtures';
import type { WrittenSet } from '../support/transcoderFixtures';

interface Source {
  label: string;
  /** Column in the adjacency (node index). */
  node: number;
  /** Where the extra copy is added: hook → [position, vector] pairs. */
  adds: Array<{ hook: string; position: number; vector: Float32Array }>;
}

interface Tolerance {
  featureAtol: number;
  featureRtol: number;
  logitAtol: number;
  logitRtol: number;
}
const ERRORS_TOKENS: Tolerance = { featureAtol: 1e-3, featureRtol: 1e-3, logitAtol: 1e-5, logitRtol: 1e-3 };
const FEATURES: Tolerance = { featureAtol: 5e-4, featureRtol: 1e-5, logitAtol: 1e-5, logitRtol: 1e-3 };

/** Deterministic sample of k of n indices. */
function sample(n: number, k: number, seed: number): number[] {
  let s = seed >>> 0;
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, Math.min(k, n)).sort((a, b) => a - b);
}

/**
 * Runs circuit-tracer's exactness check on `attr` (computed with no feature cap) and returns the worst
 * violations, as |Δ − A| / (atol + rtol |A|) (≤ 1 passes). With `interventions` (the edits `attr` was
 * computed under, batch 1), on the intervened frozen model: a feature's extra copy is written before its
 * output hook's edit (so it passes through `keep`); error vectors are of the edited value, added after it.
 */
export async function exactness(model: Model, set: TranscoderSet, attr: Attribution, nFeatures = 100, interventions: ReadonlyMap<string, HookEdit> = new Map()): Promise<{ features: number; logits: number; checked: number }> {
  const c = model.config;
  const d = c.dModel;
  const L = c.nLayers;
  const T = attr.nPos;
  const nAct = attr.activations.length;
  assert.equal(attr.selected.length, nAct, 'the exactness test needs every active feature as a node');
  const skips = set.layers.flatMap((t) => (t.W_skip ? [{ layer: t.layer, input: `blocks.${t.layer}.${set.inputHook}`, weight: transposeSquare(t.W_skip, d) }] : []));
  const state = await captureFrozenState(model, attr.tokens, skips, interventions);
  const inputHooks = Array.from({ length: L }, (_, l) => `blocks.${l}.${set.inputHook}`);

  const sources: Array<Source & { tol: Tolerance }> = [];
  for (let l = 0; l < L; l++) {
    for (let p = attr.zeroPositions; p < T; p++) {
      sources.push({ label: `error ${l}@${p}`, node: attr.selected.length + l * T + p, adds: [{ hook: `blocks.${l}.${set.outputHook}`, position: p, vector: attr.errorVectors[l]!.subarray(p * d, (p + 1) * d) }], tol: ERRORS_TOKENS });
    }
  }
  for (let p = attr.zeroPositions; p < T; p++) {
    sources.push({ label: `token @${p}`, node: attr.selected.length + L * T + p, adds: [{ hook: 'hook_embed', position: p, vector: attr.tokenVectors.subarray(p * d, (p + 1) * d) }], tol: ERRORS_TOKENS });
  }
  // Clamped features always: their out-edges use the set activation.
  for (const f of [...new Set([...sample(nAct, nFeatures, 1234), ...attr.clamped])]) {
    const l = attr.activeFeatures[f * 3]!;
    const p = attr.activeFeatures[f * 3 + 1]!;
    const idx = attr.activeFeatures[f * 3 + 2]!;
    const nOut = set.kind === 'cross_layer' ? L - l : 1;
    const rows = set.decoderRows(l, [idx]);
    const adds = Array.from({ length: nOut }, (_, j) => {
      const hook = `blocks.${l + j}.${set.outputHook}`;
      const keep = interventions.get(hook)?.keep;
      return { hook, position: p, vector: rows.slice(j * d, (j + 1) * d).map((v, k) => v * attr.activations[f]! * (keep ? keep[p * d + k]! : 1)) };
    });
    sources.push({ label: `feature ${l}/${idx}@${p}`, node: f, adds, tol: FEATURES });
  }

  // Pre-activations without the bias: W_enc · x at each active feature's input.
  // A clamped feature (held by a feature intervention) has no inputs: its pre-activation still moves, its value does not.
  const clamped = new Set(attr.clamped);
  const preActivations = (hooks: Map<string, Float32Array>, row: number): Float64Array => {
    const out = new Float64Array(nAct);
    for (let f = 0; f < nAct; f++) {
      const l = attr.activeFeatures[f * 3]!;
      const p = attr.activeFeatures[f * 3 + 1]!;
      const idx = attr.activeFeatures[f * 3 + 2]!;
      const x = hooks.get(inputHooks[l]!)!;
      const w = set.layers[l]!.W_enc;
      let s = 0;
      for (let k = 0; k < d; k++) s += w[idx * d + k]! * x[(row * T + p) * d + k]!;
      out[f] = s;
    }
    return out;
  };
  const logits = (u: Float32Array, row: number): Float64Array =>
    Float64Array.from(attr.logitTargets, (t) => {
      let s = 0;
      for (let k = 0; k < d; k++) s += t.vector[k]! * u[(row * T + T - 1) * d + k]!;
      return s;
    });

  const clean = await runFrozen(model, state, 1, interventions, inputHooks);
  const cleanPre = preActivations(clean.hooks, 0);
  const cleanLogits = logits(clean.unembedInput, 0);
  const nNodes = attr.nNodes;
  const firstLogitNode = nNodes - attr.logitTargets.length;
  let worstFeature = 0;
  let worstLogit = 0;
  const CHUNK = 32;
  for (let s0 = 0; s0 < sources.length; s0 += CHUNK) {
    const chunk = sources.slice(s0, s0 + CHUNK);
    const B = chunk.length;
    const edits = new Map<string, HookEdit>();
    // Each row: the interventions' edits, plus its source's copy added after them.
    for (const [hook, e] of interventions) {
      const n = e.keep.length;
      const keep = new Float32Array(B * n);
      const add = new Float32Array(B * n);
      for (let b = 0; b < B; b++) {
        keep.set(e.keep, b * n);
        add.set(e.add, b * n);
      }
      edits.set(hook, { shape: [B, ...e.shape.slice(1)], keep, add });
    }
    chunk.forEach((src, b) => {
      for (const a of src.adds) {
        let e = edits.get(a.hook);
        if (!e) {
          e = { shape: [B, T, d], keep: new Float32Array(B * T * d).fill(1), add: new Float32Array(B * T * d) };
          edits.set(a.hook, e);
        }
        const base = (b * T + a.position) * d;
        for (let k = 0; k < d; k++) e.add[base + k]! += a.vector[k]!;
      }
    });
    const run = await runFrozen(model, state, B, edits, inputHooks);
    chunk.forEach((src, b) => {
      const pre = preActivations(run.hooks, b);
      for (let f = 0; f < nAct; f++) {
        if (clamped.has(f)) continue;
        const target = attr.selected.indexOf(f);
        const expected = attr.adjacency[target * nNodes + src.node]!;
        const delta = pre[f]! - cleanPre[f]!;
        const v = Math.abs(delta - expected) / (src.tol.featureAtol + src.tol.featureRtol * Math.abs(expected));
        if (v > worstFeature) worstFeature = v;
      }
      const lg = logits(run.unembedInput, b);
      attr.logitTargets.forEach((_, t) => {
        const expected = attr.adjacency[(firstLogitNode + t) * nNodes + src.node]!;
        const delta = lg[t]! - cleanLogits[t]!;
        const v = Math.abs(delta - expected) / (src.tol.logitAtol + src.tol.logitRtol * Math.abs(expected));
        if (v > worstLogit) worstLogit = v;
      });
    });
  }
  return { features: worstFeature, logits: worstLogit, checked: sources.length };
}

/** The frozen run under `edits` reproduces `logits` (the last position's, of the intervened model) within 1e-3. */
async function assertFrozenLogits(model: Model, tokens: number[], edits: ReadonlyMap<string, HookEdit>, logits: Float32Array): Promise<void> {
  const d = model.config.dModel;
  const T = tokens.length;
  const u = (await runFrozen(model, await captureFrozenState(model, tokens, [], edits), 1, edits, [])).unembedInput;
  const W_U = model.spec.weights.W_U;
  const b_U = model.spec.weights.b_U;
  let worst = 0;
  for (let v = 0; v < model.config.dVocab; v++) {
    let s = b_U ? b_U[v]! : 0;
    for (let k = 0; k < d; k++) s += W_U[v * d + k]! * u[(T - 1) * d + k]!;
    worst = Math.max(worst, Math.abs(s - logits[v]!));
  }
  assert.ok(worst < 1e-3, `frozen intervened logits differ by ${worst}`);
}

/** The bundled model's transcoders and the IOI prompt as attributed (its BOS prepended), with Mary's position. */
function namesPrompt(model: Model) {
  const set = loadTranscoders(join(DEFAULT_MODEL, 'transcoders'), model.config);
  const { tokens: prompt, zeroPositions } = attributionPrompt(model, { text: 'When Mary and John went to the store, John gave a drink to' });
  const mary = prompt.texts.findIndex((t) => t.trim() === 'Mary');
  assert.ok(mary > 0, 'the prompt has a Mary token');
  return { set, tokens: prompt.ids, zeroPositions, T: prompt.ids.length, mary };
}

function transposeSquare(m: Float32Array, d: number): Float32Array {
  const t = new Float32Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t[j * d + i] = m[i * d + j]!;
  return t;
}

describe('attribution graphs: exactness (circuit-tracer test_attributions)', function () {
  this.timeout(600_000);

  it('bundled model with its ReLU transcoders: every edge equals the frozen model\'s response', async () => {
    const model = await Model.load(DEFAULT_MODEL);
    try {
      const set = loadTranscoders(join(DEFAULT_MODEL, 'transcoders'), model.config);
      const tokens = model.tokenize('When Mary and John went to the store, John gave a drink to').ids;
      const attr = await attribute(model, set, tokens, { batchSize: 32 });
      assert.ok(attr.activations.length > 50, `${attr.activations.length} active features`);
      assert.ok(attr.logitTargets.length >= 1);
      const worst = await exactness(model, set, attr);
      console.log(`      ${attr.activations.length} features, ${worst.checked} sources; worst |Δ−A|/tol: features ${worst.features.toFixed(3)}, logits ${worst.logits.toFixed(3)}; ${attr.stats.ms.total.toFixed(0)} ms`);
      assert.ok(worst.features <= 1, `feature pre-activations off by ${worst.features}× the tolerance`);
      assert.ok(worst.logits <= 1, `logits off by ${worst.logits}× the tolerance`);
    } finally {
      await model.dispose();
    }
  });

  it('bundled model under interventions: the graph is of the intervened run, exact, and an ablation that changes the output changes the graph', async () => {
    const model = await Model.load(DEFAULT_MODEL);
    try {
      const { set, tokens, zeroPositions, T, mary } = namesPrompt(model);
      // Zero the residual stream at Mary's position from layer 1 on, and one MLP output (a transcoder
      // output hook, so features there write through the edit) at the last position.
      const interventions: Intervention[] = [
        { kind: 'zero', hook: 'blocks.1.hook_resid_pre', positions: [mary] },
        { kind: 'zero', hook: 'blocks.2.hook_mlp_out', positions: [T - 1] },
      ];
      const edits = await model.compileEdits(interventions, T);
      const clean = await attribute(model, set, tokens, { batchSize: 32, zeroPositions });
      const attr = await attribute(model, set, tokens, { batchSize: 32, zeroPositions, edits });

      // The graph's logit targets are the intervened run's: its own probabilities.
      const logits = (await model.run(tokens, { interventions, lastOnly: true })).data;
      const probs = softmax(logits);
      for (const t of attr.logitTargets) assert.ok(Math.abs(t.prob - probs[t.tokenId]!) < 1e-5, `target ${t.label}: ${t.prob} vs the intervened run's ${probs[t.tokenId]}`);
      const cleanProbs = softmax((await model.run(tokens, { lastOnly: true })).data);
      let kl = 0;
      for (let v = 0; v < probs.length; v++) if (cleanProbs[v]! > 0) kl += cleanProbs[v]! * Math.log(cleanProbs[v]! / Math.max(probs[v]!, 1e-30));
      assert.ok(kl > 1e-3, `the ablation changes the output (KL ${kl})`);

      // Exact for the intervened model: every edge is the intervened frozen model's response.
      const worst = await exactness(model, set, attr, 100, edits);
      console.log(`      intervened: ${attr.activations.length} features (clean ${clean.activations.length}), KL ${kl.toFixed(3)}; worst |Δ−A|/tol: features ${worst.features.toFixed(3)}, logits ${worst.logits.toFixed(3)}`);
      assert.ok(worst.features <= 1, `feature pre-activations off by ${worst.features}× the tolerance`);
      assert.ok(worst.logits <= 1, `logits off by ${worst.logits}× the tolerance`);

      // The frozen intervened run reproduces the intervened model's logits (the linearisation point is that run).
      await assertFrozenLogits(model, tokens, edits, logits);

      // Nothing flows through the ablated residual: Mary's token reaches no node above layer 0 except through
      // attention out of layer 0 into other positions (so its edges into later layers at Mary's position are gone).
      const sel = attr.selected.length;
      const L = model.config.nLayers;
      const tokenNode = sel + L * T + mary;
      for (let i = 0; i < sel; i++) {
        const f = attr.selected[i]!;
        const [l, p] = [attr.activeFeatures[f * 3]!, attr.activeFeatures[f * 3 + 1]!];
        if (l >= 1 && p === mary) assert.equal(attr.adjacency[i * attr.nNodes + tokenNode], 0, `token Mary -> feature at layer ${l}, Mary's position`);
      }
      // Features at the ablated MLP output write nothing downstream (their vectors pass through keep 0).
      for (let i = 0; i < sel; i++) {
        const f = attr.selected[i]!;
        if (attr.activeFeatures[f * 3] !== 2 || attr.activeFeatures[f * 3 + 1] !== T - 1) continue;
        for (let t = 0; t < attr.nNodes; t++) assert.equal(attr.adjacency[t * attr.nNodes + i], 0, 'an ablated MLP output\'s feature has an out-edge');
      }
      // Rows grouped by layer (big models' backward graphs, each from its batch's highest layer) take the same edits.
      const grouped = await attribute(model, set, tokens, { batchSize: 32, zeroPositions, edits, groupByLayer: true });
      let worstGrouped = 0;
      grouped.adjacency.forEach((v, i) => (worstGrouped = Math.max(worstGrouped, Math.abs(v - attr.adjacency[i]!))));
      assert.ok(worstGrouped < 1e-4, `rows grouped by layer differ by ${worstGrouped}`);
      // The graph changed: its active features or its edges.
      const key = (a: typeof attr) => `${Array.from(a.activeFeatures).join(',')}|${a.logitTargets.map((t) => t.tokenId).join(',')}`;
      const sameEdges = key(clean) === key(attr) && clean.adjacency.every((v, i) => Math.abs(v - attr.adjacency[i]!) < 1e-6);
      assert.ok(!sameEdges, 'the intervened graph equals the clean one');
    } finally {
      await model.dispose();
    }
  });

  it('bundled model under feature interventions: a zeroed feature vanishes, a set one is a clamped node; exact, and the intervened logits reproduced', async () => {
    const model = await Model.load(DEFAULT_MODEL);
    try {
      const { set, tokens, zeroPositions, T, mary } = namesPrompt(model);
      const clean = await attribute(model, set, tokens, { batchSize: 32, zeroPositions });
      const at = (a: Attribution, f: number) => [a.activeFeatures[f * 3]!, a.activeFeatures[f * 3 + 1]!, a.activeFeatures[f * 3 + 2]!] as const;
      // Zero the most active layer-0 feature at the last position; set a layer-0 feature that is off at Mary's
      // position (on elsewhere) to 4 there. Both at layer 0, so the transcoders' inputs there are the clean run's.
      let zeroed = -1;
      for (let f = 0; f < clean.activations.length; f++) {
        const [l, p] = at(clean, f);
        if (l === 0 && p === T - 1 && (zeroed < 0 || clean.activations[f]! > clean.activations[zeroed]!)) zeroed = f;
      }
      assert.ok(zeroed >= 0, 'a layer-0 feature is active at the last position');
      const onAtMary = new Set<number>();
      for (let f = 0; f < clean.activations.length; f++) if (at(clean, f)[0] === 0 && at(clean, f)[1] === mary) onAtMary.add(at(clean, f)[2]);
      const setIndex = Array.from({ length: clean.activations.length }, (_, f) => at(clean, f)).find(([l, , i]) => l === 0 && !onAtMary.has(i))![2];
      const zeroIndex = at(clean, zeroed)[2];
      const interventions: Intervention[] = [
        { kind: 'feature', layer: 0, index: zeroIndex, positions: [T - 1], value: 0 },
        { kind: 'feature', layer: 0, index: setIndex, positions: [mary], value: 4 },
      ];
      const { edits, clamps } = await graphInterventions(model, set, tokens, interventions);
      assert.equal(clamps.length, 2);
      const attr = await attribute(model, set, tokens, { batchSize: 32, zeroPositions, edits, clamps });

      // The zeroed feature has no node at that position; the set one is a node with activation 4 and no inputs.
      const find = (l: number, p: number, i: number) => Array.from({ length: attr.activations.length }, (_, f) => f).find((f) => at(attr, f).join() === [l, p, i].join());
      assert.equal(find(0, T - 1, zeroIndex), undefined, 'the zeroed feature is still a node');
      const held = find(0, mary, setIndex);
      assert.ok(held !== undefined, 'the set feature is not a node');
      assert.equal(attr.activations[held], 4);
      assert.deepEqual(Array.from(attr.clamped), [held]);
      const node = attr.selected.indexOf(held);
      assert.ok(attr.adjacency.subarray(node * attr.nNodes, (node + 1) * attr.nNodes).every((v) => v === 0), 'a clamped feature has incoming edges');
      let out = 0;
      for (let t = 0; t < attr.nNodes; t++) out += Math.abs(attr.adjacency[t * attr.nNodes + node]!);
      assert.ok(out > 0, 'the set feature writes nothing downstream');

      // The intervened run's logits: its targets' probabilities, and the frozen intervened run reproduces them.
      const logits = (await model.run(tokens, { interventions, lastOnly: true })).data;
      const probs = softmax(logits);
      for (const t of attr.logitTargets) assert.ok(Math.abs(t.prob - probs[t.tokenId]!) < 1e-5, `target ${t.label}: ${t.prob} vs the intervened run's ${probs[t.tokenId]}`);
      await assertFrozenLogits(model, tokens, edits!, logits);
      const d = model.config.dModel;

      // The error nodes do not absorb the clamps: they are the transcoders' own miss on the same inputs, as in
      // the clean graph.
      const errAt = (a: Attribution, l: number, p: number) => a.errorVectors[l]!.subarray(p * d, (p + 1) * d);
      for (const [l, p] of [[0, mary], [0, T - 1]] as const) {
        let diff = 0;
        errAt(attr, l, p).forEach((v, k) => (diff = Math.max(diff, Math.abs(v - errAt(clean, l, p)[k]!))));
        assert.ok(diff < 1e-4, `error ${l}@${p} moved by ${diff} under the clamp`);
      }
      // Every edge is the intervened frozen model's response (the clamped node's inputs excepted: it has none).
      const worst = await exactness(model, set, attr, 100, edits);
      console.log(`      feature clamps: ${attr.activations.length} features (clean ${clean.activations.length}); worst |Δ−A|/tol: features ${worst.features.toFixed(3)}, logits ${worst.logits.toFixed(3)}`);
      assert.ok(worst.features <= 1, `feature pre-activations off by ${worst.features}× the tolerance`);
      assert.ok(worst.logits <= 1, `logits off by ${worst.logits}× the tolerance`);

      // Subspace interventions are refused with the reason.
      await assert.rejects(graphInterventions(model, set, tokens, [{ kind: 'subspace', hook: 'blocks.1.hook_resid_pre', positions: [mary], basis: Array.from({ length: d }, (_, i) => [i === 0 ? 1 : 0]) }]), /I − R Rᵀ/);
    } finally {
      await model.dispose();
    }
  });

  // groupByLayer: each batch's backward from its highest layer (what big models use), on two of them.
  const cases: Array<{ name: string; fixture: string; groupByLayer: boolean; write: (dir: string, m: Model) => WrittenSet }> = [
    { name: 'Gemma-2 with JumpReLU transcoders', fixture: 'gemma2', groupByLayer: false, write: (dir, m) => writeJumpReluTranscoders(dir, m.config, 7) },
    { name: 'Llama with TopK skip transcoders, rows grouped by layer', fixture: 'llama', groupByLayer: true, write: (dir, m) => writeTopKSkipTranscoders(dir, m.config, 8, 6) },
    { name: 'GPT-2 with a cross-layer transcoder, rows grouped by layer', fixture: 'gpt2', groupByLayer: true, write: (dir, m) => writeCrossLayerTranscoders(dir, m.config, 9) },
    { name: 'Gemma-3 (q/k norms, local and global rotary) with JumpReLU transcoders', fixture: 'gemma3', groupByLayer: false, write: (dir, m) => writeJumpReluTranscoders(dir, m.config, 10) },
    { name: 'Qwen3 (q/k norms) with TopK skip transcoders, rows grouped by layer', fixture: 'qwen3', groupByLayer: true, write: (dir, m) => writeTopKSkipTranscoders(dir, m.config, 11, 6) },
  ];
  for (const k of cases) {
    it(`${k.name}: exact edges, and the replacement model with its error nodes reproduces the logits`, async () => {
      const model = await Model.load(fixture(k.fixture));
      const dir = mkdtempSync(join(tmpdir(), 'mechlens-tc-'));
      try {
        const written = k.write(dir, model);
        const set = loadTranscoders(dir, model.config);
        const tokens = readGolden(fixture(k.fixture)).inputIds[0]!;
        const attr = await attribute(model, set, tokens, { batchSize: 16, groupByLayer: k.groupByLayer });
        assert.ok(attr.activations.length >= 20, `${attr.activations.length} active features`);
        const worst = await exactness(model, set, attr);
        console.log(`      ${attr.activations.length} features, ${worst.checked} sources; worst |Δ−A|/tol: features ${worst.features.toFixed(3)}, logits ${worst.logits.toFixed(3)}`);
        assert.ok(worst.features <= 1, `feature pre-activations off by ${worst.features}× the tolerance`);
        assert.ok(worst.logits <= 1, `logits off by ${worst.logits}× the tolerance`);

        // The rows came from backward graphs over the frozen quantities fed as inputs; the stop-gradient
        // route (a full forward with detach at the same points, checked against torch autograd in
        // gradients.test.ts) must give the same edges.
        const dd = model.config.dModel;
        const outHooks = Array.from({ length: model.config.nLayers }, (_, l) => `blocks.${l}.${set.outputHook}`);
        const skipPaths = set.layers.flatMap((t) => (t.W_skip ? [{ layer: t.layer, input: `blocks.${t.layer}.${set.inputHook}`, weight: transposeSquare(t.W_skip, dd) }] : []));
        for (const f of sample(attr.selected.length, 5, 99).map((i) => attr.selected[i]!)) {
          const [fl, fp, fi] = [attr.activeFeatures[f * 3]!, attr.activeFeatures[f * 3 + 1]!, attr.activeFeatures[f * 3 + 2]!];
          const g = await computeGradients(model, {
            tokens: [tokens],
            wrt: outHooks,
            seeds: [{ hook: `blocks.${fl}.${set.inputHook}`, position: fp, vector: set.layers[fl]!.W_enc.subarray(fi * dd, (fi + 1) * dd) }],
            freeze: { attention: true, norms: true, mlp: true, skips: skipPaths },
          });
          const row = attr.selected.indexOf(f);
          for (let l = 0; l < model.config.nLayers; l++) {
            const grad = g.grads.get(outHooks[l]!)!.data;
            for (let p = 0; p < tokens.length; p++) {
              let e = 0;
              for (let k = 0; k < dd; k++) e += grad[p * dd + k]! * attr.errorVectors[l]![p * dd + k]!;
              const got = attr.adjacency[row * attr.nNodes + attr.selected.length + l * tokens.length + p]!;
              assert.ok(Math.abs(got - e) <= 1e-4 + 1e-3 * Math.abs(e), `error ${l}@${p} -> feature ${fl}/${fi}@${fp}: ${got} vs ${e}`);
            }
          }
        }

        // Replacement: every output hook set to (Σ activation · decoder row + b_dec + skip) + error, all
        // from the written arrays, gives the model's own logits.
        const d = model.config.dModel;
        const L = model.config.nLayers;
        const T = tokens.length;
        const inputs = await model.forward({ tokens: [tokens], hooks: Array.from({ length: L }, (_, l) => `blocks.${l}.${set.inputHook}`) as never, logits: 'all' });
        const edits = new Map<string, HookEdit>();
        for (let l = 0; l < L; l++) {
          const add = Float32Array.from(attr.errorVectors[l]!);
          const w = written.layers[l]!;
          for (let p = 0; p < T; p++) for (let i = 0; i < d; i++) add[p * d + i]! += w.b_dec[i]!;
          if (w.W_skip) {
            const x = inputs.hooks.get(`blocks.${l}.${set.inputHook}`)!.data;
            for (let p = 0; p < T; p++) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) add[p * d + i]! += x[p * d + j]! * w.W_skip[i * d + j]!;
          }
          edits.set(`blocks.${l}.${set.outputHook}`, { shape: [1, T, d], keep: new Float32Array(T * d), add });
        }
        for (let f = 0; f < attr.activations.length; f++) {
          const [l, p, idx] = [attr.activeFeatures[f * 3]!, attr.activeFeatures[f * 3 + 1]!, attr.activeFeatures[f * 3 + 2]!];
          const w = written.layers[l]!;
          for (let j = 0; j < w.nOut; j++) {
            const add = edits.get(`blocks.${l + j}.${set.outputHook}`)!.add;
            for (let i = 0; i < d; i++) add[p * d + i]! += attr.activations[f]! * w.W_dec[(idx * w.nOut + j) * d + i]!;
          }
        }
        const replaced = await model.forward({ tokens: [tokens], edits, logits: 'all' });
        const clean = inputs.logits!.data;
        let worstLogit = 0;
        let scale = 0;
        for (let i = 0; i < clean.length; i++) {
          worstLogit = Math.max(worstLogit, Math.abs(replaced.logits!.data[i]! - clean[i]!));
          scale = Math.max(scale, Math.abs(clean[i]!));
        }
        assert.ok(worstLogit <= 1e-4 * Math.max(1, scale), `replacement logits differ by ${worstLogit}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await model.dispose();
      }
    });
  }

  it('real weights: stories260K (TinyStories Llama, SentencePiece) with JumpReLU transcoders, its own BOS kept', async () => {
    const dir = join(__dirname, '..', '..', '..', 'shared', 'reference', 'models', 'stories260K');
    const model = await Model.load(dir);
    const tcDir = mkdtempSync(join(tmpdir(), 'mechlens-tc-'));
    try {
      writeJumpReluTranscoders(tcDir, model.config, 11);
      const set = loadTranscoders(tcDir, model.config);
      // Its tokenizer adds <s> itself: circuit-tracer's rule keeps it as the only BOS and zeroes position 0.
      const { tokens, zeroPositions } = attributionPrompt(model, { text: 'Once upon a time, there was a little girl named Lily.' });
      assert.equal(tokens.ids[0], 1);
      assert.notEqual(tokens.ids[1], 1);
      assert.equal(zeroPositions, 1);
      const attr = await attribute(model, set, tokens.ids, { zeroPositions, batchSize: 32 });
      assert.ok(attr.activations.length >= 20, `${attr.activations.length} active features`);
      for (let f = 0; f < attr.activations.length; f++) assert.ok(attr.activeFeatures[f * 3 + 1]! > 0, 'no feature at the BOS position');
      const worst = await exactness(model, set, attr);
      console.log(`      ${attr.activations.length} features, ${worst.checked} sources; worst |Δ−A|/tol: features ${worst.features.toFixed(3)}, logits ${worst.logits.toFixed(3)}`);
      assert.ok(worst.features <= 1, `feature pre-activations off by ${worst.features}× the tolerance`);
      assert.ok(worst.logits <= 1, `logits off by ${worst.logits}× the tolerance`);
    } finally {
      rmSync(tcDir, { recursive: true, force: true });
      await model.dispose();
    }
  });
});
