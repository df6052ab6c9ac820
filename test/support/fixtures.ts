// Paths and readers for the committed fixtures (test/fixtures, see its README for how they were made).
import { join } from 'node:path';
import { readSafetensorsHeader, readTensorF32 } from '../../src/engine/checkpoint/safetensors';
import { closeSync, openSync, readSync } from 'node:fs';

export const FIXTURES = join(__dirname, '..', 'fixtures');
/** The bundled default model; MECHLENS_TEST_MODEL points the engine tests at another build of it (a retrain). */
export const DEFAULT_MODEL = process.env.MECHLENS_TEST_MODEL ?? join(__dirname, '..', '..', 'models', 'mechlens-tiny');

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

export interface Golden {
  inputIds: number[][];
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

/** Reads a golden file of a fixture (`golden.safetensors`: activations; `gradients.safetensors`: gradients). */
export function readGolden(dir: string, file = 'golden.safetensors'): Golden {
  const header = readSafetensorsHeader(join(dir, file));
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let inputIds: number[][] = [];
  for (const [name, e] of header.tensors) {
    if (name === 'input_ids') {
      const fd = openSync(e.file, 'r');
      const buf = new BigInt64Array(e.byteLength / 8);
      readSync(fd, new Uint8Array(buf.buffer), 0, e.byteLength, e.offset);
      closeSync(fd);
      const [B, T] = e.shape as [number, number];
      inputIds = Array.from({ length: B }, (_, b) => Array.from(buf.subarray(b * T, (b + 1) * T), Number));
    } else {
      tensors.set(name, { shape: e.shape, data: readTensorF32(e) });
    }
  }
  return { inputIds, tensors };
}

/** Max |a - b| over entries where both are finite; -inf must match -inf. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (!Number.isFinite(x) || !Number.isFinite(y)) return Infinity;
    m = Math.max(m, Math.abs(x - y));
  }
  return m;
}
