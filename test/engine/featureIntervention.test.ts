// The transcoder-feature intervention kind ({kind: 'feature', layer, index, ...}) on the bundled model (real
// onnxruntime): a zero-feature intervention equals the hand computation (the MLP output minus the feature's
// activation, ReLU(W_enc·x + b_enc) in plain JS, times its decoder row, at that position only) and changes the
// logits; setting a feature to its own activation, or patching it from the same prompt, changes nothing; a
// mean over reference prompts is that mean; generation with the key/value cache equals generation without;
// bad layers and indices, and a model without transcoders, are refused naming the problem; the CLI takes it
// in --interventions and an experiment file replays it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { transcodersFor } from '../../src/engine/attribution/transcoders';
import type { HookName } from '../../src/engine/hooks';
import type { Intervention } from '../../src/shared/interventions';
import { runAnalysis } from '../../src/engine/analysis/registry';
import { cli } from '../support/cli';
import { assertExperimentReplays } from '../support/experiments';
import { DEFAULT_MODEL, fixture, maxAbsDiff } from '../support/fixtures';

const PROMPT = 'When Mary and John went to the store, John gave a drink to';
const L = 1;
const P = 5;

describe('feature interventions (kind "feature")', function () {
  this.timeout(300_000);
  let model: Model;
  let tokens: number[];
  /** The layer's input at every position, [T, d], from a plain forward. */
  let x: Float32Array;
  let mlpOut: Float32Array;
  /** The feature of layer L most active at position P, and its activation there (by hand). */
  let f: number;
  let a: number;
  before(async () => {
    model = await Model.load(DEFAULT_MODEL, { threads: 1 });
    tokens = model.tokenize(PROMPT).ids;
    const r = await model.forward({ tokens: [tokens], hooks: [`blocks.${L}.mlp.hook_in` as HookName, `blocks.${L}.hook_mlp_out` as HookName], logits: 'none' });
    x = r.hooks.get(`blocks.${L}.mlp.hook_in`)!.data;
    mlpOut = r.hooks.get(`blocks.${L}.hook_mlp_out`)!.data;
    const t = transcodersFor(model).layers[L]!;
    const d = model.config.dModel;
    a = 0;
    for (let g = 0; g < t.dTranscoder; g++) {
      let pre = t.b_enc[g]!;
      for (let k = 0; k < d; k++) pre += t.W_enc[g * d + k]! * x[P * d + k]!;
      if (Math.max(0, pre) > a) [a, f] = [Math.max(0, pre), g];
    }
    assert.ok(a > 0.5, `an active feature at position ${P}`);
  });
  after(() => model.dispose());

  it('zero: the MLP output minus activation × decoder row at that position, and the logits change', async () => {
    const iv: Intervention = { kind: 'feature', layer: L, index: f, positions: [P], value: 0 };
    const hook = `blocks.${L}.hook_mlp_out` as HookName;
    const r = await model.forward({ tokens: [tokens], hooks: [hook], interventions: [iv], logits: 'last' });
    const got = r.hooks.get(hook)!.data;
    const d = model.config.dModel;
    const row = transcodersFor(model).decoderRows(L, [f]);
    const want = Float32Array.from(mlpOut, (v, i) => (Math.floor(i / d) === P ? v - a * row[i % d]! : v));
    assert.ok(maxAbsDiff(got, want) < 1e-4, `max |Δ| ${maxAbsDiff(got, want)}`);
    const clean = await model.run(tokens, { lastOnly: true });
    assert.ok(maxAbsDiff(r.logits!.data, clean.data) > 1e-3, 'the ablation changes the logits');
    // The same as the hand-made add at the write hook.
    const plain = await model.run(tokens, { lastOnly: true, interventions: [{ kind: 'add', hook, vector: Array.from(row), scale: -a, positions: [P] }] });
    assert.ok(maxAbsDiff(r.logits!.data, plain.data) < 1e-4);
  });

  it('set to its own activation, scale 1, or a patch from the same prompt: nothing changes', async () => {
    const clean = await model.run(tokens);
    for (const iv of [
      { kind: 'feature', layer: L, index: f, positions: [P], value: a },
      { kind: 'feature', layer: L, index: f, scale: 1 },
      { kind: 'feature', layer: L, index: f, source: { tokens } },
    ] as Intervention[]) {
      const got = await model.run(tokens, { interventions: [iv] });
      assert.ok(maxAbsDiff(got.data, clean.data) < 1e-4, JSON.stringify(iv));
    }
  });

  it('mean over reference prompts: the feature set to that mean; patching reads the source at the same position', async () => {
    const other = model.tokenize('The cat sat on the mat and then it went home to sleep').ids.slice(0, tokens.length);
    const set = transcodersFor(model);
    const F = set.layers[L]!.dTranscoder;
    const actsOn = async (t: number[]) => {
      const r = await model.forward({ tokens: [t], hooks: [`blocks.${L}.mlp.hook_in` as HookName], logits: 'none' });
      const d = model.config.dModel;
      const xs = r.hooks.get(`blocks.${L}.mlp.hook_in`)!.data;
      const tl = set.layers[L]!;
      return Array.from({ length: t.length }, (_, p) => {
        let pre = tl.b_enc[f]!;
        for (let k = 0; k < d; k++) pre += tl.W_enc[f * d + k]! * xs[p * d + k]!;
        return Math.max(0, pre);
      });
    };
    const all = [...(await actsOn(tokens)), ...(await actsOn(other))];
    const mean = all.reduce((s, v) => s + v, 0) / all.length;
    const viaMean = await model.run(tokens, { interventions: [{ kind: 'feature', layer: L, index: f, positions: [P], reference: [{ tokens }, { tokens: other }] }] });
    const viaValue = await model.run(tokens, { interventions: [{ kind: 'feature', layer: L, index: f, positions: [P], value: mean }] });
    assert.ok(maxAbsDiff(viaMean.data, viaValue.data) < 1e-4);
    assert.ok(f < F, `feature ${f} is one of layer ${L}'s ${F}`);
    const src = (await actsOn(other))[P]!;
    const viaPatch = await model.run(tokens, { interventions: [{ kind: 'feature', layer: L, index: f, positions: [P], source: { tokens: other } }] });
    const viaSrc = await model.run(tokens, { interventions: [{ kind: 'feature', layer: L, index: f, positions: [P], value: src }] });
    assert.ok(maxAbsDiff(viaPatch.data, viaSrc.data) < 1e-4);
  });

  it('runs through the analyses (lens, generate) and with the key/value cache as without', async () => {
    const interventions: Intervention[] = [{ kind: 'feature', layer: L, index: f, value: 0 }];
    const cached = await model.generate(tokens, { maxNewTokens: 4, interventions });
    const uncached = await model.generate(tokens, { maxNewTokens: 4, interventions, useCache: false });
    assert.deepEqual(cached, uncached);
    const lens = await runAnalysis(model, 'lens', { prompt: { tokens }, interventions });
    const plain = await runAnalysis(model, 'lens', { prompt: { tokens } });
    assert.notDeepEqual(lens.top[L + 1], plain.top[L + 1]);
  });

  it('the CLI takes it in --interventions and an experiment file replays it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mechlens-feature-'));
    try {
      const iv = { kind: 'feature', layer: L, index: f, positions: [P], value: 0 };
      writeFileSync(join(dir, 'iv.json'), JSON.stringify([iv]));
      const r = await cli('run', '--model', DEFAULT_MODEL, '--tokens', tokens.join(','), '--interventions', join(dir, 'iv.json'), '--json');
      assert.equal(r.code, 0, r.stderr);
      const fromCli = Float32Array.from((JSON.parse(r.stdout) as { logits: number[][] }).logits.at(-1)!);
      const expected = await model.run(tokens, { interventions: [iv as Intervention], lastOnly: true });
      assert.ok(maxAbsDiff(fromCli, expected.data) < 1e-4);
      writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ ...iv, index: 99_999 }]));
      const wrong = await cli('run', '--model', DEFAULT_MODEL, '--tokens', tokens.join(','), '--interventions', join(dir, 'bad.json'));
      assert.equal(wrong.code, 2);
      const width = transcodersFor(model).layers[1]!.dTranscoder;
      assert.match(wrong.stderr, new RegExp(`Feature 99999 is outside layer 1's ${width} features`));
      assert.doesNotMatch(wrong.stderr, /at .*\.js:\d+/, 'no stack trace');
      await assertExperimentReplays(join(dir, 'feature.mlexp.json'), DEFAULT_MODEL, 'lens', { prompt: { tokens }, interventions: [iv] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a layer or index out of range, and a model without transcoders, naming the problem', async () => {
    await assert.rejects(model.run(tokens, { interventions: [{ kind: 'feature', layer: 9, index: 0, value: 0 }] }), /Intervention 1 \(feature L9#0\): Layer 9 is outside the transcoders' 4 layers \(0\.\.3\)/);
    const width = transcodersFor(model).layers[1]!.dTranscoder;
    await assert.rejects(model.run(tokens, { interventions: [{ kind: 'feature', layer: 1, index: 5000, value: 0 }] }), new RegExp(`feature L1#5000\\): Feature 5000 is outside layer 1's ${width} features \\(0\\.\\.${width - 1}\\)`));
    await assert.rejects(async () => runAnalysis(model, 'run', { prompt: { tokens }, interventions: [{ kind: 'feature', layer: 1, index: 2 }] }), /exactly one of value, scale, source or reference \(got none\)/);
    const bare = await Model.load(fixture('gpt2'), { threads: 1 });
    try {
      await assert.rejects(bare.run([1, 2, 3], { interventions: [{ kind: 'feature', layer: 0, index: 0, value: 0 }] }), /feature interventions read the model's transcoders, and .* has no transcoders\/ folder/);
    } finally {
      await bare.dispose();
    }
  });
});
