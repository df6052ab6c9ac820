import { strict as assert } from 'node:assert';
import { inPlaceTransposer, transpose } from '../../src/engine/architectures/spec';

describe('transpose (checkpoint layouts)', () => {
  it('matches the definition for shapes that are and are not multiples of its tiles, bit for bit', () => {
    for (const [rows, cols] of [[1, 1], [3, 5], [8, 32], [13, 70], [768, 40], [33, 1]] as const) {
      const m = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 1e3);
      m[0] = NaN; // a payload-free NaN and a negative zero survive as their bits
      if (m.length > 1) m[m.length - 1] = -0;
      const t = transpose(m, rows, cols);
      assert.equal(t.length, m.length);
      const bits = new Uint32Array(t.buffer);
      const srcBits = new Uint32Array(m.buffer);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) assert.equal(bits[c * rows + r], srcBits[r * cols + c], `${rows}x${cols} at ${r},${c}`);
    }
  });

  it('passes an empty array through (a dry run) and refuses a length that is not rows x cols', () => {
    assert.equal(transpose(new Float32Array(0), 768, 2304).length, 0);
    assert.throws(() => transpose(new Float32Array(5), 2, 3), /transpose of 5 values/);
  });

  it('reads a view at an offset (a tensor inside a larger buffer)', () => {
    const big = Float32Array.from({ length: 20 }, (_, i) => i);
    const t = transpose(big.subarray(2, 8), 2, 3); // [[2,3,4],[5,6,7]]
    assert.deepEqual(Array.from(t), [2, 5, 3, 6, 4, 7]);
  });

  it('in place through one scratch array: the same array comes back transposed, for matrices of several shapes in turn (the scratch grows)', () => {
    const inPlace = inPlaceTransposer();
    for (const [rows, cols] of [[5, 8], [8, 5], [3, 3], [1, 7], [9, 11]] as const) {
      const m = Float32Array.from({ length: rows * cols }, (_, i) => i - 0.5);
      const expected = transpose(m, rows, cols);
      const out = inPlace(m, rows, cols);
      assert.equal(out, m, 'the array read is the array kept');
      assert.deepEqual(Array.from(out), Array.from(expected), `${rows}x${cols}`);
    }
    assert.equal(inPlace(new Float32Array(0), 5, 8).length, 0); // a dry run
    assert.throws(() => transpose(new Float32Array(6), 2, 3, new Float32Array(5)), /shorter or overlapping/);
  });
});
