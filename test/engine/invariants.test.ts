// Invariants of hooks and interventions that hold whatever the weights: each could fail if the graph
// wired a hook or an intervention wrongly.
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model';
import { fixture, maxAbsDiff } from '../support/fixtures';

const A = [5, 17, 3, 42, 8, 99, 23, 61];
const B = [7, 11, 64, 2, 30, 14, 88, 50];

function logitDiff(a: Float32Array, b: Float32Array): number {
  return maxAbsDiff(a, b);
}

describe('engine invariants', function () {
  for (const name of ['gpt2', 'llama', 'gemma2', 'neox', 'llama3', 'qwen3', 'gemma3', 'mistral']) {
    describe(name, function () {
      let model: Model;
      before(async () => {
        model = await Model.load(fixture(name));
      });
      after(async () => model.dispose());

      it('patching every hook from the same prompt changes nothing', async function () {
        const clean = await model.run(A);
        const writable = ['hook_resid_pre', 'attn.hook_z', 'attn.hook_pattern', 'hook_attn_out', 'mlp.hook_post', 'hook_mlp_out', 'hook_resid_post'];
        const interventions = writable.map((h) => ({ kind: 'patch' as const, hook: `blocks.1.${h}`, source: { tokens: A } }));
        const patched = await model.run(A, { interventions });
        assert.ok(logitDiff(patched.data, clean.data) < 1e-5);
      });

      it("patching all of layer 0's hook_resid_pre from prompt B reproduces B's logits", async function () {
        const b = await model.run(B);
        const patched = await model.run(A, { interventions: [{ kind: 'patch', hook: 'blocks.0.hook_resid_pre', source: { tokens: B } }] });
        const a = await model.run(A);
        assert.ok(logitDiff(a.data, b.data) > 1e-2, 'the prompts must differ for the test to mean something');
        assert.ok(logitDiff(patched.data, b.data) < 1e-5);
      });

      it('a batch gives the same numbers as single runs', async function () {
        const batch = await model.forward({ tokens: [A, B], hooks: ['blocks.1.attn.hook_pattern'] });
        const a = await model.forward({ tokens: [A], hooks: ['blocks.1.attn.hook_pattern'] });
        const b = await model.forward({ tokens: [B], hooks: ['blocks.1.attn.hook_pattern'] });
        const half = batch.logits!.data.length / 2;
        assert.ok(maxAbsDiff(batch.logits!.data.subarray(0, half), a.logits!.data) < 1e-5);
        assert.ok(maxAbsDiff(batch.logits!.data.subarray(half), b.logits!.data) < 1e-5);
        const p = batch.hooks.get('blocks.1.attn.hook_pattern')!.data;
        assert.ok(maxAbsDiff(p.subarray(p.length / 2), b.hooks.get('blocks.1.attn.hook_pattern')!.data) < 1e-6);
      });

      it('a batch may carry a different intervention per row', async function () {
        const batch = await model.forward({
          tokens: [A, A],
          interventions: [{ kind: 'zero', hook: 'blocks.0.hook_attn_out', rows: [1] }],
        });
        const ablated = await model.run(A, { interventions: [{ kind: 'zero', hook: 'blocks.0.hook_attn_out' }] });
        const clean = await model.run(A);
        const half = batch.logits!.data.length / 2;
        assert.ok(maxAbsDiff(batch.logits!.data.subarray(0, half), clean.data) < 1e-5);
        assert.ok(maxAbsDiff(batch.logits!.data.subarray(half), ablated.data) < 1e-5);
        assert.ok(maxAbsDiff(ablated.data, clean.data) > 1e-3);
      });

      it('greedy generation with the key/value cache equals generation without it', async function () {
        const withCache = await model.generate(A, { maxNewTokens: 10 });
        const without = await model.generate(A, { maxNewTokens: 10, useCache: false });
        assert.deepEqual(withCache, without);
        // ... and with a steering intervention applied during generation
        const steer = [{ kind: 'add' as const, hook: 'blocks.0.hook_resid_post', vector: Array.from({ length: model.config.dModel }, (_, i) => Math.sin(i)), scale: 2 }];
        const s1 = await model.generate(A, { maxNewTokens: 6, interventions: steer });
        const s2 = await model.generate(A, { maxNewTokens: 6, interventions: steer, useCache: false });
        assert.deepEqual(s1, s2);
      });

      it('the cached keys/values give the same last-position logits as a full forward', async function () {
        const prefix = await model.forward({ tokens: [A.slice(0, 5)], returnCache: true, logits: 'last' });
        const step = await model.forward({ tokens: [A.slice(5)], past: prefix.cache, returnCache: true, logits: 'all' });
        const full = await model.forward({ tokens: [A], logits: 'all' });
        const V = model.config.dVocab;
        assert.ok(maxAbsDiff(step.logits!.data, full.logits!.data.subarray(5 * V)) < 1e-5);
      });
    });
  }

  it('zero-ablating one head equals the hand computation (gpt2, last layer, MLP frozen)', async function () {
    const model = await Model.load(fixture('gpt2'));
    try {
      const L = model.config.nLayers - 1;
      const head = 2;
      const r = await model.runWithCache(A, [`blocks.${L}.hook_resid_post`, `blocks.${L}.attn.hook_result`]);
      // The MLP after the head is frozen at its clean output (patched from the same prompt), so the
      // only change is the head's output leaving the residual stream.
      const ablated = await model.run(A, {
        interventions: [
          { kind: 'zero', hook: `blocks.${L}.attn.hook_z`, heads: [head] },
          { kind: 'patch', hook: `blocks.${L}.hook_mlp_out`, source: { tokens: A } },
        ],
      });
      // By hand: subtract the head's result, then final LayerNorm and unembedding.
      const { dModel: d, nHeads: H, dVocab: V, normEps } = model.config;
      const resid = r.hooks.get(`blocks.${L}.hook_resid_post`)!.data;
      const result = r.hooks.get(`blocks.${L}.attn.hook_result`)!.data;
      const { w, b } = model.spec.weights.lnFinal;
      const WU = model.spec.weights.W_U;
      let worst = 0;
      for (let t = 0; t < A.length; t++) {
        const x = new Float64Array(d);
        for (let i = 0; i < d; i++) x[i] = resid[t * d + i]! - result[(t * H + head) * d + i]!;
        const mean = x.reduce((s, v) => s + v, 0) / d;
        const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / d;
        const xn = Array.from(x, (v, i) => ((v - mean) / Math.sqrt(variance + normEps)) * w[i]! + (b ? b[i]! : 0));
        for (let v = 0; v < V; v++) {
          let logit = 0;
          for (let i = 0; i < d; i++) logit += xn[i]! * WU[v * d + i]!;
          worst = Math.max(worst, Math.abs(logit - ablated.data[t * V + v]!));
        }
      }
      assert.ok(worst < 1e-4, `hand computation differs by ${worst}`);
    } finally {
      await model.dispose();
    }
  });
});
