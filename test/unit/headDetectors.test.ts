// Head-detector scores on hand-built attention patterns with known answers.
import assert from 'node:assert/strict';
import { headScores, repeatedRandomTokens } from '../../src/engine/analysis/attention';

function pattern(T: number, f: (q: number) => number): Float32Array {
  const p = new Float32Array(T * T);
  for (let q = 0; q < T; q++) p[q * T + f(q)] = 1;
  return p;
}

describe('head detectors', function () {
  const tokens = [10, 11, 12, 13, 10, 11, 12, 13];
  it('a perfect previous-token head scores 1 on previous-token and 0 on induction here', function () {
    const s = headScores(pattern(8, (q) => Math.max(0, q - 1)), 1, tokens);
    assert.equal(s.previous_token[0], 1);
    assert.equal(s.induction[0], 0);
  });
  it('a perfect induction head scores 1 on induction', function () {
    // query q >= 4 attends to the token after the earlier copy: q - 4 + 1
    const s = headScores(pattern(8, (q) => (q >= 4 ? q - 3 : 0)), 1, tokens);
    assert.equal(s.induction[0], 1);
    assert.equal(s.duplicate_token[0], 0);
  });
  it('a perfect duplicate-token head scores 1 on duplicate-token', function () {
    const s = headScores(pattern(8, (q) => (q >= 4 ? q - 4 : 0)), 1, tokens);
    assert.equal(s.duplicate_token[0], 1);
  });
  it('repeated random sequences repeat, without duplicates inside a half', function () {
    const t = repeatedRandomTokens(10, 3, 50);
    assert.deepEqual(t.slice(0, 10), t.slice(10));
    assert.equal(new Set(t.slice(0, 10)).size, 10);
  });
});
