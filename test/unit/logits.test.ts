import { strict as assert } from 'node:assert';
import { logSoftmax, logSumExp, rankOf, softmax, topIndices } from '../../src/shared/logits';

describe('reading logit vectors (shared/logits)', () => {
  // Values with many ties (rounded), so the order among equals is exercised.
  const row = Float32Array.from({ length: 5000 }, (_, i) => Math.round(Math.sin(i * 12.9898) * 43758.5453 % 1 * 40) / 4);

  it('top-k by partial selection equals the first k of a full stable sort, ties by lower index', () => {
    const sorted = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!);
    for (const k of [0, 1, 5, 37, row.length, row.length + 3]) assert.deepEqual(topIndices(row, k), sorted.slice(0, k), `k = ${k}`);
  });

  it('log-sum-exp against float64 summation, stable for large logits, -Infinity for none', () => {
    let naive = 0;
    for (const x of row) naive += Math.exp(x);
    assert.ok(Math.abs(logSumExp(row) - Math.log(naive)) < 1e-12);
    assert.ok(Math.abs(logSumExp([1000, 1000]) - (1000 + Math.LN2)) < 1e-12, 'no overflow');
    assert.equal(logSumExp([-Infinity, -Infinity]), -Infinity);
    assert.equal(logSumExp([]), -Infinity);
  });

  it('log-softmax is the logits less their log-sum-exp, its exponentials summing to 1', () => {
    const lp = logSoftmax(row);
    const lse = logSumExp(row);
    row.forEach((x, i) => assert.equal(lp[i], x - lse));
    assert.ok(Math.abs(lp.reduce((a, v) => a + Math.exp(v), 0) - 1) < 1e-12);
  });

  it('softmax equals the exponentials of the log-softmax and sums to 1, without overflow at large logits', () => {
    const p = softmax(row);
    const lp = logSoftmax(row);
    row.forEach((_, i) => assert.ok(Math.abs(p[i]! - Math.exp(lp[i]!)) < 1e-15));
    assert.ok(Math.abs(p.reduce((a, v) => a + v, 0) - 1) < 1e-12);
    assert.deepEqual(Array.from(softmax([1000, 1000])), [0.5, 0.5]);
  });

  it('rank counts the strictly larger entries', () => {
    const top = topIndices(row, 3);
    assert.equal(rankOf(row, top[0]!), 0);
    for (const id of [0, 17, 4999]) assert.equal(rankOf(row, id), Array.from(row).filter((x) => x > row[id]!).length);
  });
});
