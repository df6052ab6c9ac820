// The fast residual patching sweep (start at the patched layer, unembed the last position only)
// must give exactly what a loop of full forwards with a patch intervention gives.
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model';
import { normalisedLogitDiff, patchingSweep, patchingSweepByFullForwards } from '../../src/engine/analysis/patching';
import { fixture, maxAbsDiff } from '../support/fixtures';

describe('residual patching sweep', function () {
  for (const name of ['gpt2', 'llama', 'neox']) {
    for (const hook of ['hook_resid_pre', 'hook_resid_post'] as const) {
      it(`${name} ${hook}: fast sweep equals the loop of patched full forwards`, async function () {
        const model = await Model.load(fixture(name));
        try {
          const req = { clean: [3, 9, 27, 4, 12, 40, 7, 2], corrupted: [3, 9, 27, 5, 12, 41, 7, 2], hook };
          const fast = await patchingSweep(model, req);
          const slow = await patchingSweepByFullForwards(model, req);
          assert.deepEqual(fast.layers, slow.layers);
          let worst = 0;
          for (let l = 0; l < fast.layers.length; l++) {
            for (let p = 0; p < fast.positions.length; p++) worst = Math.max(worst, maxAbsDiff(fast.logits[l]![p]!, slow.logits[l]![p]!));
          }
          assert.ok(worst < 1e-4, `sweeps differ by ${worst}`);
          // Patching layer 0's input at a position where both prompts hold the same token changes nothing,
          // so the normalised metric there is 0 (corrupted behaviour). The metric is defined as 0 when the
          // clean and corrupted logit differences are equal, so check they differ: otherwise every
          // comparison below would pass whatever the sweep computed.
          const [correct, incorrect] = [1, 2];
          const diff = (l: Float32Array) => l[correct]! - l[incorrect]!;
          const denominator = diff(fast.cleanLogits) - diff(fast.corruptedLogits);
          assert.ok(Math.abs(denominator) > 1e-3, `clean and corrupted logit differences must differ (they differ by ${denominator})`);
          const metric = normalisedLogitDiff(fast, correct, incorrect);
          if (hook === 'hook_resid_pre') {
            const identical = fast.positions.flatMap((p, i) => (req.clean[p] === req.corrupted[p] ? [i] : []));
            assert.ok(identical.length > 0, 'some positions hold the same token in both prompts');
            for (const i of identical) assert.ok(Math.abs(metric[0]![i]!) < 1e-4, `position ${fast.positions[i]} is identical in both prompts`);
          }
        } finally {
          await model.dispose();
        }
      });
    }
  }

  it('rejects prompts of different lengths', async function () {
    const model = await Model.load(fixture('gpt2'));
    try {
      await assert.rejects(patchingSweep(model, { clean: [1, 2, 3], corrupted: [1, 2] }), /equal token lengths/);
    } finally {
      await model.dispose();
    }
  });
});
