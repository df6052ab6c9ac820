// Patching sweeps over positions from the base run's key/value cache (patching.ts suffixSweepRows): each patched
// row computes only the positions from its first patched one on, reading the cached keys and values of the
// positions before. Its results must equal the full recomputation (every position from the patched layer) to
// float32 tolerance, on the bundled model and on fixtures with rotary positions, grouped-query attention,
// sliding windows and soft caps, and parallel residuals.
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model';
import type { ForwardRequest } from '../../src/engine/model';
import { exactSweepRows, patchSweep, patchingSweep, suffixApplies, sweepLayout } from '../../src/engine/analysis/patching';
import type { SweepInputs } from '../../src/engine/analysis/patching';
import type { HookName } from '../../src/engine/hooks';
import type { PatchSweepKind } from '../../src/shared/patching';
import { DEFAULT_MODEL, fixture, maxAbsDiff } from '../support/fixtures';

/** The sweeps whose cells are positions (the cache applies), and one whose cells are heads (it does not). */
const POSITION_SWEEPS: PatchSweepKind[] = ['resid_pre', 'resid_mid', 'resid_post', 'attn_out', 'mlp_out', 'z_by_pos'];

function prompts(T: number, vocab: number): { clean: number[]; corrupted: number[] } {
  const clean = Array.from({ length: T }, (_, i) => (i * 37 + 11) % vocab);
  const corrupted = clean.slice();
  for (const p of [1, Math.floor(T / 2), T - 3]) corrupted[p] = (corrupted[p]! + 5) % vocab;
  return { clean, corrupted };
}

/** A sweep's inputs as patchSweep makes them: the source run's swept hook, the base run's residual streams and cache. */
async function inputsFor(model: Model, sweep: PatchSweepKind, base: number[], source: number[]): Promise<SweepInputs> {
  const lay = sweepLayout(model, sweep, base.length);
  const layers = Array.from({ length: model.config.nLayers }, (_, i) => i);
  const swept = layers.map((l): HookName => `blocks.${l}.${lay.local}`);
  const starts = layers.map((l): HookName => (sweep === 'resid_post' ? `blocks.${l}.hook_resid_post` : `blocks.${l}.hook_resid_pre`));
  const src = await model.forward({ tokens: [source], hooks: swept, logits: 'none' });
  const bas = await model.forward({ tokens: [base], hooks: starts, logits: 'none', returnCache: true });
  return {
    lay,
    layers,
    base,
    source: new Map(layers.map((l, i) => [l, src.hooks.get(swept[i]!)!.data])),
    baseResid: new Map(layers.map((l, i) => [l, bas.hooks.get(starts[i]!)!.data])),
    baseCache: bas.cache,
  };
}

/** Records the sequence length of every residual-input forward (how many positions each patched run computed). */
function recordRuns(model: Model): number[] {
  const lengths: number[] = [];
  const forward = model.forward.bind(model);
  model.forward = (req: ForwardRequest) => {
    if (req.resid) lengths.push(req.resid.shape[1]!);
    return forward(req);
  };
  return lengths;
}

const MODELS: Array<[string, string, number]> = [
  ['bundled mechlens-tiny', DEFAULT_MODEL, 24],
  ['gpt2 fixture', fixture('gpt2'), 12],
  ['llama fixture (rotary, GQA)', fixture('llama'), 12],
  ['gemma2 fixture (sliding window, soft caps)', fixture('gemma2'), 12],
  ['neox fixture (parallel residual)', fixture('neox'), 12],
];

describe('patching sweeps from the base run\'s key/value cache', function () {
  for (const [name, dir, T] of MODELS) {
    describe(name, function () {
      let model: Model;
      before(async function () {
        model = await Model.load(dir);
      });
      after(async function () {
        await model.dispose();
      });

      it('every position sweep equals the full recomputation, both directions', async function () {
        const { clean, corrupted } = prompts(Math.min(T, model.config.nCtx), model.config.dVocab);
        const n = clean.length;
        let checked = 0;
        for (const sweep of POSITION_SWEEPS) {
          if (sweep === 'resid_mid' && model.config.parallelResidual) continue;
          const lay = sweepLayout(model, sweep, n);
          assert.ok(suffixApplies(lay, lay.cells.map((_, i) => i), n), `${sweep}: cells are positions`);
          for (const direction of ['denoise', 'noise'] as const) {
            // The whole sweep through patchSweep (on these small models one batch from position 0)...
            const req = { clean, corrupted, sweep, direction, metric: 'logit_diff' as const, target: 1, baseline: 2 };
            const cached = await patchSweep(model, req);
            const full = await patchSweep(model, { ...req, reuseCache: false });
            const scale = Math.max(1, ...Array.from(full.exact!, Math.abs));
            const diff = maxAbsDiff(cached.exact!, full.exact!);
            assert.ok(diff <= 2e-5 * scale, `${sweep} ${direction}: cached and full sweeps differ by ${diff} (scale ${scale})`);
            // ...and the cells of the second half, which start after a cached prefix.
            const [base, source] = direction === 'denoise' ? [corrupted, clean] : [clean, corrupted];
            const inp = await inputsFor(model, sweep, base, source);
            const cells = lay.cells.flatMap((c, i) => (c.pos! >= n / 2 ? [i] : []));
            const rows = new Map<string, Float32Array>();
            const lengths = recordRuns(model);
            await exactSweepRows(model, inp, (li, c, logits) => rows.set(`${li}:${c}`, logits.slice()), { cells });
            model.forward = Model.prototype.forward.bind(model);
            assert.ok(lengths.length > 0 && lengths.every((x) => x <= n - Math.ceil(n / 2)), `${sweep}: patched runs compute the second half only (${lengths.join(',')})`);
            let worst = 0;
            let big = 1;
            await exactSweepRows(model, { ...inp, baseCache: undefined }, (li, c, logits) => {
              worst = Math.max(worst, maxAbsDiff(rows.get(`${li}:${c}`)!, logits));
              for (const v of logits) big = Math.max(big, Math.abs(v));
            }, { cells });
            assert.ok(worst <= 2e-5 * big, `${sweep} ${direction}: second-half logits differ by ${worst} (scale ${big})`);
            checked++;
          }
        }
        assert.ok(checked >= 10);
      });

      it('the residual sweep over the last positions: every patched run\'s logits equal the full recomputation', async function () {
        const { clean, corrupted } = prompts(Math.min(T, model.config.nCtx), model.config.dVocab);
        const n = clean.length;
        const positions = [n - 4, n - 3, n - 2, n - 1];
        for (const hook of ['hook_resid_pre', 'hook_resid_post'] as const) {
          const lengths = recordRuns(model);
          const cached = await patchingSweep(model, { clean, corrupted, positions, hook });
          assert.ok(lengths.length > 0 && lengths.every((x) => x <= 4), `${hook}: patched runs compute at most the last 4 positions (${lengths.join(',')})`);
          model.forward = Model.prototype.forward.bind(model);
          const full = await patchingSweep(model, { clean, corrupted, positions, hook, reuseCache: false });
          let worst = 0;
          let scale = 0;
          for (let l = 0; l < full.layers.length; l++) {
            for (let p = 0; p < positions.length; p++) {
              worst = Math.max(worst, maxAbsDiff(cached.logits[l]![p]!, full.logits[l]![p]!));
              for (const v of full.logits[l]![p]!) scale = Math.max(scale, Math.abs(v));
            }
          }
          assert.ok(worst <= 2e-5 * Math.max(1, scale), `${hook}: logits differ by ${worst} (scale ${scale})`);
          // The patched position that holds different tokens moves the logits (the test compares something).
          const moved = maxAbsDiff(cached.logits[0]![1]!, cached.corruptedLogits);
          assert.ok(hook === 'hook_resid_post' || moved > 1e-4, `patching position ${positions[1]} changes the logits (${moved})`);
        }
      });
    });
  }

  it('head sweeps over all positions keep the full recomputation (no prefix is left unchanged)', async function () {
    const model = await Model.load(fixture('gpt2'));
    try {
      const lay = sweepLayout(model, 'z', 8);
      assert.equal(suffixApplies(lay, lay.cells.map((_, i) => i), 8), false);
      assert.equal(suffixApplies(sweepLayout(model, 'pattern', 8), [0], 8), false);
    } finally {
      await model.dispose();
    }
  });
});
