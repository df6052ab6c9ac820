// Safetensors reading and writing with hand-computed dtype conversions.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bf16ToF32, f16ToF32, readSafetensorsHeader, readTensorF32 } from '../../src/engine/checkpoint/safetensors';
import { writeSafetensors } from '../../src/engine/checkpoint/safetensorsWriter';

describe('safetensors', function () {
  it('widens F16 exactly (normals, subnormals, limits, infinities)', function () {
    const raw = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0xfc00, 0x3555, 0x0000, 0x8000]);
    const f = f16ToF32(raw);
    assert.deepEqual(Array.from(f.slice(0, 7)), [1, -2, 65504, 2 ** -24, 2 ** -14, Infinity, -Infinity]);
    assert.equal(f[7], Math.fround(0.333251953125));
    assert.ok(Object.is(f[9], -0));
    assert.ok(Number.isNaN(f16ToF32(Uint16Array.from([0x7e00]))[0]!));
  });

  it('widens BF16 exactly', function () {
    assert.deepEqual(Array.from(bf16ToF32(Uint16Array.from([0x3f80, 0xc040, 0x4049]))), [1, -3, 3.140625]);
  });

  it('round-trips F32, F16 and BF16 through write and read', function () {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    try {
      const data = Float32Array.from([0.5, -1.25, 3, 1024]);
      const file = join(dir, 'x.safetensors');
      writeSafetensors(file, { a: { dtype: 'F32', shape: [2, 2], data }, b: { dtype: 'F16', shape: [4], data }, c: { dtype: 'BF16', shape: [4], data } }, { format: 'pt' });
      const h = readSafetensorsHeader(file);
      assert.deepEqual(h.metadata, { format: 'pt' });
      assert.deepEqual(h.tensors.get('a')!.shape, [2, 2]);
      for (const name of ['a', 'b', 'c']) assert.deepEqual(Array.from(readTensorF32(h.tensors.get(name)!)), Array.from(data), name);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
