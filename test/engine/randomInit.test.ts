// The random-init control (src/engine/randomInit.ts): the same architecture, weights drawn again by the
// family's own scheme, seeded; a Model built from the spec runs every analysis; the CLI flag.
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model';
import { initializerRange, randomInitModel, randomInitSpec } from '../../src/engine/randomInit';
import { DEFAULT_MODEL, fixture } from '../support/fixtures';
import { cli } from '../support/cli';

function std(a: Float32Array): number {
  let s = 0;
  let s2 = 0;
  for (const v of a) {
    s += v;
    s2 += v * v;
  }
  const m = s / a.length;
  return Math.sqrt(s2 / a.length - m * m);
}

describe('random-init control', function () {
  for (const name of ['gpt2', 'llama', 'neox', 'gemma2', 'qwen3', 'gemma3']) {
    it(`${name}: same shapes, seeded, biases 0, norms at 1, tied unembedding kept tied`, async function () {
      const model = await Model.load(fixture(name));
      try {
        const a = randomInitSpec(model.spec, 1);
        const b = randomInitSpec(model.spec, 1);
        const c = randomInitSpec(model.spec, 2);
        assert.deepEqual(a.weights.layers[0]!.W_Q, b.weights.layers[0]!.W_Q, 'the same seed gives the same weights');
        assert.notDeepEqual(a.weights.layers[0]!.W_Q, c.weights.layers[0]!.W_Q, 'another seed, other weights');
        const orig = model.spec.weights;
        for (const [l, lw] of a.weights.layers.entries()) {
          const o = orig.layers[l]!;
          for (const k of Object.keys(o) as Array<keyof typeof o>) assert.equal(lw[k] !== undefined, o[k] !== undefined, `layer ${l}: ${k}`);
          for (const k of ['W_Q', 'W_K', 'W_V', 'W_O', 'W_in', 'W_out'] as const) assert.equal(lw[k].length, o[k].length);
          for (const k of ['b_Q', 'b_K', 'b_V', 'b_O', 'b_in', 'b_out'] as const) if (lw[k]) assert.ok(lw[k].every((v) => v === 0), `${k} is 0`);
          // Effective norm scale (stored weight + offset) is 1.
          assert.ok(lw.ln1.w.every((v) => v + model.config.normWeightOffset === 1));
        }
        assert.equal(a.weights.W_U === a.weights.W_E, orig.W_U === orig.W_E);
        const random = await randomInitModel(model, 1);
        try {
          const r = await random.run([1, 2, 3, 4], { lastOnly: true });
          const t = await model.run([1, 2, 3, 4], { lastOnly: true });
          assert.ok(r.data.every(Number.isFinite));
          assert.notDeepEqual(r.data, t.data);
          assert.match(random.info.name, /random init, seed 1/);
        } finally {
          await random.dispose();
        }
      } finally {
        await model.dispose();
      }
    });
  }

  it('GPT-2: normal(0.02), residual projections normal(0.02 / sqrt(2 n_layers)) (the bundled model, 4 layers)', async function () {
    const model = await Model.load(DEFAULT_MODEL);
    try {
      assert.equal(initializerRange(DEFAULT_MODEL), 0.02);
      const s = randomInitSpec(model.spec, 7);
      const L = model.config.nLayers;
      const close = (x: number, want: number) => assert.ok(Math.abs(x / want - 1) < 0.03, `std ${x}, expected ${want}`);
      close(std(s.weights.W_E), 0.02);
      close(std(s.weights.layers[0]!.W_Q), 0.02);
      close(std(s.weights.layers[1]!.W_in), 0.02);
      close(std(s.weights.layers[2]!.W_O), 0.02 / Math.sqrt(2 * L));
      close(std(s.weights.layers[3]!.W_out), 0.02 / Math.sqrt(2 * L));
    } finally {
      await model.dispose();
    }
  });

  it('mechlens --random-init SEED: reproducible, not the trained model; refused where no model runs', async function () {
    const args = ['run', '--model', DEFAULT_MODEL, '--prompt', 'When Mary and John went to the store, John gave a drink to', '--top', '3', '--json'];
    const trained = await cli(...args);
    const r1 = await cli(...args, '--random-init', '5');
    const r2 = await cli(...args, '--random-init', '5');
    assert.equal(r1.code, 0, r1.stderr);
    assert.match(r1.stderr, /random init, seed 5/);
    const top = (o: string) => (JSON.parse(o) as { top: Array<{ id: number; prob: number }> }).top;
    assert.deepEqual(top(r1.stdout), top(r2.stdout));
    assert.notDeepEqual(top(r1.stdout), top(trained.stdout));
    assert.ok(top(r1.stdout)[0]!.prob < 0.05, 'a random network predicts nearly uniformly');
    const refused = await cli('info', '--model', DEFAULT_MODEL, '--random-init', '5');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /runs no model/);
  });
});
