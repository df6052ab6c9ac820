// The views re-render under the interventions the user clicks: the logit lens, attention and DLA
// analyses take `interventions`. Invariants on the bundled model: patching every position of
// blocks.0.hook_resid_pre from another prompt of the same length makes the lens, the patterns and the final
// logit those of that prompt; a zero ablation at layer l leaves every lens row before l unchanged and
// changes the rows from l on; the view-level specs compile to what the engine runs (compileUiIntervention);
// the worker loads the random-init control the views toggle.
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model';
import { runAnalysis } from '../../src/engine/analysis/registry';
import { compileUiIntervention } from '../../src/shared/patchUi';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { RpcEndpoint, RpcError } from '../../src/shared/rpc';
import type { EngineProtocol } from '../../src/shared/protocol';
import { DEFAULT_MODEL, maxAbsDiff } from '../support/fixtures';

describe('analyses under interventions (the views\' click-to-patch)', function () {
  let model: Model;
  let a: number[];
  let b: number[];
  before(async () => {
    model = await Model.load(DEFAULT_MODEL);
    a = model.tokenize('When Mary and John went to the store, John gave a drink to').ids;
    b = model.tokenize('When Mary and John went to the store, Mary gave a drink to').ids;
    assert.equal(a.length, b.length);
  });
  after(() => model.dispose());

  const patchAll = (source: number[]) => [{ kind: 'patch' as const, hook: 'blocks.0.hook_resid_pre', source: { tokens: source } }];

  it('lens: patching all of resid_pre 0 from prompt B gives B\'s lens', async () => {
    const patched = await runAnalysis(model, 'lens', { prompt: { tokens: a }, full: true, interventions: patchAll(b) });
    const ref = await runAnalysis(model, 'lens', { prompt: { tokens: b }, full: true });
    for (let l = 0; l < ref.logits!.length; l++) {
      for (let p = 0; p < b.length; p++) assert.ok(maxAbsDiff(patched.logits![l]![p]!, ref.logits![l]![p]!) < 1e-4, `layer ${l} pos ${p}`);
    }
  });

  it('lens: a zero ablation at layer l changes rows from l on and none before', async () => {
    const L = model.config.nLayers;
    const l = Math.min(2, L - 1);
    const pos = a.length - 1;
    const clean = await runAnalysis(model, 'lens', { prompt: { tokens: a }, full: true });
    const ablated = await runAnalysis(model, 'lens', { prompt: { tokens: a }, full: true, interventions: [{ kind: 'zero', hook: `blocks.${l}.hook_resid_pre`, positions: [pos] }] });
    for (let row = 0; row <= L; row++) {
      const d = maxAbsDiff(clean.logits![row]![pos]!, ablated.logits![row]![pos]!);
      if (row < l) assert.equal(d, 0, `row ${row} is before the ablation`);
      else assert.ok(d > 1e-3, `row ${row} should change (max |Δ| ${d})`);
    }
    // Other positions before the ablated one are untouched at every layer (causal attention).
    assert.equal(maxAbsDiff(clean.logits![L]![0]!, ablated.logits![L]![0]!), 0);
  });

  it('attention: patterns under the patch are B\'s patterns', async () => {
    const patched = await runAnalysis(model, 'attention', { prompt: { tokens: a }, interventions: patchAll(b) });
    const ref = await runAnalysis(model, 'attention', { prompt: { tokens: b } });
    for (let l = 0; l < ref.patterns.length; l++) assert.ok(maxAbsDiff(patched.patterns[l]!, ref.patterns[l]!) < 1e-5, `layer ${l}`);
  });

  it('DLA: the logit under interventions is the patched run\'s logit', async () => {
    const target = model.tokenize(' Mary').ids[0]!;
    const ivs = [{ kind: 'zero' as const, hook: `blocks.${model.config.nLayers - 1}.attn.hook_z`, heads: [0] }];
    const d = await runAnalysis(model, 'dla', { prompt: { tokens: a }, target, interventions: ivs });
    const run = await runAnalysis(model, 'run', { prompt: { tokens: a }, interventions: ivs });
    assert.ok(Math.abs(d.logit - run.logits.data[target]!) < 1e-3, `${d.logit} vs ${run.logits.data[target]}`);
    const clean = await runAnalysis(model, 'dla', { prompt: { tokens: a }, target });
    assert.ok(Math.abs(clean.logit - d.logit) > 1e-3, 'ablating a late head changes the logit');
  });

  it('view specs compile to what the engine runs: resample = patch from the counterfactual; head sites carry the head', async () => {
    const ctx = { nLayers: model.config.nLayers, nHeads: model.config.nHeads, hasResidMid: true, prompt: a, counterfactual: b };
    const ivs = compileUiIntervention({ kind: 'resample', site: 'resid_pre', from: 0, to: 0 }, ctx);
    const viaSpec = await runAnalysis(model, 'run', { prompt: { tokens: a }, interventions: ivs });
    const direct = await runAnalysis(model, 'run', { prompt: { tokens: b } });
    assert.ok(maxAbsDiff(viaSpec.logits.data, direct.logits.data) < 1e-4);
    const last = model.config.nLayers - 1;
    const head = compileUiIntervention({ kind: 'zero', site: 'z', from: last, to: last, head: 0 }, ctx);
    assert.deepEqual(head, [{ kind: 'zero', hook: `blocks.${last}.attn.hook_z`, heads: [0] }]);
    // Mean ablation over the prompt itself at every position of a layer's MLP output runs and changes the output.
    const mean = compileUiIntervention({ kind: 'mean', site: 'mlp_out', from: 0, to: model.config.nLayers - 1 }, ctx);
    const m = await runAnalysis(model, 'run', { prompt: { tokens: a }, interventions: mean });
    assert.ok(maxAbsDiff(m.logits.data, (await runAnalysis(model, 'run', { prompt: { tokens: a } })).logits.data) > 1e-3);
  });
});

describe('the views\' random-init control (worker model/load randomInit)', function () {
  it('loads the re-initialised architecture: named so, seeded (same seed, same logits), unlike the trained model', async function () {
    const worker = new Worker(join(__dirname, '..', '..', 'dist', 'worker.js'));
    const rpc = new RpcEndpoint<Record<string, never>, EngineProtocol>((m, transfer) => worker.postMessage(m, transfer ?? []), {});
    worker.on('message', (m: unknown) => rpc.handle(m));
    worker.on('error', (e) => rpc.close(new RpcError('worker-crashed', e.message)));
    try {
      const prompt = { text: 'When Mary and John went to the store, John gave a drink to' };
      const trained = await rpc.call('model/load', { dir: DEFAULT_MODEL });
      const a = (await rpc.call('analysis/run', { prompt })).logits.data;
      const info = await rpc.call('model/load', { dir: DEFAULT_MODEL, randomInit: 7 });
      assert.equal(info.name, `${trained.name} (random init, seed 7)`);
      const b = (await rpc.call('analysis/run', { prompt })).logits.data;
      await rpc.call('model/load', { dir: DEFAULT_MODEL, randomInit: 7 });
      const c = (await rpc.call('analysis/run', { prompt })).logits.data;
      assert.ok(maxAbsDiff(a, b) > 1, 'the re-initialised model predicts differently');
      assert.equal(maxAbsDiff(b, c), 0, 'the same seed gives the same weights');
    } finally {
      await worker.terminate();
    }
  });
});
