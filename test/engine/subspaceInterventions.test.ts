// The `subspace` intervention kind (issue #16: a learned subspace reused as a patching site) on the bundled
// model: with R the identity it is the full patch; rank 1 matches a hand computation of h + u uᵀ (s − h); h is
// the run's own activation under the interventions before it (on earlier hooks, earlier on the same hook, and
// across key/value-cache decoding steps); projecting out removes the component; a basis over several heads
// side by side works like a DAS site over them; a DAS result made into the views' chip predicts what IIA through
// its saved file predicts; bad bases get messages; the CLI and experiment files take it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { runAnalysis } from '../../src/engine/analysis/registry';
import { buildPairs } from '../../src/engine/analysis/causal';
import { saveSubspace } from '../../src/engine/analysis/subspaceFile';
import { EXAMPLE_NAMES, exampleHypothesis } from '../../src/shared/causal';
import { compileUiSpec, subspaceSpec, viewSite } from '../../src/shared/subspaceUi';
import type { Intervention } from '../../src/shared/interventions';
import type { NamedTensor } from '../../src/shared/tensor';
import { DEFAULT_MODEL } from '../support/fixtures';
import { cli } from '../support/cli';
import { assertExperimentReplays } from '../support/experiments';

/** An orthonormal [d][k] basis: k seeded Gaussian columns, Gram-Schmidt in float64. */
function basisOf(d: number, k: number, seed: number): number[][] {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
  const cols: number[][] = [];
  for (let j = 0; j < k; j++) {
    const c = Array.from({ length: d }, rand);
    for (const q of cols) {
      const dot = c.reduce((a, x, i) => a + x * q[i]!, 0);
      c.forEach((_, i) => (c[i]! -= dot * q[i]!));
    }
    const n = Math.hypot(...c);
    cols.push(c.map((x) => x / n));
  }
  return Array.from({ length: d }, (_, i) => cols.map((c) => c[i]!));
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** h + B Bᵀ (s − h) for one vector, B orthonormal [d][k], float64. */
function byHand(h: ArrayLike<number>, s: ArrayLike<number> | null, B: number[][]): number[] {
  const d = B.length;
  const k = B[0]!.length;
  const c = new Array<number>(k).fill(0);
  for (let i = 0; i < d; i++) for (let j = 0; j < k; j++) c[j]! += B[i]![j]! * ((s ? s[i]! : 0) - h[i]!);
  return Array.from({ length: d }, (_, i) => h[i]! + B[i]!.reduce((a, x, j) => a + x * c[j]!, 0));
}

describe('subspace interventions', function () {
  this.timeout(120_000);
  let model: Model;
  let clean: number[];
  let corrupt: number[];
  let d: number;
  const hook = 'blocks.1.hook_resid_post';
  const slice = (t: NamedTensor, pos: number) => t.data.subarray(pos * d, (pos + 1) * d);

  before(async function () {
    model = await Model.load(DEFAULT_MODEL, { threads: 1 });
    d = model.config.dModel;
    clean = model.tokenize('When Mary and John went to the store, John gave the drink to').ids;
    corrupt = model.tokenize('When Alice and John went to the store, John gave the drink to').ids;
    assert.equal(corrupt.length, clean.length, 'the pair must tokenize to one length');
  });

  it('with R the identity (full rank) it is the full patch', async function () {
    const identity = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? 1 : 0)));
    const positions = [1, clean.length - 1];
    const patched = await model.run(clean, { interventions: [{ kind: 'patch', hook, positions, source: { tokens: corrupt } }] });
    const sub = await model.run(clean, { interventions: [{ kind: 'subspace', hook, positions, basis: identity, source: { tokens: corrupt } }] });
    const plain = await model.run(clean);
    assert.ok(maxDiff(patched.data, plain.data) > 0.1, 'the patch changes the logits');
    assert.ok(maxDiff(sub.data, patched.data) < 1e-4, `subspace (identity) vs patch: ${maxDiff(sub.data, patched.data)}`);
  });

  it('rank 1 equals h + u uᵀ (s − h) by hand, and only at the chosen positions', async function () {
    const B = basisOf(d, 1, 3);
    const pos = clean.length - 1;
    const h = (await model.runWithCache(clean, [hook])).hooks.get(hook)!;
    const s = (await model.runWithCache(corrupt, [hook])).hooks.get(hook)!;
    const out = (await model.runWithCache(clean, [hook], { interventions: [{ kind: 'subspace', hook, positions: [pos], basis: B, source: { tokens: corrupt } }] })).hooks.get(hook)!;
    assert.ok(maxDiff(slice(out, pos), byHand(slice(h, pos), slice(s, pos), B)) < 1e-5);
    assert.ok(maxDiff(slice(out, pos), slice(h, pos)) > 1e-3, 'the activation moved');
    assert.equal(maxDiff(slice(out, 0), slice(h, 0)), 0, 'other positions are untouched');
    // Without a source the subspace is projected out: h − u uᵀ h.
    const proj = (await model.runWithCache(clean, [hook], { interventions: [{ kind: 'subspace', hook, positions: [pos], basis: B }] })).hooks.get(hook)!;
    assert.ok(maxDiff(slice(proj, pos), byHand(slice(h, pos), null, B)) < 1e-5);
  });

  it('h is the value under the interventions before it: earlier hooks (in any list order), earlier on the same hook, after it', async function () {
    const B = basisOf(d, 4, 5);
    const pos = clean.length - 1;
    const zeroAttn: Intervention = { kind: 'zero', hook: 'blocks.0.hook_attn_out' };
    const sub: Intervention = { kind: 'subspace', hook, positions: [pos], basis: B, source: { tokens: corrupt } };
    const s = (await model.runWithCache(corrupt, [hook])).hooks.get(hook)!;
    // An earlier hook's intervention listed after it still applies to h (forward order, not list order).
    const hAblated = (await model.runWithCache(clean, [hook], { interventions: [zeroAttn] })).hooks.get(hook)!;
    const out = (await model.runWithCache(clean, [hook], { interventions: [sub, zeroAttn] })).hooks.get(hook)!;
    assert.ok(maxDiff(slice(out, pos), byHand(slice(hAblated, pos), slice(s, pos), B)) < 1e-5);
    // On the same hook: scale first (h = 2 h_clean), then the subspace, then an add on top of its result.
    const h = (await model.runWithCache(clean, [hook])).hooks.get(hook)!;
    const v = Array.from({ length: d }, (_, i) => (i % 3) - 1);
    const composed = (await model.runWithCache(clean, [hook], { interventions: [{ kind: 'scale', hook, factor: 2 }, sub, { kind: 'add', hook, vector: v, positions: [pos] }] })).hooks.get(hook)!;
    const expected = byHand(Array.from(slice(h, pos), (x) => 2 * x), slice(s, pos), B).map((x, i) => x + v[i]!);
    assert.ok(maxDiff(slice(composed, pos), expected) < 1e-4, `composed ${maxDiff(slice(composed, pos), expected)}`);
    // Two subspaces on consecutive hooks: the later one's h includes the earlier one's change.
    const later = 'blocks.2.hook_resid_post';
    const sub2: Intervention = { kind: 'subspace', hook: later, positions: [pos], basis: basisOf(d, 2, 9), source: { tokens: corrupt } };
    const hLater = (await model.runWithCache(clean, [later], { interventions: [sub] })).hooks.get(later)!;
    const s2 = (await model.runWithCache(corrupt, [later])).hooks.get(later)!;
    const both = (await model.runWithCache(clean, [later], { interventions: [sub2, sub] })).hooks.get(later)!;
    assert.ok(maxDiff(slice(both, pos), byHand(slice(hLater, pos), slice(s2, pos), sub2.basis)) < 1e-5);
  });

  it('generation with the key/value cache equals generation without it (h of each new position in its own step)', async function () {
    const B = basisOf(d, 8, 11);
    const prompt = clean.slice(0, 6);
    const source = corrupt.slice(0, 6).concat(corrupt.slice(0, 6));
    const interventions: Intervention[] = [{ kind: 'zero', hook: 'blocks.0.hook_mlp_out', positions: [2, 7] }, { kind: 'subspace', hook, basis: B, source: { tokens: source } }];
    const cached = await model.generate(prompt, { maxNewTokens: 5, interventions });
    const uncached = await model.generate(prompt, { maxNewTokens: 5, interventions, useCache: false });
    assert.deepEqual(cached, uncached);
  });

  it('a basis over several heads side by side (a DAS site over them): identity equals patching those heads', async function () {
    const zHook = 'blocks.1.attn.hook_z';
    const dh = model.config.dHead;
    const heads = [0, 1];
    const identity = Array.from({ length: 2 * dh }, (_, i) => Array.from({ length: 2 * dh }, (_, j) => (i === j ? 1 : 0)));
    const patched = await model.run(clean, { interventions: [{ kind: 'patch', hook: zHook, heads, source: { tokens: corrupt } }] });
    const sub = await model.run(clean, { interventions: [{ kind: 'subspace', hook: zHook, heads, basis: identity, source: { tokens: corrupt } }] });
    assert.ok(maxDiff(sub.data, patched.data) < 1e-4);
    // One head's width applies per head.
    const perHead = await model.run(clean, { interventions: [{ kind: 'subspace', hook: zHook, heads, basis: identity.slice(0, dh).map((r) => r.slice(0, dh)), source: { tokens: corrupt } }] });
    assert.ok(maxDiff(perHead.data, patched.data) < 1e-4);
  });

  it('bad bases get messages: the wrong width, non-finite numbers, rank above the dimension, dependent columns, a pattern hook', async function () {
    const run = async (iv: unknown) => runAnalysis(model, 'run', { prompt: { tokens: clean }, interventions: [iv as Intervention] });
    const narrow = basisOf(d - 1, 2, 1);
    await assert.rejects(run({ kind: 'subspace', hook, basis: narrow }), (e: Error) => e.name === 'UserError' && /basis has \d+ rows but blocks\.1\.hook_resid_post has \d+ values per position/.test(e.message));
    await assert.rejects(run({ kind: 'subspace', hook, basis: [[NaN], ...basisOf(d - 1, 1, 1)] }), /row 0 holds a value that is not a finite number/);
    await assert.rejects(run({ kind: 'subspace', hook, basis: [[1, 0, 0], [0, 1, 0]] }), /rank 3 but dimension 2/);
    await assert.rejects(run({ kind: 'subspace', hook, basis: Array.from({ length: d }, (_, i) => [i, 2 * i]) }), /linearly dependent/);
    await assert.rejects(run({ kind: 'subspace', hook: 'blocks.0.attn.hook_pattern', basis: basisOf(4, 1, 1) }), /not a per-position activation/);
    await assert.rejects(run({ kind: 'subspace', hook, basis: basisOf(d, 1, 1), source: { tokens: corrupt.slice(0, 3) } }), /source prompt has 3 tokens/);
  });

  it("a DAS result as the views' patching site predicts what IIA through the saved subspace predicts, pair by pair", async function () {
    const names = EXAMPLE_NAMES.filter((n) => model.tokenize(` ${n}`).ids.length === 1);
    const hypothesis = { ...exampleHypothesis(model.config.nLayers, names), n: 40 };
    const das = await runAnalysis(model, 'das', { hypothesis, rank: 4, epochs: 2, controls: false });
    const dir = mkdtempSync(join(tmpdir(), 'mechlens-das-site-'));
    try {
      const [file] = saveSubspace(join(dir, 'io'), das, hypothesis, { name: model.info.name, dModel: d });
      const withFile = { ...hypothesis, variables: hypothesis.variables.map((v) => ({ ...v, site: { ...v.site!, subspace: file! } })) };
      const iia = await runAnalysis(model, 'iia', { hypothesis: withFile });
      // What the Causal panel's "Use as patching site" makes, compiled for each pair as a view compiles it for its prompt.
      const spec = subspaceSpec(das.trained.rotation, das.site.dim, das.rank, viewSite(das.site, hypothesis, das.variable), 'patch', { name: das.variable });
      const pairs = buildPairs(model, hypothesis).pairs;
      let agree = 0;
      for (const [i, ex] of iia.examples.entries()) {
        const p = pairs[i]!;
        const ivs = compileUiSpec(spec, { nLayers: model.config.nLayers, nHeads: model.config.nHeads, hasResidMid: true, prompt: p.base, counterfactual: p.sources[0] });
        const logits = await model.run(p.base, { interventions: ivs, lastOnly: true });
        const top = logits.data.indexOf(Math.max(...logits.data));
        if (model.tokenText(top) === ex.predicted) agree++;
      }
      assert.ok(iia.examples.length >= 10);
      assert.equal(agree, iia.examples.length, `${agree} of ${iia.examples.length} pairs agree`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the CLI takes it in --interventions and an experiment file replays it', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'mechlens-subspace-'));
    try {
      const iv = { kind: 'subspace', hook, positions: [clean.length - 1], basis: basisOf(d, 2, 2).map((r) => r.map((x) => 3 * x)), source: { tokens: corrupt } };
      writeFileSync(join(dir, 'iv.json'), JSON.stringify([iv]));
      const r = await cli('run', '--model', DEFAULT_MODEL, '--tokens', clean.join(','), '--interventions', join(dir, 'iv.json'), '--json');
      assert.equal(r.code, 0, r.stderr);
      // Its columns were not orthonormal: the CLI says it used their span.
      assert.match(r.stderr, /not orthonormal.*span/);
      const fromCli = (JSON.parse(r.stdout) as { logits: number[][] }).logits.at(-1)!;
      const expected = await model.run(clean, { interventions: [iv as Intervention], lastOnly: true });
      assert.ok(maxDiff(fromCli, expected.data) < 1e-4);
      writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ ...iv, basis: basisOf(d + 1, 2, 2) }]));
      const wrong = await cli('run', '--model', DEFAULT_MODEL, '--tokens', clean.join(','), '--interventions', join(dir, 'bad.json'));
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /basis has \d+ rows but/);
      assert.doesNotMatch(wrong.stderr, /at .*\.js:\d+/, 'no stack trace');
      // An experiment file with the intervention in its params re-runs to the same results.
      await assertExperimentReplays(join(dir, 'sub.mlexp.json'), DEFAULT_MODEL, 'run', { prompt: { tokens: clean }, topK: 3, interventions: [iv] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
