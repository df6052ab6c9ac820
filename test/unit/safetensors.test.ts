// Safetensors reading and writing with hand-computed dtype conversions.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bf16ToF32, f16ToF32, readSafetensorsHeader, readTensorF32, readTensorF32InBackground } from '../../src/engine/checkpoint/safetensors';
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

  it('reads in the background what it reads in the foreground, and a file that shrank after its header is a clear error', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    try {
      const data = Float32Array.from({ length: 300 }, (_, i) => Math.cos(i) * 7);
      const file = join(dir, 'x.safetensors');
      writeSafetensors(file, { a: { dtype: 'F32', shape: [300], data }, b: { dtype: 'BF16', shape: [300], data }, c: { dtype: 'F16', shape: [300], data } });
      const h = readSafetensorsHeader(file);
      // Every read is queued at once, as a load queues them.
      const read = await Promise.all(['a', 'b', 'c'].map((name) => readTensorF32InBackground(h.tensors.get(name)!)));
      for (const [i, name] of ['a', 'b', 'c'].entries()) assert.deepEqual(Array.from(read[i]!), Array.from(readTensorF32(h.tensors.get(name)!)), name);
      truncateSync(file, h.tensors.get('c')!.offset + 10);
      await assert.rejects(readTensorF32InBackground(h.tensors.get('c')!), /x\.safetensors: tensor c: unexpected end of file \(the file shrank or is truncated\)/);
      await assert.rejects(readTensorF32InBackground({ ...h.tensors.get('a')!, dtype: 'I64' }), /tensor a has dtype I64; weights must be F32, F16 or BF16/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
