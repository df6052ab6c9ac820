// Gradients from the generated backward graphs against torch autograd (tools/reference/
// make_gradient_fixtures.py: the independent reference model, differentiated by torch) on every
// fixture architecture, full and frozen (torch detach at the same points), with a transcoder-style
// skip path, and with many seed rows sharing one forward. Plus invariants that need no reference:
// a frozen model's gradient does not change with other tokens' activations, and finite differences
// agree on the bundled model.
import type { HookName } from '../../src/engine/hooks';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { computeGradients } from '../../src/engine/gradients';
import { inputSaliency } from '../../src/engine/analysis/saliency';
import type { GradientRequest, HookSeed, LogitMetric } from '../../src/engine/gradients';
import { readSafetensorsHeader } from '../../src/engine/checkpoint/safetensors';
import { DEFAULT_MODEL, fixture, maxAbsDiff, readGolden } from '../support/fixtures';
import type { Golden } from '../support/fixtures';

/** Max |engine - torch| relative to the gradient's max magnitude. */
const RELATIVE_TOLERANCE = 1e-4;
const CASES = ['gpt2', 'neox', 'neox-seq', 'llama', 'qwen2', 'gemma2', 'llama3', 'qwen3', 'gemma3'];

interface Spec {
  metrics: Array<{ target: number; baseline?: number; logprob?: boolean }>;
  seeds: Array<{ hook: string; position: number }>;
  hooks: string[];
}

function readGradientGolden(dir: string): { spec: Spec; tensors: Golden['tensors'] } {
  const file = join(dir, 'gradients.safetensors');
  const spec = JSON.parse(readSafetensorsHeader(file).metadata.spec!) as Spec;
  return { spec, tensors: readGolden(dir, 'gradients.safetensors').tensors };
}

function assertClose(got: Float32Array, want: Float32Array, what: string): void {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  const diff = maxAbsDiff(got, want);
  assert.ok(diff <= RELATIVE_TOLERANCE * Math.max(scale, 1e-3), `${what}: max diff ${diff.toExponential(2)} with max |grad| ${scale.toExponential(2)}`);
}

describe('gradients equal torch autograd', function () {
  for (const name of CASES) {
    describe(name, function () {
      let model: Model;
      let golden: ReturnType<typeof readGradientGolden>;
      let inputIds: number[][];
      let metrics: LogitMetric[];
      before(async function () {
        model = await Model.load(fixture(name));
        golden = readGradientGolden(fixture(name));
        inputIds = readGolden(fixture(name)).inputIds;
        metrics = golden.spec.metrics.map((m) => ({ target: m.target, baseline: m.baseline, logProb: m.logprob }));
      });
      after(async () => model.dispose());

      it('the reference covers every hook the engine has', function () {
        assert.deepEqual(model.hookNames().filter((h) => !golden.spec.hooks.includes(h)), []);
      });

      const check = async (setup: string, req: Omit<GradientRequest, 'wrt'>) => {
        const r = await computeGradients(model, { ...req, wrt: model.hookNames() });
        if (req.metrics) assertClose(r.metric!, golden.tensors.get(`${setup}.metric`)!.data, `${setup} metric`);
        for (const h of model.hookNames()) {
          const want = golden.tensors.get(`${setup}.grad.${h}`)!;
          const got = r.grads.get(h)!;
          assert.deepEqual(got.shape, want.shape, `${setup} ${h} shape`);
          assertClose(got.data, want.data, `${setup} grad ${h}`);
        }
      };

      it('full gradients of a logit difference and a log-probability, every hook', async function () {
        await check('full', { tokens: inputIds, metrics });
      });

      it('frozen attention patterns, norm scales and MLP outputs (torch detach)', async function () {
        await check('frozen', { tokens: inputIds, metrics, freeze: { attention: true, norms: true, mlp: true } });
      });

      it('frozen MLPs with a live linear skip path', async function () {
        const skips = Array.from({ length: model.config.nLayers }, (_, l) => ({
          layer: l,
          input: `blocks.${l}.mlp.hook_in`,
          weight: golden.tensors.get(`skip.W.${l}`)!.data,
        }));
        await check('skip', { tokens: inputIds, metrics, freeze: { attention: true, norms: true, mlp: true, skips } });
      });

      it('seed rows at different hooks and positions share one forward (frozen)', async function () {
        const seeds: HookSeed[] = golden.spec.seeds.map((s, i) => ({ ...s, vector: golden.tensors.get(`seeds.vector.${i}`)!.data }));
        await check('seeds', { tokens: [inputIds[0]!], seeds, freeze: { attention: true, norms: true, mlp: true } });
      });
    });
  }
});

describe('gradients on real weights: stories260K (TinyStories Llama, SentencePiece) against torch autograd', function () {
  const dir = join(__dirname, '..', '..', '..', 'shared', 'reference', 'models', 'stories260K');
  for (const setup of ['full', 'frozen'] as const) {
    it(`${setup}: every hook`, async function () {
      const golden = readGradientGolden(fixture('stories260K'));
      const ids = readGolden(fixture('stories260K'), 'gradients.safetensors').inputIds;
      const model = await Model.load(dir);
      try {
        // The reference looked the pieces up in tokenizer.json by hand; the engine's tokenizer reads them back.
        assert.equal(model.decode(ids[0]!.slice(1)).trim(), 'Once upon a time, there was a little named Lily She');
        const m = golden.spec.metrics[0]!;
        const freeze = setup === 'frozen' ? { attention: true, norms: true, mlp: true } : undefined;
        const r = await computeGradients(model, { tokens: ids, wrt: model.hookNames(), metrics: [{ target: m.target, baseline: m.baseline }], freeze });
        assertClose(r.metric!, golden.tensors.get(`${setup}.metric`)!.data, 'metric');
        assert.deepEqual(model.hookNames().filter((h) => !golden.spec.hooks.includes(h)), []);
        for (const h of model.hookNames()) assertClose(r.grads.get(h)!.data, golden.tensors.get(`${setup}.grad.${h}`)!.data, `${setup} grad ${h}`);
      } finally {
        await model.dispose();
      }
    });
  }
});

describe('gradient invariants', function () {
  const freeze = { attention: true, norms: true, mlp: true };

  it('a frozen model\'s gradient does not change when other tokens\' activations change', async function () {
    // Hold the frozen quantities (patterns, norm scales, MLP outputs) at the clean run's values and
    // perturb the residual stream at every position but the seed's: the linearised model's gradient
    // must stay the same, although the unfrozen gradient changes.
    const model = await Model.load(fixture('gpt2'));
    try {
      const c = model.config;
      const tokens = [[5, 9, 13, 2, 7, 30, 41, 8]];
      const T = tokens[0]!.length;
      const p = 6;
      const seeds = [{ hook: 'blocks.1.hook_resid_post', position: p, vector: Float32Array.from({ length: c.dModel }, (_, i) => Math.sin(i + 1)) }];
      const wrt = ['blocks.0.hook_resid_pre'];
      const held: HookName[] = [];
      for (let l = 0; l < c.nLayers; l++) held.push(`blocks.${l}.attn.hook_pattern`, `blocks.${l}.ln1.hook_scale`, `blocks.${l}.ln2.hook_scale`, `blocks.${l}.mlp.hook_out`);
      held.push('ln_final.hook_scale');
      const clean = await model.forward({ tokens, hooks: held, logits: 'none' });
      const edits = new Map<string, { shape: number[]; keep: Float32Array; add: Float32Array }>();
      for (const h of held) {
        const t = clean.hooks.get(h)!;
        edits.set(h, { shape: t.shape, keep: new Float32Array(t.data.length), add: t.data });
      }
      // Perturb token 0's embedding path: the residual stream changes at positions != p.
      const perturb = new Float32Array(T * c.dModel);
      for (let i = 0; i < T * c.dModel; i++) if (Math.floor(i / c.dModel) !== p) perturb[i] = 0.5 * Math.cos(i);
      const perturbed = new Map(edits);
      perturbed.set('hook_embed', { shape: [1, T, c.dModel], keep: new Float32Array(T * c.dModel).fill(1), add: perturb });
      const free = new Map([['hook_embed', perturbed.get('hook_embed')!]]);

      const base = await computeGradients(model, { tokens, wrt, seeds, freeze });
      const heldClean = await computeGradients(model, { tokens, wrt, seeds, freeze, edits });
      const heldPerturbed = await computeGradients(model, { tokens, wrt, seeds, freeze, edits: perturbed });
      const g0 = base.grads.get(wrt[0]!)!.data;
      assert.ok(maxAbsDiff(g0, heldClean.grads.get(wrt[0]!)!.data) <= 1e-6, 'holding the clean values changes nothing');
      assert.ok(maxAbsDiff(g0, heldPerturbed.grads.get(wrt[0]!)!.data) <= 1e-5, 'the linearised gradient is independent of other tokens\' activations');
      // Control: without freezing, the same perturbation does change the gradient.
      const fullClean = await computeGradients(model, { tokens, wrt, seeds });
      const fullPerturbed = await computeGradients(model, { tokens, wrt, seeds, edits: free });
      assert.ok(maxAbsDiff(fullClean.grads.get(wrt[0]!)!.data, fullPerturbed.grads.get(wrt[0]!)!.data) > 1e-3);
    } finally {
      await model.dispose();
    }
  });

  it('seed rows sharing one forward equal the same rows each with its own forward', async function () {
    const model = await Model.load(fixture('gemma2'));
    try {
      const tokens = [5, 9, 13, 2, 7, 30, 41, 8];
      const d = model.config.dModel;
      const seeds = [0, 1, 2].map((k) => ({ hook: k === 1 ? 'blocks.0.mlp.hook_in' : 'blocks.1.hook_resid_post', position: 7 - 2 * k, vector: Float32Array.from({ length: d }, (_, i) => Math.sin(i * (k + 1))) }));
      const wrt = ['hook_embed', 'blocks.0.hook_resid_mid', 'blocks.1.mlp.hook_post'];
      const shared = await computeGradients(model, { tokens: [tokens], wrt, seeds, freeze });
      const own = await computeGradients(model, { tokens: [tokens, tokens, tokens], wrt, seeds, freeze });
      // Equal to float32 rounding (relative 1e-6): the forward's products see 1 or 3 batch rows, which may
      // change the order in which the CPU kernel sums a dot product, never the result beyond rounding.
      for (const h of wrt) {
        const o = own.grads.get(h)!.data;
        const scale = Math.max(1, ...Array.from(o, Math.abs));
        assert.ok(maxAbsDiff(shared.grads.get(h)!.data, o) <= 1e-6 * scale, h);
      }
    } finally {
      await model.dispose();
    }
  });

  it('metric weights on a row\'s softmax (probs) hold it constant: a KL against another row equals its weights fed, no gradient reaches that row', async function () {
    const model = await Model.load(fixture('gemma2')); // a final soft cap: the softmax is of the capped logits
    try {
      const tokens = [
        [5, 9, 13, 2, 7, 30, 41, 8],
        [5, 9, 14, 2, 7, 31, 41, 8],
      ];
      const V = model.config.dVocab;
      const wrt = ['blocks.0.hook_resid_mid', 'blocks.1.attn.hook_z'];
      // Row 0: KL(p_1 || softmax(logits_0)); row 1 seeds nothing, so its gradient is 0 unless p_1 is differentiated.
      const lse = Float32Array.of(-1, 0);
      const inRun = await computeGradients(model, { tokens, wrt, metricWeights: { weights: new Float32Array(2 * V), logSumExp: lse, probs: Float32Array.of(0, -1, 0, 0) }, logits: true });
      const l1 = inRun.logits!.subarray(V, 2 * V);
      const max = Math.max(...l1);
      let sum = 0;
      for (const v of l1) sum += Math.exp(v - max);
      const weights = new Float32Array(2 * V);
      for (let v = 0; v < V; v++) weights[v] = -Math.exp(l1[v]! - max) / sum;
      const fed = await computeGradients(model, { tokens, wrt, metricWeights: { weights, logSumExp: lse } });
      for (const h of wrt) {
        const [a, b] = [inRun.grads.get(h)!.data, fed.grads.get(h)!.data];
        const n = a.length / 2;
        assert.ok(maxAbsDiff(a, b) <= 1e-6 * Math.max(1, ...b.map(Math.abs)), `${h}: in-run and fed softmax weights`);
        assert.ok(Math.max(...a.subarray(0, n).map(Math.abs)) > 1e-4, `${h}: row 0 has a gradient`);
        assert.ok(Math.max(...a.subarray(n).map(Math.abs)) === 0, `${h}: no gradient through the softmax to row 1`);
      }
    } finally {
      await model.dispose();
    }
  });

  it('finite differences agree on the bundled model (directional derivatives of a logit difference)', async function () {
    const model = await Model.load(DEFAULT_MODEL);
    try {
      const c = model.config;
      const tokens = model.tokenize('When Mary and John went to the store, John gave a drink to').ids;
      const T = tokens.length;
      const metric = { target: model.tokenize(' Mary').ids[0]!, baseline: model.tokenize(' John').ids[0]! };
      const hooks = ['blocks.0.hook_resid_pre', 'blocks.2.hook_resid_mid', 'blocks.3.mlp.hook_post'];
      const g = await computeGradients(model, { tokens: [tokens], wrt: hooks, metrics: [metric] });
      const V = c.dVocab;
      for (const [k, hook] of hooks.entries()) {
        const grad = g.grads.get(hook)!;
        const n = grad.data.length;
        // A random-looking unit direction over every position and feature.
        const u = Float32Array.from({ length: n }, (_, i) => Math.sin(12.9898 * (i + 1) * (k + 1)));
        const norm = Math.hypot(...u);
        for (let i = 0; i < n; i++) u[i]! /= norm;
        let analytic = 0;
        for (let i = 0; i < n; i++) analytic += grad.data[i]! * u[i]!;
        const at = async (eps: number) => {
          const add = Float32Array.from(u, (x) => x * eps);
          const r = await model.forward({ tokens: [tokens], logits: 'last', edits: new Map([[hook, { shape: grad.shape, keep: new Float32Array(n).fill(1), add }]]) });
          return r.logits!.data[metric.target]! - r.logits!.data[metric.baseline]!;
        };
        const eps = 2e-2;
        const numeric = ((await at(eps)) - (await at(-eps))) / (2 * eps);
        assert.ok(Math.abs(numeric - analytic) <= 2e-3 * Math.max(1, Math.abs(analytic)), `${hook}: finite difference ${numeric} vs gradient ${analytic}`);
      }
      assert.equal(V, c.dVocab);
      assert.equal(T, tokens.length);
    } finally {
      await model.dispose();
    }
  });

  it('grad x input equals the derivative along each token\'s own embedding (finite differences)', async function () {
    const model = await Model.load(DEFAULT_MODEL);
    try {
      const tokens = model.tokenize('When Mary and John went to the store, John gave a drink to').ids;
      const T = tokens.length;
      const target = model.tokenize(' Mary').ids[0]!;
      const baseline = model.tokenize(' John').ids[0]!;
      const r = await inputSaliency(model, { tokens, target, baseline, method: 'grad_x_input' });
      const at = async (t: number, scale: number) => {
        const keep = new Float32Array(T).fill(1);
        keep[t] = scale;
        const o = await model.forward({ tokens: [tokens], logits: 'last', edits: new Map([['hook_embed', { shape: [1, T, 1], keep, add: new Float32Array(T) }]]) });
        return o.logits!.data[target]! - o.logits!.data[baseline]!;
      };
      const eps = 1e-2;
      for (const t of [1, 4, T - 1]) {
        const numeric = ((await at(t, 1 + eps)) - (await at(t, 1 - eps))) / (2 * eps);
        assert.ok(Math.abs(numeric - r.scores[t]!) <= 2e-3 * Math.max(1, Math.abs(numeric)), `token ${t}: ${numeric} vs ${r.scores[t]}`);
      }
    } finally {
      await model.dispose();
    }
  });
});
