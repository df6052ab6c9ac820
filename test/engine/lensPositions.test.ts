// The logit lens of some positions (issue #13: a panel decodes the positions on screen first): each position's
// top-k and target statistics equal the whole lens', whether the residual streams are computed or kept from
// the previous request, and a changed prompt or intervention is never served stale streams.
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model';
import { logitLens } from '../../src/engine/analysis/logitLens';
import { inspectPrompt } from '../../src/engine/analysis/inspect';
import { mergeLensParts } from '../../src/shared/lensPositions';
import { fixture } from '../support/fixtures';

const TOKENS = [5, 17, 3, 42, 8, 5, 17, 3];

describe('logit lens of some positions', function () {
  let model: Model;
  before(async () => {
    model = await Model.load(fixture('gpt2'));
  });
  after(async () => model.dispose());

  /** Top ids and target ranks per [layer][pos], probabilities to 1e-5: what two lens results must agree on. */
  const digest = (r: { top: Array<Array<Array<{ id: number; prob: number }>>>; targets?: Array<Array<Array<{ prob: number; rank: number }>>> }) =>
    JSON.stringify([r.top.map((l) => l.map((c) => c.map((t) => [t.id, t.prob.toFixed(5)]))), r.targets?.map((l) => l.map((c) => c.map((t) => [t.rank, t.prob.toFixed(5)])))]);

  for (const stream of ['pre', 'post'] as const) {
    it(`${stream}: the positions on screen, then the others, make the whole lens`, async () => {
      const whole = await logitLens(model, { tokens: TOKENS, stream, topK: 4, targets: [1, 7] });
      const shown = [5, 6, 7];
      const first = await logitLens(model, { tokens: TOKENS, stream, topK: 4, targets: [1, 7], positions: shown });
      assert.deepEqual(first.positions, shown);
      assert.equal(first.top[0]!.length, shown.length);
      // The second request reuses the residual streams of the first (same prompt, stream and interventions).
      const rest = await logitLens(model, { tokens: TOKENS, stream, topK: 4, targets: [1, 7], positions: [0, 1, 2, 3, 4] });
      assert.equal(digest(mergeLensParts([first, rest], TOKENS.length)), digest(whole));
    });
  }

  it('a changed prompt or intervention is computed afresh, not read from the kept streams', async () => {
    const positions = [2, 3];
    await logitLens(model, { tokens: TOKENS, topK: 3, positions });
    const other = [...TOKENS.slice(0, 7), 9];
    const later = await logitLens(model, { tokens: [...TOKENS.slice(0, 3), 11, 12, 13, 14, 15], topK: 3, positions });
    const laterWhole = await logitLens(model, { tokens: [...TOKENS.slice(0, 3), 11, 12, 13, 14, 15], topK: 3 });
    assert.equal(digest(later), digest({ top: laterWhole.top.map((l) => positions.map((p) => l[p]!)) }));
    await logitLens(model, { tokens: other, topK: 3, positions });
    const zeroed = await logitLens(model, { tokens: other, topK: 3, positions, interventions: [{ hook: 'blocks.0.hook_resid_post', kind: 'zero' }] });
    const zeroedWhole = await logitLens(model, { tokens: other, topK: 3, interventions: [{ hook: 'blocks.0.hook_resid_post', kind: 'zero' }] });
    assert.equal(digest(zeroed), digest({ top: zeroedWhole.top.map((l) => positions.map((p) => l[p]!)) }));
  });

  it('after inline inspection of a prompt, the lens panel\'s first request on it runs no forward', async () => {
    await inspectPrompt(model, TOKENS);
    const forward = model.forward.bind(model);
    let forwards = 0;
    model.forward = (req) => {
      if (req.hooks?.length) forwards++;
      return forward(req);
    };
    try {
      const first = await logitLens(model, { tokens: TOKENS, topK: 4, targets: [1, 7], positions: [6, 7] });
      assert.equal(forwards, 0, 'the residual streams inline inspection computed were used');
      const whole = await logitLens(model, { tokens: TOKENS, topK: 4, targets: [1, 7] });
      assert.equal(digest(first), digest({ top: whole.top.map((l) => [l[6]!, l[7]!]), targets: whole.targets!.map((l) => [l[6]!, l[7]!]) }));
      await logitLens(model, { tokens: [...TOKENS.slice(0, 7), 9], topK: 4, positions: [6, 7] });
      assert.equal(forwards, 1, 'another prompt runs its forward');
    } finally {
      model.forward = forward;
    }
  });

  it('refuses positions outside the prompt or repeated', async () => {
    await assert.rejects(logitLens(model, { tokens: TOKENS, positions: [8] }), /distinct positions of the 8-token prompt/);
    await assert.rejects(logitLens(model, { tokens: TOKENS, positions: [1, 1] }), /distinct positions/);
  });
});
