// A learned subspace as a view intervention (src/shared/subspaceUi.ts): the spec made from a DAS rotation and
// its site, compiled per view's prompt (negative positions from its end, the counterfactual as the source,
// steering as an add of direction 1, split over heads side by side), its chip label, the shared state keeping
// it (validated, its basis not broadcast to pages), and that a page cannot send one.
import assert from 'node:assert/strict';
import { InterventionStore } from '../../src/host/interventionStore';
import { validatePromptPanelParams } from '../../src/shared/panelProtocol';
import { RpcError } from '../../src/shared/rpc';
import { compileUiSpec, siteWidth, specLabel, subspaceSpec, uiSpecSchema, viewSite } from '../../src/shared/subspaceUi';
import type { Hypothesis, ResolvedSite } from '../../src/shared/causal';

const badInput = (re: RegExp) => (e: unknown) => e instanceof RpcError && e.code === 'bad-input' && re.test(e.message);

// R [3, 2] row-major: e0 and e1 of a 3-wide hook.
const R = Float32Array.from([1, 0, 0, 1, 0, 0]);
const ctx = { nLayers: 4, nHeads: 2, hasResidMid: true, prompt: [5, 6, 7, 8], counterfactual: [5, 9, 7, 8] };

describe('subspaces as view interventions', () => {
  it('a DAS site keeps the positions its hypothesis wrote (from the end), else the resolved ones', () => {
    const site: ResolvedSite = { hook: 'blocks.2.hook_resid_post', positions: [13], dim: 3, subspaceRank: 2 };
    const h = { variables: [{ name: 'IO', site: { hook: 'blocks.2.hook_resid_post', positions: [-1] } }] } as unknown as Hypothesis;
    assert.deepEqual(viewSite(site, h, 'IO'), { hook: 'blocks.2.hook_resid_post', positions: [-1] });
    assert.deepEqual(viewSite(site, h, 'S'), { hook: 'blocks.2.hook_resid_post', positions: [13] });
    assert.equal(siteWidth('blocks.2.hook_resid_post', undefined, { dModel: 64, dHead: 16, dMlp: 256, nHeads: 4 }), 64);
    assert.equal(siteWidth('blocks.2.attn.hook_z', [0, 3], { dModel: 64, dHead: 16, dMlp: 256, nHeads: 4 }), 32);
  });

  it('compiles patch (from the counterfactual), project out and steer on each prompt', () => {
    const patch = subspaceSpec(R, 3, 2, { hook: 'blocks.2.hook_resid_post', positions: [-1] }, 'patch', { name: 'IO' });
    assert.deepEqual(compileUiSpec(patch, ctx), [{ kind: 'subspace', hook: 'blocks.2.hook_resid_post', positions: [3], basis: [[1, 0], [0, 1], [0, 0]], source: { tokens: ctx.counterfactual }, label: 'IO' }]);
    // The last token of a shorter prompt is another position.
    assert.deepEqual(compileUiSpec(patch, { ...ctx, prompt: [1, 2], counterfactual: [3, 4] })[0]!.positions, [1]);
    const ablate = subspaceSpec(R, 3, 2, { hook: 'blocks.2.hook_resid_post', positions: [1] }, 'ablate');
    assert.deepEqual(compileUiSpec(ablate, ctx), [{ kind: 'subspace', hook: 'blocks.2.hook_resid_post', positions: [1], basis: [[1, 0], [0, 1], [0, 0]] }]);
    const steer = subspaceSpec(R, 3, 2, { hook: 'blocks.2.hook_resid_post', positions: [-1] }, 'steer', { strength: 2.5 });
    assert.deepEqual(compileUiSpec(steer, ctx), [{ kind: 'add', hook: 'blocks.2.hook_resid_post', positions: [3], vector: [1, 0, 0], scale: 2.5 }]);
    // Over two heads side by side (a DAS site on attn.hook_z with heads [0, 1], d_head 2): each head gets its half.
    const R4 = Float32Array.from([0.5, 0.5, 0.5, 0.5]);
    const heads = subspaceSpec(R4, 4, 1, { hook: 'blocks.1.attn.hook_z', positions: [0], heads: [0, 1] }, 'steer', { strength: 2 });
    assert.deepEqual(compileUiSpec(heads, ctx).map((iv) => iv.kind === 'add' && [iv.heads, iv.vector]), [
      [[0], [0.5, 0.5]],
      [[1], [0.5, 0.5]],
    ]);
  });

  it('refuses what cannot run, saying why', () => {
    const patch = subspaceSpec(R, 3, 2, { hook: 'blocks.2.hook_resid_post', positions: [-1] }, 'patch');
    assert.throws(() => compileUiSpec(patch, { ...ctx, counterfactual: undefined }), badInput(/patching a subspace needs a counterfactual prompt/));
    assert.throws(() => compileUiSpec(patch, { ...ctx, counterfactual: [1, 2] }), badInput(/counterfactual has 2 tokens and the prompt 4/));
    assert.throws(() => compileUiSpec(subspaceSpec(R, 3, 2, { hook: 'blocks.9.hook_resid_post' }, 'ablate'), ctx), badInput(/beyond the model.*another model/));
    assert.throws(() => compileUiSpec(subspaceSpec(R, 3, 2, { hook: 'blocks.1.hook_resid_post', positions: [-9] }, 'ablate'), ctx), badInput(/position -9 is outside the prompt \(4 tokens\)/));
    assert.throws(() => subspaceSpec(R, 2, 3, { hook: 'blocks.1.hook_resid_post' }, 'ablate'), badInput(/rank 3 but dimension 2/));
    assert.throws(() => subspaceSpec(Float32Array.from([1, NaN, 0, 0, 0, 1]), 3, 2, { hook: 'blocks.1.hook_resid_post' }, 'ablate'), badInput(/not a finite number/));
    assert.throws(() => uiSpecSchema.parse({ ...patch, strength: 2 }, 'spec'), badInput(/strength applies to steering only/));
  });

  it('labels the chip with its rank, variable, use, hook and positions', () => {
    const tok = (p: number) => ['When', ' Mary', ' and', ' to'][p];
    assert.equal(specLabel(subspaceSpec(R, 3, 2, { hook: 'blocks.2.hook_resid_post', positions: [-1] }, 'patch', { name: 'IO' }), tok), 'subspace r=2 “IO” · patch · blocks.2.hook_resid_post · last token');
    assert.equal(specLabel(subspaceSpec(R, 3, 2, { hook: 'blocks.2.hook_resid_post', positions: [1] }, 'ablate'), tok), 'subspace r=2 · project out · blocks.2.hook_resid_post · pos 1 “ Mary”');
    assert.equal(specLabel(subspaceSpec(R, 3, 2, { hook: 'blocks.2.hook_resid_post' }, 'steer', { strength: 3.14159 }), tok), 'subspace r=2 · steer dir 1 ×3.14 · blocks.2.hook_resid_post · all positions');
  });

  it('the shared state keeps it (validated, undoable) and pages get the chip without its basis; a page cannot send one', () => {
    const s = new InterventionStore();
    const spec = subspaceSpec(R, 3, 2, { hook: 'blocks.2.hook_resid_post', positions: [-1] }, 'patch');
    s.add(spec, 'subspace chip');
    assert.deepEqual(s.specs[0], spec);
    const chip = s.view().chips[0]!;
    assert.equal(chip.label, 'subspace chip');
    assert.deepEqual(chip.spec.site === 'subspace' && chip.spec.basis, []);
    assert.throws(() => s.add({ ...spec, basis: [[1, 2]] }, 'x'), badInput(/rank 2 but dimension 1/));
    s.undo();
    assert.equal(s.specs.length, 0);
    // interventions/add takes what a page's menu makes; subspaces come from the host only.
    assert.throws(() => validatePromptPanelParams('interventions/add', { spec }), badInput(/spec/));
    validatePromptPanelParams('interventions/addSubspace', {});
    assert.throws(() => validatePromptPanelParams('interventions/addSubspace', { path: '/etc/passwd' }), badInput(/unknown field "path"/));
  });
});
