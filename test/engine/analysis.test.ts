// Invariants of the first analyses: the final logit-lens row is the model's own prediction; DLA
// parts sum to the logit (difference); attention patterns are the model's.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { logitLens } from '../../src/engine/analysis/logitLens';
import { softmax, topIndices } from '../../src/shared/logits';
import type { LensResult } from '../../src/engine/analysis/logitLens';
import { directLogitAttribution } from '../../src/engine/analysis/dla';
import { attentionPatterns } from '../../src/engine/analysis/attention';
import { DEFAULT_MODEL, fixture, maxAbsDiff } from '../support/fixtures';

const TOKENS = [5, 17, 3, 42, 8, 5, 17, 3];

describe('analyses on real models', function () {
  for (const name of ['gpt2', 'llama', 'neox', 'gemma2', 'qwen3', 'gemma3']) {
    describe(name, function () {
      let model: Model;
      before(async () => {
        model = await Model.load(fixture(name));
      });
      after(async () => model.dispose());

      it('logit lens: the last row equals the model logits; one row per layer plus final', async function () {
        const logits = await model.run(TOKENS);
        const V = model.config.dVocab;
        for (const stream of model.config.parallelResidual ? (['pre', 'post'] as const) : (['pre', 'mid', 'post'] as const)) {
          const lens = await logitLens(model, { tokens: TOKENS, stream, full: true, targets: [1, 2], topK: 3 });
          const L = model.config.nLayers;
          assert.equal(lens.labels.length, stream === 'post' ? L : L + 1);
          assert.equal(lens.labels.at(-1), 'final_post');
          assert.equal(lens.labels[0], `0_${stream}`);
          const last = lens.logits!.at(-1)!;
          for (let p = 0; p < TOKENS.length; p++) assert.ok(maxAbsDiff(last[p]!, logits.data.subarray(p * V, (p + 1) * V)) < 1e-5);
          // top-1 of the final row is the model's argmax; target probabilities match the softmax
          const probs = softmax(logits.data.subarray((TOKENS.length - 1) * V));
          const top = lens.top.at(-1)!.at(-1)!;
          assert.equal(top.length, 3);
          assert.ok(Math.abs(top[0]!.prob - Math.max(...probs)) < 1e-6);
          assert.ok(Math.abs(lens.targets!.at(-1)!.at(-1)![1]!.prob - probs[2]!) < 1e-6);
        }
      });

      it('DLA: the parts sum to the logit difference', async function () {
        const r = await directLogitAttribution(model, { tokens: TOKENS, target: 1, baseline: 2 });
        assert.ok(Math.abs(r.total - r.logit) < 1e-4, `sum ${r.total} vs logit ${r.logit}`);
        assert.ok(Math.abs(r.logit) > 1e-3, 'a non-trivial logit difference');
        if (r.heads) {
          r.heads.forEach((row, l) => assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) + r.attnBias[l]! - r.attn[l]!) < 1e-5));
        }
        const single = await directLogitAttribution(model, { tokens: TOKENS, target: 3, position: 2 });
        assert.ok(Math.abs(single.total - single.logit) < 1e-4);
      });

      it('attention patterns are rows of probabilities over earlier positions', async function () {
        const r = await attentionPatterns(model, TOKENS);
        const T = TOKENS.length;
        assert.equal(r.patterns.length, model.config.nLayers);
        const p = r.patterns[0]!;
        for (let h = 0; h < model.config.nHeads; h++) {
          for (let q = 0; q < T; q++) {
            let s = 0;
            for (let k = 0; k < T; k++) {
              const v = p[(h * T + q) * T + k]!;
              if (k > q) assert.equal(v, 0);
              s += v;
            }
            assert.ok(Math.abs(s - 1) < 1e-5);
          }
        }
        assert.equal(r.scores.induction.length, model.config.nLayers);
      });
    });
  }
});

describe('inline inspection', function () {
  it('surprisal is -log2 of the probability the model gave each next token', async function () {
    const { inspectPrompt } = await import('../../src/engine/analysis/inspect');
    const model = await Model.load(fixture('gpt2'));
    try {
      // One forward over the prompt gives both the predictions and the lens' residual streams.
      const forward = model.forward.bind(model);
      let forwards = 0;
      model.forward = (req) => {
        if (req.tokens) forwards++;
        return forward(req);
      };
      const r = await inspectPrompt(model, TOKENS, { topK: 3 });
      assert.equal(forwards, 1, 'one forward over the prompt');
      // The same prompt again: the lens reuses its kept streams, and the predictions come from a forward of their own.
      const again = await inspectPrompt(model, TOKENS, { topK: 3 });
      assert.equal(forwards, 2);
      model.forward = forward;
      const logits = await model.run(TOKENS);
      const V = model.config.dVocab;
      for (const result of [r, again]) {
        assert.equal(result.surprisal[0], null);
        for (let p = 1; p < TOKENS.length; p++) {
          const probs = softmax(logits.data.subarray((p - 1) * V, p * V));
          assert.ok(Math.abs(result.surprisal[p]! - -Math.log2(probs[TOKENS[p]!]!)) < 1e-9);
          assert.equal(result.actual[p]!.rank, Array.from(probs).filter((x) => x > probs[TOKENS[p]!]!).length);
        }
        for (let p = 0; p < TOKENS.length; p++) assert.equal(result.top[p]![0]!.id, topIndices(logits.data.subarray(p * V, (p + 1) * V), 1)[0]);
        assert.equal(result.top.length, TOKENS.length);
        assert.ok(!('lens' in result), 'no lens is decoded for a whole prompt');
      }
      // The hover's one-line lens: one position, decoded from the streams inspection kept (no forward over the
      // prompt), equal to that position in the whole lens; its final row is the model's own prediction.
      model.forward = (req) => {
        if (req.tokens) forwards++;
        return forward(req);
      };
      const whole = await logitLens(model, { tokens: TOKENS, topK: 1 });
      await inspectPrompt(model, TOKENS, { topK: 3 });
      const before = forwards;
      for (const p of [0, 3, TOKENS.length - 1]) {
        const line = await logitLens(model, { tokens: TOKENS, positions: [p], topK: 1 });
        assert.equal(line.top.length, model.config.nLayers + 1);
        line.top.forEach((layer, l) => {
          assert.equal(layer[0]![0]!.id, whole.top[l]![p]![0]!.id, `layer ${l} position ${p}`);
          assert.ok(Math.abs(layer[0]![0]!.prob - whole.top[l]![p]![0]!.prob) < 1e-6);
        });
        assert.equal(line.top.at(-1)![0]![0]!.id, r.top[p]![0]!.id, 'the final lens row agrees with the prediction');
      }
      assert.equal(forwards, before, 'the hover lines ran no forward over the prompt');
      model.forward = forward;
    } finally {
      await model.dispose();
    }
  });
});

/** The graph's summary against the full logits' answers (JavaScript softmax and ranks), every `step`-th position. */
function assertSameLens(summary: LensResult, full: LensResult, step: number): void {
  for (let l = 0; l < full.top.length; l++) {
    for (let p = 0; p < full.top[l]!.length; p += step) {
      assert.deepEqual(summary.top[l]![p]!.map((t) => t.id), full.top[l]![p]!.map((t) => t.id), `layer ${l} position ${p}`);
      summary.top[l]![p]!.forEach((t, j) => assert.ok(Math.abs(t.prob - full.top[l]![p]![j]!.prob) < 1e-5));
      summary.targets![l]![p]!.forEach((t, j) => {
        assert.equal(t.rank, full.targets![l]![p]![j]!.rank);
        assert.ok(Math.abs(t.prob - full.targets![l]![p]![j]!.prob) < 1e-5);
      });
    }
  }
}

describe('logit lens summary in the graph', function () {
  it('top-k, probabilities and target ranks computed in the graph equal those from the full logits', async function () {
    const model = await Model.load(fixture('llama'));
    try {
      const full = await logitLens(model, { tokens: TOKENS, full: true, topK: 4, targets: [1, 7, 50] });
      const summary = await logitLens(model, { tokens: TOKENS, topK: 4, targets: [1, 7, 50] });
      assert.equal(summary.logits, undefined);
      assert.deepEqual(summary.labels, full.labels);
      assertSameLens(summary, full, 1);
    } finally {
      await model.dispose();
    }
  });

  it('a long prompt goes through the summary graph in groups of layers, with the same answers as the full logits', async function () {
    // 250 positions × 5 streams of the bundled model: groups of 4 streams and 1 (SUMMARY_ROWS = 1024 rows).
    const model = await Model.load(DEFAULT_MODEL);
    try {
      const tokens = Array.from({ length: 250 }, (_, i) => (i * 37 + 11) % model.config.dVocab);
      const full = await logitLens(model, { tokens, full: true, topK: 3, targets: [5, 900] });
      const summary = await logitLens(model, { tokens, topK: 3, targets: [5, 900] });
      assert.equal(summary.top.length, model.config.nLayers + 1);
      assertSameLens(summary, full, 7);
    } finally {
      await model.dispose();
    }
  });

  it('on real weights (stories260K): the lens graph\'s last stream has the model\'s own top tokens, probabilities and ranks, computed in float64', async function () {
    const model = await Model.load(join(__dirname, '..', '..', 'models', 'stories260K'));
    try {
      const tokens = model.tokenize('Once upon a time, there was a little girl named Lily. She loved to play outside.').ids;
      const targets = [model.tokenize(' park').ids.at(-1)!, 1, 400];
      const lens = await logitLens(model, { tokens, topK: 5, targets });
      const logits = (await model.run(tokens)).data;
      const V = model.config.dVocab;
      const last = lens.top.length - 1;
      for (let p = 0; p < tokens.length; p++) {
        const row = Array.from(logits.subarray(p * V, (p + 1) * V));
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
        const order = row.map((x, id) => ({ x, id })).sort((a, b) => b.x - a.x || a.id - b.id);
        lens.top[last]![p]!.forEach((t, j) => {
          assert.equal(t.id, order[j]!.id, `position ${p}, top ${j}`);
          assert.ok(Math.abs(t.prob - Math.exp(row[t.id]! - lse)) < 1e-5, `position ${p}: ${t.prob} vs ${Math.exp(row[t.id]! - lse)}`);
        });
        lens.targets![last]![p]!.forEach((t) => {
          assert.equal(t.rank, row.filter((x) => x > row[t.id]!).length);
          assert.ok(Math.abs(t.prob - Math.exp(row[t.id]! - lse)) < 1e-5);
        });
      }
    } finally {
      await model.dispose();
    }
  });
});
