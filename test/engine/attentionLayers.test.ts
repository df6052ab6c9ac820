// Attention patterns one layer at a time (issue #13): the per-layer patterns equal the ones of one forward of
// every layer bit for bit, on every architecture, with and without interventions (those of a layer's own hooks
// before its pattern included); rows are probability distributions over earlier keys; the `attention` analysis
// returns only the layers asked for, scores every layer, keeps a panel's residual streams for its next layer,
// and its experiment files re-run to the same numbers.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import type { ForwardRequest } from '../../src/engine/model';
import { HEAD_KINDS, attentionPatterns, layerPatterns } from '../../src/engine/analysis/attention';
import { runAnalysis } from '../../src/engine/analysis/registry';
import { makeExperiment, runExperiment } from '../../src/engine/analysis/experiment';
import { serializeExperiment } from '../../src/shared/experiment';
import type { Intervention } from '../../src/shared/interventions';
import type { AnalysisParams } from '../../src/shared/analyses';
import { DEFAULT_MODEL, fixture } from '../support/fixtures';

const TOKENS = [5, 17, 3, 42, 8, 5, 17, 3, 9, 11, 2, 5, 17];

function assertSame(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let bad = 0;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      bad++;
      worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    }
  }
  assert.equal(bad, 0, `${what}: ${bad} values differ (largest by ${worst})`);
}

/** Every row of every head sums to 1 over keys <= query and is 0 after it. */
function assertRows(p: Float32Array, H: number, T: number, what: string): void {
  for (let h = 0; h < H; h++) {
    for (let q = 0; q < T; q++) {
      let s = 0;
      for (let k = 0; k < T; k++) {
        const v = p[(h * T + q) * T + k]!;
        if (k > q) assert.equal(v, 0, `${what} H${h} q${q} k${k}: attends to a later key`);
        assert.ok(v >= 0, `${what}: negative weight`);
        s += v;
      }
      assert.ok(Math.abs(s - 1) < 1e-5, `${what} H${h} q${q}: row sums to ${s}`);
    }
  }
}

describe('attention patterns layer by layer', function () {
  for (const name of ['gpt2', 'llama', 'neox', 'gemma2', 'qwen3', 'gemma3', 'qwen2-swa', 'mistral']) {
    it(`${name}: equal to one forward's patterns exactly, rows sum to 1, same scores (layers in any order)`, async function () {
      const model = await Model.load(fixture(name));
      try {
        const { nLayers: L, nHeads: H } = model.config;
        const all = await attentionPatterns(model, TOKENS);
        const order = Array.from({ length: L }, (_, l) => L - 1 - l);
        const seen: number[] = [];
        for await (const lp of layerPatterns(model, TOKENS, { layers: order })) {
          seen.push(lp.layer);
          assertSame(lp.pattern, all.patterns[lp.layer]!, `${name} layer ${lp.layer}`);
          assertRows(lp.pattern, H, TOKENS.length, `${name} layer ${lp.layer}`);
          for (const kind of HEAD_KINDS) assert.deepEqual(lp.scores[kind], all.scores[kind][lp.layer]);
        }
        assert.deepEqual(seen, order);
        // As a panel asks (streams kept): layer 0 first (only its stream), then the last layer (the streams continued
        // from the deepest one held), then every layer: still the one forward's patterns, bit for bit.
        const tokens = [...TOKENS, 1, 2];
        const ref = await attentionPatterns(model, tokens);
        for (const ask of [[0], [L - 1], order]) {
          for await (const lp of layerPatterns(model, tokens, { layers: ask, keep: true })) assertSame(lp.pattern, ref.patterns[lp.layer]!, `${name} layer ${lp.layer} after [${ask.join(',')}]`);
        }
      } finally {
        await model.dispose();
      }
    });
  }

  for (const name of ['gpt2', 'gemma3']) {
    it(`${name}: equal under interventions, those on a layer's own q, k and pattern included`, async function () {
      const model = await Model.load(fixture(name));
      try {
        const { dModel: d } = model.config;
        const interventions: Intervention[] = [
          { kind: 'add', hook: 'blocks.0.hook_resid_pre', positions: [2], vector: Array.from({ length: d }, (_, i) => Math.sin(i)), scale: 0.5 },
          { kind: 'zero', hook: 'blocks.0.attn.hook_z', heads: [0] },
          { kind: 'scale', hook: 'blocks.1.attn.hook_q', factor: 1.7 },
          { kind: 'patch', hook: 'blocks.1.attn.hook_k', positions: [4, 5], source: { tokens: TOKENS.map((t) => (t + 3) % 50) } },
          { kind: 'zero', hook: 'blocks.1.attn.hook_pattern', heads: [1], positions: [6] },
          { kind: 'scale', hook: 'blocks.1.hook_resid_pre', factor: 0.9 },
        ];
        const all = await attentionPatterns(model, TOKENS, undefined, interventions);
        const plain = await attentionPatterns(model, TOKENS);
        let changed = false;
        for await (const lp of layerPatterns(model, TOKENS, { interventions })) {
          assertSame(lp.pattern, all.patterns[lp.layer]!, `${name} layer ${lp.layer} under interventions`);
          changed ||= lp.pattern.some((v, i) => v !== plain.patterns[lp.layer]![i]);
        }
        assert.ok(changed, 'the interventions change the patterns');
      } finally {
        await model.dispose();
      }
    });
  }

  describe('the attention analysis', function () {
    let model: Model;
    before(async () => {
      model = await Model.load(DEFAULT_MODEL);
    });
    after(async () => model.dispose());

    it('every layer by default, as one forward gives them (no `layers` field: old experiment files compare equal)', async function () {
      const r = await runAnalysis(model, 'attention', { prompt: { tokens: TOKENS } });
      const ref = await attentionPatterns(model, TOKENS);
      assert.equal(r.layers, undefined);
      assert.equal(r.patterns.length, model.config.nLayers);
      r.patterns.forEach((p, l) => assertSame(p, ref.patterns[l]!, `layer ${l}`));
      assert.deepEqual(r.scores, ref.scores);
    });

    it('`layers`: only those patterns, in that order; every layer scored unless `allScores: false`', async function () {
      const L = model.config.nLayers;
      const ref = await attentionPatterns(model, TOKENS);
      const two = await runAnalysis(model, 'attention', { prompt: { tokens: TOKENS }, layers: [L - 1, 0] });
      assert.deepEqual(two.layers, [L - 1, 0]);
      assertSame(two.patterns[0]!, ref.patterns[L - 1]!, 'first');
      assertSame(two.patterns[1]!, ref.patterns[0]!, 'second');
      assert.deepEqual(two.scores, ref.scores);
      const one = await runAnalysis(model, 'attention', { prompt: { tokens: TOKENS }, layers: [1], allScores: false });
      assert.equal(one.patterns.length, 1);
      for (const kind of HEAD_KINDS) {
        assert.equal(one.scores[kind].length, L);
        one.scores[kind].forEach((row, l) => assert.deepEqual(row, l === 1 ? ref.scores[kind][1] : []));
      }
      const none = await runAnalysis(model, 'attention', { prompt: { tokens: TOKENS }, layers: [] });
      assert.equal(none.patterns.length, 0);
      assert.deepEqual(none.scores, ref.scores);
      await assert.rejects(runAnalysis(model, 'attention', { prompt: { tokens: TOKENS }, layers: [L] }), new RegExp(`Layer ${L} is out of range: .* has layers 0\\.\\.${L - 1}`));
    });

    it("a panel's next layer on the same prompt runs no forward of the model (its residual streams are kept)", async function () {
      const tokens = [...TOKENS, 7];
      const calls: ForwardRequest[] = [];
      const forward = model.forward.bind(model);
      model.forward = (req) => (calls.push(req), forward(req));
      try {
        await runAnalysis(model, 'attention', { prompt: { tokens }, layers: [0], allScores: false });
        const first = calls.filter((c) => c.tokens).length;
        assert.equal(first, 1, 'one forward from the tokens');
        await runAnalysis(model, 'attention', { prompt: { tokens }, layers: [], allScores: true });
        await runAnalysis(model, 'attention', { prompt: { tokens }, layers: [1], allScores: false });
        assert.equal(calls.filter((c) => c.tokens).length, first, 'no other forward from the tokens');
        await runAnalysis(model, 'attention', { prompt: { tokens: [...tokens, 1] }, layers: [1], allScores: false });
        assert.equal(calls.filter((c) => c.tokens).length, first + 1, 'a new prompt runs its forward');
      } finally {
        model.forward = forward;
      }
    });

    it('an experiment of one layer (what the panel saves for a long prompt) re-runs to the same results', async function () {
      const dir = mkdtempSync(join(tmpdir(), 'mlexp-attn-'));
      const cases: Array<[string, AnalysisParams<'attention'>]> = [
        ['one.mlexp.json', { prompt: { tokens: TOKENS }, layers: [1] }],
        ['all.mlexp.json', { prompt: { tokens: TOKENS } }],
      ];
      for (const [file, params] of cases) {
        const path = join(dir, file);
        const r = await runAnalysis(model, 'attention', params);
        writeFileSync(path, serializeExperiment(makeExperiment(model, 'attention', params, r, { file: path })));
        const again = await runExperiment(path);
        assert.equal(again.resultsChanged, false, `${file}: max difference ${again.maxAbsDiff}`);
        assert.equal((again.results as { patterns: unknown[] }).patterns.length, 'layers' in params ? 1 : model.config.nLayers);
      }
    });
  });
});
