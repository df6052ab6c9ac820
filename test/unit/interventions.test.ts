// Interventions as data: validation of untrusted objects and compilation to keep/add tensors,
// checked against hand-computed values on a tiny configuration.
import assert from 'node:assert/strict';
import { compileInterventions } from '../../src/engine/interventions';
import { validateIntervention } from '../../src/shared/interventions';
import { ORTHONORMAL_TOLERANCE, orthogonalityError, orthonormalBasis } from '../../src/shared/subspace';
import { gpt2Config } from '../../src/engine/architectures/gpt2';

const config = gpt2Config({ n_embd: 2, n_head: 1, n_layer: 1, vocab_size: 10, n_positions: 8 });
const noSources = {
  patch: () => ({ shape: [1, 3, 2], dims: ['batch', 'pos', 'd_model'] as never, data: Float32Array.from([10, 11, 20, 21, 30, 31]) }),
  mean: () => Float32Array.from([7, 8]),
  base: () => ({ shape: [1, 3, 2], dims: ['batch', 'pos', 'd_model'] as never, data: Float32Array.from([1, 2, 3, 4, 5, 6]) }),
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

  it('validates a subspace basis: shape, finite numbers, rank <= dim, independent columns', function () {
    const hook = 'blocks.0.hook_resid_pre';
    assert.throws(() => validateIntervention({ kind: 'subspace', hook }), /needs basis/);
    assert.throws(() => validateIntervention({ kind: 'subspace', hook, basis: [[]] }), /rank 0/);
    assert.throws(() => validateIntervention({ kind: 'subspace', hook, basis: [[1, 0, 0], [0, 1, 0]] }), /rank 3 but dimension 2.*transposed/);
    assert.throws(() => validateIntervention({ kind: 'subspace', hook, basis: [[1, 0], [0]] }), /row 1 has 1 entries; every row needs 2/);
    assert.throws(() => validateIntervention({ kind: 'subspace', hook, basis: [[1], [Infinity]] }), /row 1 holds a value that is not a finite number/);
    assert.throws(() => validateIntervention({ kind: 'subspace', hook, basis: [[1, 2], [2, 4], [0, 0]] }), /linearly dependent/);
    assert.throws(() => validateIntervention({ kind: 'subspace', hook, basis: [[1], [0]], source: { tokens: [-1] } }), /source must be \{tokens/);
    assert.equal(validateIntervention({ kind: 'subspace', hook, basis: [[1], [0]], source: { tokens: [1, 2] } }).kind, 'subspace');
    // Not orthonormal is allowed (its span is used), and reported.
    const b = orthonormalBasis([[2, 1], [0, 1]])!;
    assert.ok(b.error > ORTHONORMAL_TOLERANCE);
    assert.ok(orthogonalityError(b.R, 2, 2) < 1e-12);
    assert.ok(orthonormalBasis([[1, 0], [0, 1], [0, 0]])!.error < 1e-12);
  });

  it('compiles a subspace interchange to keep 0, add h + R R^T (h_src - h) on its entries', function () {
    const hook = 'blocks.0.hook_resid_pre';
    // h = [[1,2],[3,4],[5,6]], source = [[10,11],[20,21],[30,31]]; R = e0 at position 1: only the first entry moves.
    const e = compileInterventions([{ kind: 'subspace', hook, positions: [1], basis: [[1], [0]], source: { tokens: [1, 2, 3] } }], { config, batch: 1, seq: 3, offset: 0 }, noSources).get(hook)!;
    assert.deepEqual(Array.from(e.keep), [1, 1, 0, 0, 1, 1]);
    assert.deepEqual(Array.from(e.add), [0, 0, 20, 4, 0, 0]);
    // Rank 1 along (1,1)/sqrt2 (given unnormalised: its span is used): h + u u^T (s - h); at position 0, s - h = (9, 9).
    const d = compileInterventions([{ kind: 'subspace', hook, positions: [0], basis: [[3], [3]], source: { tokens: [1, 2, 3] } }], { config, batch: 1, seq: 3, offset: 0 }, noSources).get(hook)!;
    assert.deepEqual(Array.from(d.add.slice(0, 2)), [10, 11]);
    // Projecting out (no source): h - u u^T h at position 2, h = (5, 6), u = e1: (5, 0).
    const p = compileInterventions([{ kind: 'subspace', hook, positions: [2], basis: [[0], [1]] }], { config, batch: 1, seq: 3, offset: 0 }, noSources).get(hook)!;
    assert.deepEqual(Array.from(p.add), [0, 0, 0, 0, 5, 0]);
    // A basis of the wrong width is refused naming both.
    assert.throws(() => compileInterventions([{ kind: 'subspace', hook, basis: [[1], [0], [0]] }], { config, batch: 1, seq: 3, offset: 0 }, noSources), /basis has 3 rows but blocks\.0\.hook_resid_pre has 2 values per position/);
  });
});

describe('feature interventions (shape)', function () {
  it('take a layer, an index and exactly one of value, scale, source, reference; never a hook', function () {
    assert.equal(validateIntervention({ kind: 'feature', layer: 1, index: 37, positions: [4], value: 0 }).kind, 'feature');
    assert.equal(validateIntervention({ kind: 'feature', layer: 0, index: 0, reference: [{ tokens: [1, 2] }] }).kind, 'feature');
    assert.throws(() => validateIntervention({ kind: 'feature', layer: -1, index: 0, value: 0 }), /layer must be a non-negative integer/);
    assert.throws(() => validateIntervention({ kind: 'feature', layer: 1, index: 1.5, value: 0 }), /index must be a non-negative integer/);
    assert.throws(() => validateIntervention({ kind: 'feature', layer: 1, index: 2, value: 0, scale: 2 }), /exactly one of value, scale, source or reference \(got value, scale\)/);
    assert.throws(() => validateIntervention({ kind: 'feature', layer: 1, index: 2, value: Infinity }), /value must be a finite number/);
    assert.throws(() => validateIntervention({ kind: 'feature', layer: 1, index: 2, source: { tokens: [-1] } }), /source must be \{tokens/);
    assert.throws(() => validateIntervention({ kind: 'feature', hook: 'blocks.1.hook_mlp_out', layer: 1, index: 2, value: 0 }), /not a hook or heads/);
  });

  it('are refused by the hook compiler (Model.forward resolves them first), naming why', function () {
    assert.throws(() => compileInterventions([{ kind: 'feature', layer: 0, index: 0, value: 0 }], { config, batch: 1, seq: 3, offset: 0 }, noSources), /needs its own run's activations/);
  });
});
