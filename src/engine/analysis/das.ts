// Distributed alignment search (Geiger, Wu et al. 2023; issue #16): learn a subspace of a site, R with k
// orthonormal columns (the first k columns of an orthogonal rotation), such that the interchange
//   h_base' = h_base + R R^T (h_source - h_base)
// makes the network output the high-level model's counterfactual label. Loss: cross-entropy of the label at
// the last position, averaged over a batch of pairs; Adam; seeded (initial R, batch order).
//
// Gradients: the engine's generated backward graphs (computeGradients) give g = dL/dh' at the site, with
// the intervened value fed as an edit of the forward (keep 0, add h'). The chain through R is d x k
// algebra here: with delta = h_source - h_base, c = R^T delta and e = R^T g,
//   dL/dR = sum over pairs and site positions of  g c^T + delta e^T   ( = (M + M^T) R, M = sum g delta^T ).
// The base and source values at the site do not depend on R (the site is where the intervention happens),
// so they are read once per pair; each step is one forward+backward run over the batch.
//
// Keeping R orthonormal: Riemannian steps on the Stiefel manifold: the gradient is projected on the
// tangent space at R (G - R sym(R^T G)), Adam's step is taken, and R is retracted by a QR factorisation
// (modified Gram-Schmidt, twice, in float64). Why this and not a Cayley or matrix-exponential
// parametrisation of a d x d skew matrix (pyvene's torch orthogonal parametrisation): only R's k columns
// matter (R R^T does not depend on the other d - k), so the retraction costs O(d k^2) instead of a d x d
// solve or exponential per step, and it makes R orthonormal to float64 rounding after every step
// (|R^T R - I| ~ 1e-15; the float32 copy returned ~1e-7), where a parametrisation's orthogonality is only as
// good as its matrix function. The same algorithm runs in bench/torch_das.py for the benchmark.
import { UserError, throwIfAborted } from '../errors';
import { BACKWARD_BUDGET, backwardRows, computeGradients } from '../gradients';
import type { Model } from '../model';
import { randomInitModel } from '../randomInit';
import { seededRandom } from '../checkpoint/synthetic';
import { buildPairs, captureHooks, chanceLevel, chunksByLength, identityEdit, permutation, readSite, resolveSite, topTokensWithEdits, variableIndex, writeSite } from './causal';
import type { Pair, SiteAt } from './causal';
import type { AnalysisContext } from './registry';
import type { DasParams, DasResult, DasRun } from '../../shared/causal';
import { orthogonalityError, orthonormalizeColumns, subspaceInterchange } from '../../shared/subspace';

export const DAS_DEFAULTS = { epochs: 8, batchSize: 32, lr: 0.01, trainFraction: 0.8, seed: 0 } as const;

/** A seeded random [d, k] matrix with orthonormal columns (Gaussian, then QR). */
export function randomOrthonormal(d: number, k: number, seed: number): Float64Array {
  const normal = seededRandom(seed).normal;
  const R = Float64Array.from({ length: d * k }, () => normal());
  if (!orthonormalizeColumns(R, d, k)) throw new Error('internal: the subspace lost rank');
  return R;
}

export interface SiteData {
  site: SiteAt;
  base: Float32Array[];
  source: Float32Array[];
}

/** The site's base and source values of every pair (for the aligned variable's source). */
export async function siteData(model: Model, pairs: readonly Pair[], variable: number, site: SiteAt, signal?: AbortSignal): Promise<SiteData> {
  const base = new Array<Float32Array>(pairs.length);
  const source = new Array<Float32Array>(pairs.length);
  for (const chunk of chunksByLength(pairs, pairs.map((_, i) => i), model)) {
    const b = await captureHooks(model, chunk.map((i) => pairs[i]!.base), [site.hook], signal);
    const s = await captureHooks(model, chunk.map((i) => pairs[i]!.sources[variable]!), [site.hook], signal);
    chunk.forEach((i, r) => {
      base[i] = readSite(b.get(site.hook)!, r, site);
      source[i] = readSite(s.get(site.hook)!, r, site);
    });
  }
  return { site, base, source };
}

async function iiaWith(model: Model, pairs: readonly Pair[], idx: readonly number[], data: SiteData, R: ArrayLike<number>, k: number, signal?: AbortSignal): Promise<number> {
  const { site } = data;
  let ok = 0;
  for (const chunk of chunksByLength(pairs, idx, model)) {
    const edit = identityEdit(site, chunk.length);
    chunk.forEach((i, b) => writeSite(edit, b, site, subspaceInterchange(data.base[i]!, data.source[i]!, R, site.dim, k)));
    const top = await topTokensWithEdits(model, chunk.map((i) => pairs[i]!.base), new Map([[site.hook, edit]]), signal);
    chunk.forEach((i, b) => (ok += top[b] === pairs[i]!.label ? 1 : 0));
  }
  return idx.length > 0 ? ok / idx.length : NaN;
}

/**
 * The mean cross-entropy of the counterfactual labels over a batch with the subspace interchange R, and its
 * Euclidean gradient with respect to R [d, k]: forward+backward runs (computeGradients), then
 * dL/dR = sum over pairs and positions of g c^T + delta e^T (c = R^T delta, e = R^T g, g = dL/dh').
 * A run holds at most backwardRows' worth of pairs (a quarter of the backward budget, as integrated gradients:
 * each row is a whole forward and backward), so a cancel is honoured between runs; a small model (the
 * bundled one) runs a whole batch at once. The sums run in the same order either way.
 */
export async function dasLossGradient(model: Model, pairs: readonly Pair[], batch: readonly number[], data: SiteData, R: ArrayLike<number>, k: number, signal?: AbortSignal): Promise<{ loss: number; G: Float64Array }> {
  const { site } = data;
  const d = site.dim;
  const P = site.positions.length;
  const B = batch.length;
  const perRun = backwardRows(model.config, pairs[batch[0]!]!.base.length, model.config.nLayers, BACKWARD_BUDGET / 4);
  let loss = 0;
  const G = new Float64Array(d * k);
  const c = new Float64Array(k);
  const e = new Float64Array(k);
  for (let start = 0; start < B; start += perRun) {
    throwIfAborted(signal);
    const part = batch.slice(start, start + perRun);
    const edit = identityEdit(site, part.length);
    part.forEach((i, b) => writeSite(edit, b, site, subspaceInterchange(data.base[i]!, data.source[i]!, R, d, k)));
    const r = await computeGradients(model, {
      tokens: part.map((i) => pairs[i]!.base),
      wrt: [site.hook],
      metrics: part.map((i) => ({ target: pairs[i]!.label, logProb: true })),
      edits: new Map([[site.hook, edit]]),
      signal,
    });
    for (let b = 0; b < part.length; b++) loss -= r.metric![b]!;
    const grad = r.grads.get(site.hook)!;
    part.forEach((i, b) => {
      const g = readSite(grad, b, site);
      for (let p = 0; p < P; p++) {
        const o0 = p * d;
        c.fill(0);
        e.fill(0);
        for (let row = 0; row < d; row++) {
          const delta = data.source[i]![o0 + row]! - data.base[i]![o0 + row]!;
          const gr = -g[o0 + row]! / B;
          for (let j = 0; j < k; j++) {
            c[j]! += R[row * k + j]! * delta;
            e[j]! += R[row * k + j]! * gr;
          }
        }
        for (let row = 0; row < d; row++) {
          const delta = data.source[i]![o0 + row]! - data.base[i]![o0 + row]!;
          const gr = -g[o0 + row]! / B;
          for (let j = 0; j < k; j++) G[row * k + j]! += gr * c[j]! + delta * e[j]!;
        }
      }
    });
  }
  loss /= B;
  return { loss, G };
}

export interface DasOptions {
  rank: number;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  signal?: AbortSignal;
  onStep?: (step: number, steps: number, loss: number) => void;
}

/** One DAS training run on `model` over the pairs' train split; IIA on both splits. */
export async function trainDas(model: Model, pairs: readonly Pair[], variable: number, site: SiteAt, train: readonly number[], test: readonly number[], o: DasOptions): Promise<DasRun> {
  const started = performance.now();
  const d = site.dim;
  const k = o.rank;
  const data = await siteData(model, pairs, variable, site, o.signal);
  const R = randomOrthonormal(d, k, o.seed);
  const m = new Float64Array(d * k);
  const v = new Float64Array(d * k);
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  const loss: number[] = [];
  const epochLoss: number[] = [];
  const batchesPerEpoch = Math.ceil(train.length / o.batchSize);
  const steps = o.epochs * batchesPerEpoch;
  const P = site.positions.length;
  let t = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = permutation(train.length, o.seed * 1000 + epoch + 1).map((i) => train[i]!);
    let sum = 0;
    for (let start = 0; start < order.length; start += o.batchSize) {
      throwIfAborted(o.signal);
      const batch = order.slice(start, start + o.batchSize);
      const { loss: l, G } = await dasLossGradient(model, pairs, batch, data, R, k, o.signal);
      loss.push(l);
      sum += l;
      // Tangent projection at R: G - R sym(R^T G).
      const S = new Float64Array(k * k);
      for (let a = 0; a < k; a++) for (let b2 = 0; b2 < k; b2++) {
        let s = 0;
        for (let row = 0; row < d; row++) s += R[row * k + a]! * G[row * k + b2]!;
        S[a * k + b2] = s;
      }
      for (let row = 0; row < d; row++) {
        for (let j = 0; j < k; j++) {
          let corr = 0;
          for (let a = 0; a < k; a++) corr += R[row * k + a]! * 0.5 * (S[a * k + j]! + S[j * k + a]!);
          G[row * k + j]! -= corr;
        }
      }
      // Adam, then the QR retraction.
      t++;
      const bc1 = 1 - beta1 ** t;
      const bc2 = 1 - beta2 ** t;
      for (let x = 0; x < R.length; x++) {
        m[x] = beta1 * m[x]! + (1 - beta1) * G[x]!;
        v[x] = beta2 * v[x]! + (1 - beta2) * G[x]! ** 2;
        R[x]! -= (o.lr * (m[x]! / bc1)) / (Math.sqrt(v[x]! / bc2) + eps);
      }
      if (!orthonormalizeColumns(R, d, k)) throw new Error('internal: the subspace lost rank');
      throwIfAborted(o.signal); // no progress after a cancel
      o.onStep?.(t, steps, l);
    }
    epochLoss.push(sum / batchesPerEpoch);
  }
  const rotation = Float32Array.from(R);
  const deltaRms = new Array<number>(k).fill(0);
  for (const i of train) {
    for (let p = 0; p < P; p++) {
      for (let j = 0; j < k; j++) {
        let s = 0;
        for (let row = 0; row < d; row++) s += R[row * k + j]! * (data.source[i]![p * d + row]! - data.base[i]![p * d + row]!);
        deltaRms[j]! += (s * s) / (train.length * P);
      }
    }
  }
  for (let j = 0; j < k; j++) deltaRms[j] = Math.sqrt(deltaRms[j]!);
  const trainIia = await iiaWith(model, pairs, train, data, rotation, k, o.signal);
  const testIia = await iiaWith(model, pairs, test, data, rotation, k, o.signal);
  return { trainIia, testIia, loss, epochLoss, orthogonality: orthogonalityError(rotation, d, k), rotation, deltaRms, steps: t, ms: performance.now() - started };
}

/** The `das` analysis: DAS for one variable at its site, with its controls. */
export async function dasAnalysis(model: Model, params: DasParams, ctx: AnalysisContext = {}): Promise<DasResult> {
  const variables = params.hypothesis.variables;
  const name = params.variable ?? variables[0]!.name;
  const variable = variableIndex(variables, name);
  // Only this variable is interchanged: the labels follow from its slot alone.
  const set = buildPairs(model, params.hypothesis, { interchanged: [variable] });
  const { pairs } = set;
  const siteSpec = variables[variable]!.site;
  if (!siteSpec) throw new UserError(`Variable ${name} has no site: give it {"site": {"hook": ..., "positions": [...]}} (DAS learns a subspace there).`);
  if (siteSpec.subspace !== undefined) throw new UserError(`Variable ${name}'s site names a saved subspace; DAS learns one: remove "subspace".`);
  const T = pairs[0]!.base.length;
  if (pairs.some((p) => p.base.length !== T)) throw new UserError('DAS needs every prompt of the hypothesis to have the same token length (one site, aligned positions); use templates of one length.');
  const site = resolveSite(model, siteSpec, T, `variable ${name}'s site`);
  if (params.rank > site.dim) {
    throw new UserError(`Rank ${params.rank} is larger than the site: ${site.hook}${site.heads ? ` (heads ${site.heads.join(', ')})` : ''} has ${site.dim} values per position; choose a rank from 1 to ${site.dim}.`);
  }
  const seed = params.seed ?? DAS_DEFAULTS.seed;
  const n = pairs.length;
  const nTrain = Math.min(n - 1, Math.max(1, Math.round(n * (params.trainFraction ?? DAS_DEFAULTS.trainFraction))));
  if (n < 2) throw new UserError('DAS needs at least 2 pairs (a train and a held-out split).');
  const perm = permutation(n, seed + 1);
  const train = perm.slice(0, nTrain);
  const test = perm.slice(nTrain);
  const controls = params.controls ?? true;
  const runs = controls ? 3 : 1;
  let runIndex = 0;
  const options = (label: string): DasOptions => {
    const i = runIndex++;
    return {
      rank: params.rank,
      epochs: params.epochs ?? DAS_DEFAULTS.epochs,
      batchSize: params.batchSize ?? DAS_DEFAULTS.batchSize,
      lr: params.lr ?? DAS_DEFAULTS.lr,
      seed,
      signal: ctx.signal,
      onStep: (step, steps, loss) => ctx.onProgress?.(`DAS ${label}: step ${step} / ${steps}, loss ${loss.toFixed(3)}`, (i + step / steps) / runs, { phase: label, done: step, total: steps }),
    };
  };
  const trained = await trainDas(model, pairs, variable, site, train, test, options('trained model'));
  let result: DasResult['controls'];
  if (controls) {
    const shuffled = buildPairs(model, params.hypothesis, { randomLabels: true, interchanged: [variable] }).pairs;
    const randomLabels = await trainDas(model, shuffled, variable, site, train, test, options('random labels'));
    const initSeed = seed + 1;
    const random = await randomInitModel(model, initSeed);
    try {
      const randomInit = await trainDas(random, pairs, variable, site, train, test, options('random-init model'));
      result = { randomLabels, randomInit: { ...randomInit, seed: initSeed } };
    } finally {
      await random.dispose();
    }
  }
  const chance = chanceLevel(pairs.filter((_, i) => test.includes(i)));
  return {
    hypothesis: set.name,
    variable: name,
    site: { hook: site.hook, positions: site.positions, ...(site.heads ? { heads: site.heads } : {}), dim: site.dim },
    rank: params.rank,
    nTrain: train.length,
    nTest: test.length,
    chance,
    trained,
    ...(result ? { controls: result } : {}),
    verdict: dasVerdict(trained.testIia, result, chance),
    prompt: { ids: pairs[0]!.base, texts: pairs[0]!.base.map((id) => model.tokenText(id)) },
  };
}

/**
 * In words: a finding needs its controls, and an IIA clearly above both (by 0.2: with the default 40 held-out
 * pairs, one standard error of an IIA near 0.5 is 0.08).
 */
export function dasVerdict(testIia: number, controls: DasResult['controls'], chance: number): string {
  if (!controls) return 'No controls were run: not a finding (run with controls).';
  const worst = Math.max(controls.randomLabels.testIia, controls.randomInit.testIia);
  if (testIia >= worst + 0.2 && testIia > chance + 0.2) return `Aligned: held-out IIA ${testIia.toFixed(2)} against ${worst.toFixed(2)} for the better control.`;
  return `Not supported: held-out IIA ${testIia.toFixed(2)} is not clearly above the controls (${controls.randomLabels.testIia.toFixed(2)} random labels, ${controls.randomInit.testIia.toFixed(2)} random init).`;
}

