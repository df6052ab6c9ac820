// Interventions as data: validation of untrusted objects and compilation to keep/add tensors,
// checked against hand-computed values on a tiny configuration.
import assert from 'node:assert/strict';
import { compileInterventions } from '../../src/engine/interventions';
import { validateIntervention } from '../../src/shared/interventions';
import { gpt2Config } from '../../src/engine/architectures/gpt2';

const config = gpt2Config({ n_embd: 2, n_head: 1, n_layer: 1, vocab_size: 10, n_positions: 8 });
const noSources = {
  patch: () => ({ shape: [1, 3, 2], dims: ['batch', 'pos', 'd_model'] as never, data: Float32Array.from([10, 11, 20, 21, 30, 31]) }),
  mean: () => Float32Array.from([7, 8]),
};

describe('interventions', function () {
  it('validates untrusted input with a message naming the problem', function () {
    assert.throws(() => validateIntervention(null), /expected an object/);
    assert.throws(() => validateIntervention({ kind: 'delete', hook: 'x' }), /kind must be one of/);
    assert.throws(() => validateIntervention({ kind: 'zero', hook: 'x', positions: [-1] }), /positions must be a list of non-negative integers/);
    assert.throws(() => validateIntervention({ kind: 'add', hook: 'x', vector: [1, NaN] }), /finite numbers/);
    assert.throws(() => validateIntervention({ kind: 'patch', hook: 'x', source: { tokens: ['a'] } }), /patch needs source/);
    assert.equal(validateIntervention({ kind: 'zero', hook: 'blocks.0.hook_resid_pre' }).kind, 'zero');
  });

  it('composes several interventions on one hook: x * k1 k2 + (a1 k2 + a2)', function () {
    const edits = compileInterventions(
      [
        { kind: 'patch', hook: 'blocks.0.hook_resid_pre', positions: [1], source: { tokens: [1, 2, 3] } },
        { kind: 'scale', hook: 'blocks.0.hook_resid_pre', factor: 2 },
        { kind: 'add', hook: 'blocks.0.hook_resid_pre', vector: [1, -1], scale: 0.5, positions: [0] },
      ],
      { config, batch: 1, seq: 3, offset: 0 },
      noSources,
    );
    const e = edits.get('blocks.0.hook_resid_pre')!;
    assert.deepEqual(e.shape, [1, 3, 2]);
    // position 0: scaled (2) then +[0.5, -0.5]; position 1: patched to [20, 21] then scaled; position 2: scaled
    assert.deepEqual(Array.from(e.keep), [2, 2, 0, 0, 2, 2]);
    assert.deepEqual(Array.from(e.add), [0.5, -0.5, 40, 42, 0, 0]);
  });

  it('uses absolute positions when decoding with a cache (offset)', function () {
    const edits = compileInterventions([{ kind: 'patch', hook: 'blocks.0.hook_resid_pre', source: { tokens: [1, 2, 3] } }], { config, batch: 1, seq: 1, offset: 2 }, noSources);
    assert.deepEqual(Array.from(edits.get('blocks.0.hook_resid_pre')!.add), [30, 31]);
  });

  it('mean ablation replaces by the reference mean; heads on a hook without heads is an error', function () {
    const edits = compileInterventions([{ kind: 'mean', hook: 'blocks.0.hook_mlp_out', reference: [{ tokens: [1] }], rows: [1] }], { config, batch: 2, seq: 1, offset: 0 }, noSources);
    const e = edits.get('blocks.0.hook_mlp_out')!;
    assert.deepEqual(Array.from(e.keep), [1, 1, 0, 0]);
    assert.deepEqual(Array.from(e.add), [0, 0, 7, 8]);
    assert.throws(() => compileInterventions([{ kind: 'zero', hook: 'blocks.0.hook_mlp_out', heads: [0] }], { config, batch: 1, seq: 1, offset: 0 }, noSources), /has no head axis/);
    assert.throws(() => compileInterventions([{ kind: 'add', hook: 'blocks.0.hook_mlp_out', vector: [1, 2, 3] }], { config, batch: 1, seq: 1, offset: 0 }, noSources), /vector has 3 entries/);
  });
});
