// Click-to-patch without a model: the host's one intervention state (validation of what a webview sends,
// undo, clear, the counterfactual), what the views' messages may carry, the compilation of a view spec into
// engine interventions, the before/after comparison against hand-computed values, sweep cells as specs,
// and the counterfactual-pair helpers.
import assert from 'node:assert/strict';
import { InterventionStore, MAX_INTERVENTIONS } from '../../src/host/interventionStore';
import { validateAnalysisParams } from '../../src/shared/analysisProtocol';
import { validatePromptPanelParams } from '../../src/shared/panelProtocol';
import { activeFeatureList, compareLogits, compileUiIntervention, featureName, noTranscodersReason, parseFeatureRef, shuffledTokens, specProblem, sweepCellIntervention, uiLabel } from '../../src/shared/patchUi';
import type { UiIntervention } from '../../src/shared/patchUi';
import { alignPair, changeNumber, moveLastName, pairNames, swapNames } from '../../src/shared/pairs';
import { RpcError } from '../../src/shared/rpc';
import { sweepGrid } from '../../webview/patch/plot';

const badInput = (re: RegExp) => (e: unknown) => e instanceof RpcError && e.code === 'bad-input' && re.test(e.message);

describe('intervention state (host)', () => {
  const zero: UiIntervention = { kind: 'zero', site: 'mlp_out', from: 1, to: 1, positions: [3] };

  it('adds, removes, clears and undoes, notifying listeners each time', () => {
    const s = new InterventionStore();
    const seen: number[] = [];
    s.onDidChange((v) => seen.push(v.chips.length));
    const a = s.add(zero, 'chip a');
    assert.equal(a.chips.length, 1);
    assert.equal(a.chips[0]!.label, 'chip a');
    assert.equal(a.canUndo, true);
    s.add({ ...zero, kind: 'mean' }, 'chip b');
    // The same spec twice is one chip, and no change.
    s.add(zero, 'again');
    assert.equal(s.view().chips.length, 2);
    s.remove(a.chips[0]!.id);
    assert.deepEqual(s.view().chips.map((c) => c.label), ['chip b']);
    s.clear();
    assert.equal(s.view().chips.length, 0);
    s.undo();
    assert.deepEqual(s.view().chips.map((c) => c.label), ['chip b']);
    s.undo();
    assert.deepEqual(s.view().chips.map((c) => c.label), ['chip a', 'chip b']);
    assert.deepEqual(seen, [1, 2, 1, 0, 1, 2]);
    s.undo();
    s.undo();
    assert.equal(s.view().canUndo, false);
    assert.throws(() => s.undo(), badInput(/Nothing to undo/));
  });

  it('validates what a webview sends (a malformed spec never enters the state)', () => {
    const s = new InterventionStore();
    assert.throws(() => s.add({ ...zero, kind: 'explode' }, 'x'), badInput(/kind must be one of zero, mean, resample, patch/));
    assert.throws(() => s.add({ ...zero, site: 'hook_embed' }, 'x'), badInput(/site must be one of/));
    assert.throws(() => s.add({ ...zero, from: 3, to: 1 }, 'x'), badInput(/"from" must not exceed "to"/));
    assert.throws(() => s.add({ ...zero, head: 1 }, 'x'), badInput(/"head" applies to head sites only/));
    assert.throws(() => s.add({ ...zero, positions: [1, 1] }, 'x'), badInput(/must not repeat/));
    assert.throws(() => s.add({ ...zero, positions: [-1] }, 'x'), badInput(/positions\[0\] must be a token position/));
    assert.throws(() => s.add({ ...zero, extra: 1 }, 'x'), badInput(/unknown field "extra"/));
    assert.throws(() => s.add(null, 'x'), badInput(/must be an object/));
    assert.equal(s.view().chips.length, 0);
    assert.equal(s.view().canUndo, false);
    assert.throws(() => s.remove(99), badInput(/No active intervention has id 99/));
  });

  it('bounds the state and keeps the counterfactual in the undo history', () => {
    const s = new InterventionStore();
    for (let p = 0; p < MAX_INTERVENTIONS; p++) s.add({ ...zero, positions: [p] }, `p${p}`);
    assert.throws(() => s.add({ ...zero, positions: [999] }, 'one more'), badInput(/At most 64/));
    s.clear();
    s.setCounterfactual('When John and Mary went');
    assert.equal(s.view().counterfactual, 'When John and Mary went');
    s.setCounterfactual('   ');
    assert.equal(s.counterfactual, null);
    s.undo();
    assert.equal(s.counterfactual, 'When John and Mary went');
    // The random-init control is shared state too, but not an edit Undo takes back.
    const fired: Array<number | null> = [];
    s.onDidChange((v) => fired.push(v.randomInit));
    s.setRandomInit(0);
    s.setRandomInit(0);
    assert.deepEqual(fired, [0]);
    assert.equal(s.view().randomInit, 0);
    s.setCounterfactual(null);
    s.undo();
    assert.equal(s.view().randomInit, 0);
  });

  it('keeps a reference set for mean ablation: blank lines dropped, an empty file refused, undoable', () => {
    const s = new InterventionStore();
    assert.throws(() => s.setReference({ name: 'empty.txt', prompts: ['', '  '] }), badInput(/empty.txt holds no prompt/));
    s.setReference({ name: 'refs.txt', prompts: ['The cat sat', '', 'A dog ran'] });
    assert.deepEqual(s.view().reference, { name: 'refs.txt', count: 2 });
    assert.deepEqual(s.reference, ['The cat sat', 'A dog ran']);
    s.setReference(null);
    assert.equal(s.view().reference, null);
    s.undo();
    assert.equal(s.view().reference?.count, 2);
  });

  it('the views\' params tables accept the intervention messages and refuse bad ones', () => {
    for (const validate of [validateAnalysisParams, validatePromptPanelParams]) {
      validate('interventions/add', { spec: zero });
      validate('interventions/remove', { id: 1 });
      validate('interventions/compare', {});
      validate('interventions/randomInit', { seed: 3 });
      validate('interventions/randomInit', {});
      assert.throws(() => validate('interventions/randomInit', { seed: -1 }), badInput(/seed must be a seed/));
      assert.throws(() => validate('interventions/add', { spec: { ...zero, to: 'all' } }), badInput(/interventions\/add: spec: to must be a layer index/));
      assert.throws(() => validate('interventions/remove', { id: 0 }), badInput(/id must be a chip id/));
      assert.throws(() => validate('interventions/clear', { all: true }), badInput(/unknown field "all"/));
    }
  });
});

describe('view specs to engine interventions', () => {
  const ctx = { nLayers: 4, nHeads: 4, hasResidMid: true, prompt: [10, 11, 12, 13], counterfactual: [10, 11, 14, 13] };

  it('one intervention per layer of the range, positions and head carried', () => {
    assert.deepEqual(compileUiIntervention({ kind: 'zero', site: 'attn_out', from: 1, to: 2, positions: [2] }, ctx), [
      { kind: 'zero', hook: 'blocks.1.hook_attn_out', positions: [2] },
      { kind: 'zero', hook: 'blocks.2.hook_attn_out', positions: [2] },
    ]);
    assert.deepEqual(compileUiIntervention({ kind: 'patch', site: 'z', from: 3, to: 3, head: 1 }, ctx), [{ kind: 'patch', hook: 'blocks.3.attn.hook_z', heads: [1], source: { tokens: ctx.counterfactual } }]);
    assert.deepEqual(compileUiIntervention({ kind: 'mean', site: 'resid_post', from: 0, to: 0 }, ctx), [
      { kind: 'mean', hook: 'blocks.0.hook_resid_post', reference: [{ tokens: ctx.prompt }, { tokens: ctx.counterfactual }] },
    ]);
    // A loaded reference set replaces the prompt and the counterfactual as what the mean is over.
    assert.deepEqual(compileUiIntervention({ kind: 'mean', site: 'mlp_out', from: 2, to: 2, positions: [1] }, { ...ctx, reference: [[5, 6], [7]] }), [
      { kind: 'mean', hook: 'blocks.2.hook_mlp_out', positions: [1], reference: [{ tokens: [5, 6] }, { tokens: [7] }] },
    ]);
  });

  it('resample reads the counterfactual, else a seeded shuffle of the prompt', () => {
    const [withCf] = compileUiIntervention({ kind: 'resample', site: 'mlp_out', from: 0, to: 0 }, ctx);
    assert.deepEqual(withCf, { kind: 'patch', hook: 'blocks.0.hook_mlp_out', source: { tokens: ctx.counterfactual } });
    const [noCf] = compileUiIntervention({ kind: 'resample', site: 'mlp_out', from: 0, to: 0 }, { ...ctx, counterfactual: undefined, seed: 7 });
    const src = (noCf as { source: { tokens: number[] } }).source.tokens;
    assert.deepEqual([...src].sort(), [...ctx.prompt].sort());
    assert.deepEqual(src, shuffledTokens(ctx.prompt, 7));
  });

  it('refuses what cannot run, saying why', () => {
    assert.throws(() => compileUiIntervention({ kind: 'zero', site: 'mlp_out', from: 0, to: 4 }, ctx), badInput(/layer 4 is beyond the model \(layers 0..3\)/));
    assert.throws(() => compileUiIntervention({ kind: 'zero', site: 'z', from: 0, to: 0, head: 4 }, ctx), badInput(/head 4 is beyond the model/));
    assert.throws(() => compileUiIntervention({ kind: 'zero', site: 'mlp_out', from: 0, to: 0, positions: [4] }, ctx), badInput(/position 4 is beyond the prompt/));
    assert.throws(() => compileUiIntervention({ kind: 'patch', site: 'mlp_out', from: 0, to: 0 }, { ...ctx, counterfactual: undefined }), badInput(/patching needs a counterfactual prompt/));
    assert.throws(() => compileUiIntervention({ kind: 'patch', site: 'mlp_out', from: 0, to: 0 }, { ...ctx, counterfactual: [1, 2, 3] }), badInput(/counterfactual has 3 tokens and the prompt 4; position-wise patching needs equal lengths/));
    assert.throws(() => compileUiIntervention({ kind: 'zero', site: 'resid_mid', from: 0, to: 0 }, { ...ctx, hasResidMid: false }), badInput(/parallel residual/));
  });

  it('labels chips with the layer range, head and token', () => {
    const text = (p: number) => ['a', ' Mary', 'c'][p];
    assert.equal(uiLabel({ kind: 'zero', site: 'mlp_out', from: 1, to: 3, positions: [1] }, text), 'zero · MLP out · L1–3 · “ Mary”@1');
    assert.equal(uiLabel({ kind: 'patch', site: 'z', from: 3, to: 3, head: 0 }, text), 'patch · head output 3.0 · all positions');
  });
});

describe('before/after comparison', () => {
  it('Δ logit, Δ p and KL(clean || patched) as computed by hand', () => {
    const clean = [Math.log(0.5), Math.log(0.3), Math.log(0.2)];
    const patched = [Math.log(0.2), Math.log(0.3), Math.log(0.5)];
    const c = compareLogits(clean, patched, (id) => `t${id}`, 2, 7);
    // Union of each run's top 2: clean's (0, 1), then token 2 (patched's top).
    assert.deepEqual(c.rows.map((r) => r.id), [0, 1, 2]);
    assert.ok(Math.abs(c.rows[0]!.cleanProb - 0.5) < 1e-12 && Math.abs(c.rows[0]!.patchedProb - 0.2) < 1e-12);
    assert.equal(c.rows[2]!.text, 't2');
    const kl = 0.5 * Math.log(0.5 / 0.2) + 0.3 * Math.log(1) + 0.2 * Math.log(0.2 / 0.5);
    assert.ok(Math.abs(c.kl - kl) < 1e-12, `${c.kl} vs ${kl}`);
    assert.equal(c.position, 7);
    // Logit shifts do not change probabilities or KL.
    const shifted = compareLogits(clean, patched.map((x) => x + 5), String, 2);
    assert.ok(Math.abs(shifted.kl - kl) < 1e-12);
    assert.equal(compareLogits(clean, clean, String).kl, 0);
  });
});

describe('sweep cells as view interventions', () => {
  it('maps each sweep layout back to the patch it stands for', () => {
    assert.deepEqual(sweepCellIntervention({ sweep: 'resid_pre', dims: ['layer', 'pos'], layers: [0, 1, 2, 3] }, [2, 5]), { kind: 'patch', site: 'resid_pre', from: 2, to: 2, positions: [5] });
    assert.deepEqual(sweepCellIntervention({ sweep: 'z', dims: ['layer', 'head'], layers: [1, 3] }, [1, 0]), { kind: 'patch', site: 'z', from: 3, to: 3, head: 0 });
    assert.deepEqual(sweepCellIntervention({ sweep: 'z_by_pos', dims: ['layer', 'head', 'pos'], layers: [0, 1] }, [1, 2, 4]), { kind: 'patch', site: 'z', from: 1, to: 1, positions: [4], head: 2 });
    assert.deepEqual(sweepCellIntervention({ sweep: 'k', dims: ['layer', 'kv_head'], layers: [0] }, [0, 1]), { kind: 'patch', site: 'k', from: 0, to: 0, head: 1 });
  });
});

describe('counterfactual pairs', () => {
  it('alignment: equal length and the differing positions', () => {
    const t = (...ids: number[]) => ids.map((id) => ({ id }));
    assert.deepEqual(alignPair(t(1, 2, 3), t(1, 5, 3)), { sameLength: true, mismatches: [1] });
    assert.deepEqual(alignPair(t(1, 2, 3), t(1, 2)), { sameLength: false, mismatches: [2] });
  });

  it('name, IOI and number helpers', () => {
    const ioi = 'When Mary and John went to the store, John gave a drink to';
    assert.deepEqual(pairNames(ioi), ['Mary', 'John']);
    assert.equal(swapNames(ioi), 'When John and Mary went to the store, Mary gave a drink to');
    assert.equal(moveLastName(ioi), 'When Mary and John went to the store, Mary gave a drink to');
    assert.deepEqual(pairNames('While Bob met Ann, Bob said'), ['Bob', 'Ann']);
    assert.equal(swapNames('no names here'), undefined);
    assert.equal(changeNumber('one two three'), 'one two four');
    assert.equal(changeNumber('I have 41 cats'), 'I have 42 cats');
    assert.equal(changeNumber('Twelve'), 'Eleven');
    assert.equal(changeNumber('nothing'), undefined);
  });
});

describe('sweep heatmap grid', () => {
  it('rows are every axis but the last, unravelled back to the sweep index for a click', () => {
    const s = { dims: ['layer', 'head', 'pos'], shape: [2, 3, 4], layers: [1, 3], prompt: { texts: ['a', ' <b>', 'c', 'd'] } };
    const values = Float32Array.from({ length: 24 }, (_, i) => i);
    const g = sweepGrid(s, values);
    assert.equal(g.z.length, 6);
    assert.deepEqual(g.z[4], [16, 17, 18, 19]);
    assert.equal(g.rowLabels[4], 'L3 H1');
    assert.equal(g.colLabels[1], '1 ·&#60;b&#62;');
    assert.deepEqual(g.indexOf(4, 2), [1, 1, 2]);
    // The cell's patch: layer 3 (the second swept), head 1, position 2.
    assert.deepEqual(sweepCellIntervention({ sweep: 'z_by_pos', dims: s.dims, layers: s.layers }, g.indexOf(4, 2)), { kind: 'patch', site: 'z', from: 3, to: 3, positions: [2], head: 1 });
    const flat = sweepGrid({ dims: ['layer', 'pos'], shape: [2, 2], layers: [0, 1], prompt: { texts: ['x', 'y'] } }, [1, 2, 3, 4]);
    assert.deepEqual(flat.z, [[1, 2], [3, 4]]);
    assert.deepEqual(flat.indexOf(1, 0), [1, 0]);
  });
});

describe('transcoder feature sites (click-to-patch)', () => {
  const ctx = { nLayers: 4, nHeads: 4, hasResidMid: true, prompt: [10, 11, 12, 13], counterfactual: [10, 11, 14, 13], features: { nFeatures: [512, 512, 512, 512] } };
  const zero: UiIntervention = { site: 'feature', kind: 'zero', layer: 1, feature: 37, positions: [3] };

  it('compiles each kind to one engine feature intervention', () => {
    assert.deepEqual(compileUiIntervention(zero, ctx), [{ kind: 'feature', layer: 1, index: 37, positions: [3], value: 0 }]);
    assert.deepEqual(compileUiIntervention({ ...zero, kind: 'patch' }, ctx), [{ kind: 'feature', layer: 1, index: 37, positions: [3], source: { tokens: ctx.counterfactual } }]);
    assert.deepEqual(compileUiIntervention({ ...zero, kind: 'set', value: 2.5 }, ctx), [{ kind: 'feature', layer: 1, index: 37, positions: [3], value: 2.5 }]);
    assert.deepEqual(compileUiIntervention({ ...zero, kind: 'scale', value: -1 }, ctx), [{ kind: 'feature', layer: 1, index: 37, positions: [3], scale: -1 }]);
    // Mean: the dashboards' corpus mean when known, else the prompt and the counterfactual (or the reference set).
    assert.deepEqual(compileUiIntervention({ ...zero, kind: 'mean' }, { ...ctx, featureMeans: new Map([['1:37', 0.25]]) }), [{ kind: 'feature', layer: 1, index: 37, positions: [3], value: 0.25 }]);
    assert.deepEqual(compileUiIntervention({ ...zero, kind: 'mean' }, ctx), [{ kind: 'feature', layer: 1, index: 37, positions: [3], reference: [{ tokens: ctx.prompt }, { tokens: ctx.counterfactual }] }]);
    const [resample] = compileUiIntervention({ ...zero, kind: 'resample' }, { ...ctx, counterfactual: undefined, seed: 3 });
    assert.deepEqual(resample, { kind: 'feature', layer: 1, index: 37, positions: [3], source: { tokens: shuffledTokens(ctx.prompt, 3) } });
  });

  it('labels the chip with the feature, the kind and the token', () => {
    assert.equal(uiLabel(zero, () => ' Mary'), 'zero · feature L1#37 · “ Mary”@3');
    assert.equal(uiLabel({ ...zero, kind: 'set', value: 4, positions: undefined }, () => undefined), 'set 4 · feature L1#37 · all positions');
    assert.equal(uiLabel({ ...zero, kind: 'scale', value: 0.5 }, () => 'x'), 'scale ×0.5 · feature L1#37 · “x”@3');
  });

  it('refuses a bad layer, an index out of range and a model without transcoders, saying why', () => {
    assert.throws(() => compileUiIntervention({ ...zero, layer: 4 }, ctx), badInput(/layer 4 is beyond the transcoders \(layers 0..3\)/));
    assert.throws(() => compileUiIntervention({ ...zero, feature: 512 }, ctx), badInput(/feature 512 is beyond layer 1's 512 transcoder features \(0..511\)/));
    const missing = noTranscodersReason('gpt2');
    assert.throws(() => compileUiIntervention(zero, { ...ctx, features: { missing } }), badInput(/gpt2 has no transcoders: feature sites need a transcoder set in its model folder's transcoders\/ .*Download Transcoder Files/));
    assert.throws(() => compileUiIntervention({ ...zero, positions: [4] }, ctx), badInput(/position 4 is beyond the prompt/));
    assert.throws(() => compileUiIntervention({ ...zero, kind: 'patch' }, { ...ctx, counterfactual: undefined }), badInput(/patching needs a counterfactual prompt/));
  });

  it('lists the features active at a token largest first across layers, named as the menus name them', () => {
    const active = [[{ index: 7, act: 0.5 }, { index: 2, act: 0.1 }], [], [{ index: 9, act: 2 }, { index: 3, act: 0.5 }]];
    assert.deepEqual(activeFeatureList(active), [
      { layer: 2, index: 9, act: 2 },
      { layer: 0, index: 7, act: 0.5 },
      { layer: 2, index: 3, act: 0.5 },
      { layer: 0, index: 2, act: 0.1 },
    ]);
    assert.deepEqual(activeFeatureList([]), []);
    assert.equal(featureName(2, 9), 'L2 #9');
  });

  it('reads a typed feature as layer:index or by its name, nothing else', () => {
    assert.deepEqual(parseFeatureRef('0:346'), { layer: 0, feature: 346 });
    assert.deepEqual(parseFeatureRef(' 3 : 17 '), { layer: 3, feature: 17 });
    assert.deepEqual(parseFeatureRef(featureName(2, 9)), { layer: 2, feature: 9 });
    assert.deepEqual(parseFeatureRef('l1#5'), { layer: 1, feature: 5 });
    for (const bad of ['', '3', '3:', ':4', '-1:2', '1.5:2', '1:2:3', 'L1', 'feature 3']) assert.equal(parseFeatureRef(bad), undefined, bad);
  });

  it('says why the host would refuse a spec, in its words (what the editor\'s input boxes show)', () => {
    assert.equal(specProblem(zero, ctx), undefined);
    assert.equal(specProblem({ ...zero, kind: 'scale', value: 2 }, ctx), undefined);
    assert.match(specProblem({ ...zero, layer: 4 }, ctx, 'L4 #37')!, /^L4 #37: layer 4 is beyond the transcoders \(layers 0..3\)/);
    assert.match(specProblem({ ...zero, feature: 512 }, ctx)!, /feature 512 is beyond layer 1's 512 transcoder features/);
    assert.match(specProblem({ ...zero, kind: 'set', value: 1e7 }, ctx)!, /value/);
    assert.match(specProblem({ ...zero, positions: [4] }, ctx)!, /position 4 is beyond the prompt/);
    assert.match(specProblem(zero, { ...ctx, features: { missing: noTranscodersReason('gpt2') } })!, /gpt2 has no transcoders/);
    assert.match(specProblem({ ...zero, kind: 'steer' }, ctx)!, /kind must be one of/);
  });

  it('validates what a webview sends: shape, value only with set / scale, no hook fields', () => {
    const s = new InterventionStore();
    s.add(zero, 'chip');
    assert.equal(s.view().chips[0]!.spec.site, 'feature');
    assert.throws(() => s.add({ ...zero, feature: -1 }, 'x'), badInput(/feature must be a feature index/));
    assert.throws(() => s.add({ ...zero, kind: 'set' }, 'x'), badInput(/"set" needs a value/));
    assert.throws(() => s.add({ ...zero, value: 3 }, 'x'), badInput(/"value" applies to set and scale only/));
    assert.throws(() => s.add({ ...zero, from: 0 }, 'x'), badInput(/unknown field "from"/));
    assert.throws(() => s.add({ ...zero, kind: 'steer' }, 'x'), badInput(/kind must be one of/));
    assert.throws(() => s.add({ ...zero, transcoders: '/etc' }, 'x'), badInput(/unknown field "transcoders"/));
  });
});
