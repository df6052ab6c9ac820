// Linear probes checked by intervention (issue #16). Per layer and position, a linear probe reads a label
// the user supplies per prompt from the hook's activation (multi-class: ridge least squares on one-hot
// targets in closed form, or softmax regression by a few hundred Adam steps), trained on a seeded split and
// scored on the held-out prompts. Each probe's directions (the columns of its weight, orthonormalised) are
// then tested causally: the activation's component in that subspace is replaced by its training mean
// (mean-ablation within the subspace: projecting to zero would move the run off the activations the model
// ever sees) and the change of log p(target) at the last position is measured; the same with a random
// subspace of the same rank is the control. And added: the component in the subspace is moved from the
// prompt's class mean to another class's mean, and the share of prompts whose answer becomes that class's
// answer is counted (again beside a random subspace). Accuracy and causal effect are reported side by side: a
// probe can read a label the model never uses.
import { UserError, throwIfAborted } from '../errors';
import { parseHookName } from '../hooks';
import type { Model } from '../model';
import { buildPairs, captureHooks, permutation, resolveSite } from './causal';
import { chunkRows } from './patching';
import type { SiteAt } from './causal';
import { randomOrthonormal } from './das';
import { orthonormalizeColumns } from '../../shared/subspace';
import type { AnalysisContext } from './registry';
import type { ProbeMethod, ProbeParams, ProbeResult } from '../../shared/causal';
import type { HookEdit } from '../interventions';
import { mulberry32 } from '../model';

interface Labelled {
  ids: number[];
  label: number;
  target: number;
}

/** Ridge least squares W [d+1, C] (bias last) of one-hot labels on X [n, d]: (X^T X + lambda I)^-1 X^T Y by Cholesky. */
function leastSquares(X: Float64Array[], y: number[], C: number): Float64Array {
  const d = X[0]!.length + 1;
  const A = new Float64Array(d * d);
  const B = new Float64Array(d * C);
  for (const [n, x0] of X.entries()) {
    const x = [...x0, 1];
    for (let i = 0; i < d; i++) {
      for (let j = 0; j <= i; j++) A[i * d + j]! += x[i]! * x[j]!;
      B[i * C + y[n]!]! += x[i]!;
    }
  }
  let trace = 0;
  for (let i = 0; i < d; i++) trace += A[i * d + i]!;
  const lambda = 1e-3 * (trace / d) + 1e-9;
  for (let i = 0; i < d; i++) {
    A[i * d + i]! += lambda;
    for (let j = 0; j < i; j++) A[j * d + i] = A[i * d + j]!;
  }
  // Cholesky A = L L^T, then two triangular solves per column of B.
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * d + j]!;
      for (let q = 0; q < j; q++) s -= L[i * d + q]! * L[j * d + q]!;
      L[i * d + j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / L[j * d + j]!;
    }
  }
  const W = new Float64Array(d * C);
  for (let c = 0; c < C; c++) {
    const z = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = B[i * C + c]!;
      for (let q = 0; q < i; q++) s -= L[i * d + q]! * z[q]!;
      z[i] = s / L[i * d + i]!;
    }
    for (let i = d - 1; i >= 0; i--) {
      let s = z[i]!;
      for (let q = i + 1; q < d; q++) s -= L[q * d + i]! * W[q * C + c]!;
      W[i * C + c] = s / L[i * d + i]!;
    }
  }
  return W;
}

/** Softmax regression W [d+1, C] by Adam on the mean cross-entropy (300 full-batch steps, lr 0.05, standardised inputs). */
function logistic(X: Float64Array[], y: number[], C: number): Float64Array {
  const d = X[0]!.length + 1;
  const W = new Float64Array(d * C);
  const m = new Float64Array(d * C);
  const v = new Float64Array(d * C);
  const G = new Float64Array(d * C);
  const z = new Float64Array(C);
  for (let t = 1; t <= 300; t++) {
    G.fill(0);
    for (const [n, x0] of X.entries()) {
      for (let c = 0; c < C; c++) {
        let s = W[(d - 1) * C + c]!;
        for (let i = 0; i < d - 1; i++) s += x0[i]! * W[i * C + c]!;
        z[c] = s;
      }
      const max = Math.max(...z);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += z[c] = Math.exp(z[c]! - max);
      for (let c = 0; c < C; c++) {
        const r = (z[c]! / sum - (c === y[n] ? 1 : 0)) / X.length;
        for (let i = 0; i < d - 1; i++) G[i * C + c]! += r * x0[i]!;
        G[(d - 1) * C + c]! += r;
      }
    }
    for (let x = 0; x < W.length; x++) {
      m[x] = 0.9 * m[x]! + 0.1 * G[x]!;
      v[x] = 0.999 * v[x]! + 0.001 * G[x]! ** 2;
      W[x]! -= (0.05 * (m[x]! / (1 - 0.9 ** t))) / (Math.sqrt(v[x]! / (1 - 0.999 ** t)) + 1e-8);
    }
  }
  return W;
}

function predict(W: Float64Array, x: Float64Array, C: number): number {
  const d = x.length + 1;
  let best = 0;
  let bestV = -Infinity;
  for (let c = 0; c < C; c++) {
    let s = W[(d - 1) * C + c]!;
    for (let i = 0; i < d - 1; i++) s += x[i]! * W[i * C + c]!;
    if (s > bestV) [best, bestV] = [c, s];
  }
  return best;
}

/** The probe's directions: its weight columns (without the bias row), centred over classes, orthonormalised. */
function probeSubspace(W: Float64Array, d: number, C: number): { Q: Float64Array; r: number } {
  const cols: Float64Array[] = [];
  for (let c = 0; c < C; c++) {
    const col = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let mean = 0;
      for (let q = 0; q < C; q++) mean += W[i * C + q]! / C;
      col[i] = W[i * C + c]! - mean;
    }
    // Keep the column if it adds a new direction (Gram-Schmidt against the kept ones).
    for (const k of cols) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += k[i]! * col[i]!;
      for (let i = 0; i < d; i++) col[i]! -= dot * k[i]!;
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += col[i]! ** 2;
    if (Math.sqrt(norm) < 1e-8) continue;
    for (let i = 0; i < d; i++) col[i]! /= Math.sqrt(norm);
    cols.push(col);
    if (cols.length === d) break;
  }
  const r = cols.length;
  const Q = new Float64Array(d * r);
  cols.forEach((col, j) => col.forEach((x, i) => (Q[i * r + j] = x)));
  if (r > 0 && !orthonormalizeColumns(Q, d, r)) throw new Error('internal: the probe subspace lost rank');
  return { Q, r };
}

/**
 * Mean log p(target), top-1 accuracy and each prompt's top token at the last position, with the activation
 * of one hook at one position changed in place by `change(h, prompt index)`.
 */
async function scoreWith(model: Model, data: readonly Labelled[], idx: readonly number[], hook: string, pos: (T: number) => number, change: ((h: Float64Array, i: number) => void) | null, signal?: AbortSignal): Promise<{ logp: number; acc: number; tops: Map<number, number> }> {
  let logp = 0;
  let acc = 0;
  const tops = new Map<number, number>();
  const V = model.config.dVocab;
  const groups = new Map<number, number[]>();
  for (const i of idx) groups.set(data[i]!.ids.length, [...(groups.get(data[i]!.ids.length) ?? []), i]);
  for (const [len, group] of groups) {
    const size = Math.min(64, chunkRows(model, len, 0)); // bounded runs: a cancel is honoured between them
    for (let s = 0; s < group.length; s += size) {
      throwIfAborted(signal);
      const chunk = group.slice(s, s + size);
      const rows = chunk.map((i) => data[i]!.ids);
      const T = rows[0]!.length;
      let edits = new Map<string, HookEdit>();
      if (change) {
        const acts = (await captureHooks(model, rows, [hook], signal)).get(hook)!;
        const d = acts.shape[2]!;
        const keep = new Float32Array(acts.data.length).fill(1);
        const add = new Float32Array(acts.data.length);
        const p = pos(T);
        chunk.forEach((i, b) => {
          const o = (b * T + p) * d;
          const h = Float64Array.from(acts.data.subarray(o, o + d));
          change(h, i);
          for (let i = 0; i < d; i++) {
            keep[o + i] = 0;
            add[o + i] = h[i]!;
          }
        });
        edits = new Map([[hook, { shape: acts.shape.slice(), keep, add }]]);
      }
      const r = await model.forward({ tokens: rows, edits, logits: 'last', signal });
      const L = r.logits!.data;
      chunk.forEach((i, b) => {
        let max = -Infinity;
        let best = 0;
        for (let v = 0; v < V; v++) if (L[b * V + v]! > max) [max, best] = [L[b * V + v]!, v];
        let sum = 0;
        for (let v = 0; v < V; v++) sum += Math.exp(L[b * V + v]! - max);
        logp += L[b * V + data[i]!.target]! - max - Math.log(sum);
        acc += best === data[i]!.target ? 1 : 0;
        tops.set(i, best);
      });
    }
  }
  return { logp: logp / idx.length, acc: acc / idx.length, tops };
}

/** The `probe` analysis. */
export async function probeAnalysis(model: Model, params: ProbeParams, ctx: AnalysisContext = {}): Promise<ProbeResult> {
  if ((params.prompts === undefined) === (params.hypothesis === undefined)) throw new UserError('Give the probe labelled prompts, or a hypothesis with labelSlot (not both).');
  const labelTexts: string[] = [];
  const raw: Array<{ ids: number[]; label: string; target?: number }> = [];
  if (params.prompts) {
    for (const [i, p] of params.prompts.entries()) {
      let target: number | undefined;
      if (p.target !== undefined) {
        const ids = model.tokenize(p.target).ids;
        if (ids.length !== 1) throw new UserError(`Prompt ${i + 1}: the target ${JSON.stringify(p.target)} is ${ids.length} tokens; give one token.`);
        target = ids[0];
      }
      if (p.text.length === 0) throw new UserError(`Prompt ${i + 1} (label ${JSON.stringify(p.label)}) is empty: give it some text.`);
      raw.push({ ids: model.tokenize(p.text).ids, label: p.label, target });
    }
  } else {
    const slot = params.labelSlot;
    if (!slot) throw new UserError('A probe over a hypothesis needs labelSlot: the slot whose value is the label.');
    const set = buildPairs(model, params.hypothesis!);
    for (const p of set.pairs) {
      const label = p.text.baseSlots?.[slot];
      if (label === undefined) throw new UserError(`labelSlot "${slot}" is not a slot of the hypothesis' templates.`);
      raw.push({ ids: p.base, label, target: p.baseLabel });
    }
  }
  if (raw.length < 4) throw new UserError(`A probe needs at least 4 labelled prompts (got ${raw.length}).`);
  // Without a target, the model's own top token is what the causal check reads.
  const missing = raw.map((r, i) => (r.target === undefined ? i : -1)).filter((i) => i >= 0);
  for (const i of missing) {
    const logits = await model.run(raw[i]!.ids, { lastOnly: true, signal: ctx.signal });
    let best = 0;
    for (let v = 1; v < logits.data.length; v++) if (logits.data[v]! > logits.data[best]!) best = v;
    raw[i]!.target = best;
  }
  for (const r of raw) if (!labelTexts.includes(r.label)) labelTexts.push(r.label);
  if (labelTexts.length < 2) throw new UserError('Every prompt has the same label: a probe needs at least two classes.');
  const data: Labelled[] = raw.map((r) => ({ ids: r.ids, label: labelTexts.indexOf(r.label), target: r.target! }));
  const C = labelTexts.length;
  const hookTemplate = params.hook ?? 'blocks.{l}.hook_resid_post';
  const layers = params.layers ?? Array.from({ length: model.config.nLayers }, (_, l) => l);
  const positions = params.positions ?? [-1];
  const method: ProbeMethod = params.method ?? 'least_squares';
  const seed = params.seed ?? 0;
  const perm = permutation(data.length, seed + 3);
  const nTrain = Math.min(data.length - 1, Math.max(2, Math.round(data.length * (params.trainFraction ?? 0.7))));
  const train = perm.slice(0, nTrain);
  const test = perm.slice(nTrain);
  const Tmin = Math.min(...data.map((x) => x.ids.length));
  const absPos = (q: number, T: number) => (q < 0 ? T + q : q);
  for (const q of positions) if (absPos(q, Tmin) < 0 || absPos(q, Tmin) >= Tmin) throw new UserError(`Position ${q} is outside the shortest prompt (${Tmin} tokens).`);

  const before = await scoreWith(model, data, test, '', () => 0, null, ctx.signal);
  const accuracy: number[][] = [];
  const ablationEffect: number[][] = [];
  const randomEffect: number[][] = [];
  const taskAccuracyAblated: number[][] = [];
  const steerFlip: number[][] = [];
  const randomSteerFlip: number[][] = [];
  // Each class's answer: the most common target of its training prompts.
  const classTarget = new Map<number, number>();
  for (let c = 0; c < C; c++) {
    const counts = new Map<number, number>();
    for (const i of train) if (data[i]!.label === c) counts.set(data[i]!.target, (counts.get(data[i]!.target) ?? 0) + 1);
    const best = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
    if (best) classTarget.set(c, best[0]);
  }
  // The class each held-out prompt is steered towards: another class whose answer differs from its own (seeded).
  const rand = mulberry32(seed + 17);
  const towards = new Map<number, number>();
  for (const i of test) {
    const options = [...classTarget.entries()].filter(([c, t]) => c !== data[i]!.label && t !== data[i]!.target).map(([c]) => c);
    if (options.length) towards.set(i, options[Math.floor(rand() * options.length)]!);
  }
  const steered = [...towards.keys()];
  const cells = layers.length * positions.length;
  let done = 0;
  for (const l of layers) {
    if (l >= model.config.nLayers) throw new UserError(`Layer ${l} is outside the model (0..${model.config.nLayers - 1}).`);
    const hook = parseHookName(hookTemplate.replace('{l}', String(l)), model.config).name;
    const site: SiteAt = resolveSite(model, { hook, positions: [0] }, Tmin, `probe hook ${hook}`);
    if (site.rowShape.length !== 2) throw new UserError(`${hook} has a head axis; probe a residual, attention-output or MLP hook.`);
    const d = site.dim;
    // Activations of every prompt at this hook (grouped by length).
    const acts = new Map<number, Float32Array>();
    const groups = new Map<number, number[]>();
    data.forEach((x, i) => groups.set(x.ids.length, [...(groups.get(x.ids.length) ?? []), i]));
    for (const [T, group] of groups) {
      const size = Math.min(64, chunkRows(model, T, 0)); // bounded runs: a cancel is honoured between them
      for (let s = 0; s < group.length; s += size) {
        const chunk = group.slice(s, s + size);
        const a = (await captureHooks(model, chunk.map((i) => data[i]!.ids), [hook], ctx.signal)).get(hook)!;
        const per = a.shape[1]! * d;
        chunk.forEach((i, b) => acts.set(i, a.data.slice(b * per, (b + 1) * per)));
      }
    }
    const rowAcc: number[] = [];
    const rowEff: number[] = [];
    const rowRand: number[] = [];
    const rowTask: number[] = [];
    const rowFlip: number[] = [];
    const rowRandFlip: number[] = [];
    for (const q of positions) {
      throwIfAborted(ctx.signal);
      const vec = (i: number) => {
        const p = absPos(q, data[i]!.ids.length);
        return Float64Array.from(acts.get(i)!.subarray(p * d, (p + 1) * d));
      };
      const Xtr = train.map(vec);
      const ytr = train.map((i) => data[i]!.label);
      const mean = new Float64Array(d);
      for (const x of Xtr) for (let i = 0; i < d; i++) mean[i]! += x[i]! / Xtr.length;
      let scale = 0;
      for (const x of Xtr) for (let i = 0; i < d; i++) scale += (x[i]! - mean[i]!) ** 2;
      scale = Math.sqrt(scale / Xtr.length / d) || 1;
      const norm = (x: Float64Array) => x.map((v, i) => (v - mean[i]!) / scale);
      const W = method === 'logistic' ? logistic(Xtr.map(norm), ytr, C) : leastSquares(Xtr.map(norm), ytr, C);
      rowAcc.push(test.filter((i) => predict(W, norm(vec(i)), C) === data[i]!.label).length / test.length);
      // Standardisation is a uniform scale, so the subspace in activation space is the same columns.
      const { Q, r } = probeSubspace(W, d, C);
      const ablate = (B: Float64Array, k: number) => (h: Float64Array) => {
        for (let j = 0; j < k; j++) {
          let c = 0;
          for (let i = 0; i < d; i++) c += B[i * k + j]! * (h[i]! - mean[i]!);
          for (let i = 0; i < d; i++) h[i]! -= B[i * k + j]! * c;
        }
      };
      const posOf = (T: number) => absPos(q, T);
      const after = r > 0 ? await scoreWith(model, data, test, hook, posOf, ablate(Q, r), ctx.signal) : before;
      const rand = r > 0 ? await scoreWith(model, data, test, hook, posOf, ablate(randomOrthonormal(d, r, seed + 11), r), ctx.signal) : before;
      rowEff.push(after.logp - before.logp);
      rowRand.push(rand.logp - before.logp);
      rowTask.push(after.acc);
      // Adding: move the activation's component in the subspace from its class's mean to another class's mean;
      // does the model now give that class's answer? (The same move in a random subspace of the same rank: the control.)
      const means = new Map<number, Float64Array>();
      const sizes = new Map<number, number>();
      for (const y of ytr) sizes.set(y, (sizes.get(y) ?? 0) + 1);
      Xtr.forEach((x, n) => {
        const m = means.get(ytr[n]!) ?? new Float64Array(d);
        for (let j = 0; j < d; j++) m[j]! += x[j]! / sizes.get(ytr[n]!)!;
        means.set(ytr[n]!, m);
      });
      const steer = (B: Float64Array, k: number) => (h: Float64Array, i: number) => {
        const a = means.get(data[i]!.label);
        const b = means.get(towards.get(i)!);
        if (!a || !b) return;
        for (let j = 0; j < k; j++) {
          let c = 0;
          for (let x = 0; x < d; x++) c += B[x * k + j]! * (b[x]! - a[x]!);
          for (let x = 0; x < d; x++) h[x]! += B[x * k + j]! * c;
        }
      };
      const flips = async (B: Float64Array, k: number) => {
        if (k === 0 || steered.length === 0) return 0;
        const r2 = await scoreWith(model, data, steered, hook, posOf, steer(B, k), ctx.signal);
        return steered.filter((i) => r2.tops.get(i) === classTarget.get(towards.get(i)!)).length / steered.length;
      };
      rowFlip.push(await flips(Q, r));
      rowRandFlip.push(await flips(randomOrthonormal(d, r, seed + 13), r));
      done++;
      throwIfAborted(ctx.signal); // no progress after a cancel
      ctx.onProgress?.(`Probes: ${done} / ${cells}`, done / cells);
    }
    accuracy.push(rowAcc);
    ablationEffect.push(rowEff);
    randomEffect.push(rowRand);
    taskAccuracyAblated.push(rowTask);
    steerFlip.push(rowFlip);
    randomSteerFlip.push(rowRandFlip);
  }
  const counts = new Map<number, number>();
  for (const i of test) counts.set(data[i]!.label, (counts.get(data[i]!.label) ?? 0) + 1);
  return {
    hook: hookTemplate,
    layers,
    positions,
    tokens: data[0]!.ids.map((id) => model.tokenText(id)),
    classes: labelTexts,
    method,
    nTrain: train.length,
    nTest: test.length,
    accuracy,
    ablationEffect,
    randomEffect,
    taskAccuracy: before.acc,
    taskAccuracyAblated,
    steerFlip,
    randomSteerFlip,
    chance: Math.max(...counts.values()) / test.length,
  };
}
