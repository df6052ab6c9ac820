// One view over the arrays a transcoder or SAE file holds, whatever the container (safetensors, a
// .npy inside an .npz): name, shape, stored dtype, where its raw bytes sit in the file when they sit
// there as is (so rows can be read with positioned reads), and how to read the whole array as float32.
import { closeSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../../errors';
import { bf16ToF32, f16ToF32, readTensorF32 } from '../../checkpoint/safetensors';
import type { TensorEntry } from '../../checkpoint/safetensors';

export type FloatDtype = 'F32' | 'F16' | 'BF16' | 'F64';

export interface StoredArray {
  file: string;
  name: string;
  shape: number[];
  dtype: string;
  /** Absolute offset of the raw, C-ordered, little-endian data in `file`; undefined when it is compressed. */
  offset?: number;
  /** The whole array, widened to float32. */
  read(): Float32Array;
}

const FLOAT_BYTES: Record<FloatDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

export function isFloatDtype(dtype: string): dtype is FloatDtype {
  return dtype in FLOAT_BYTES;
}

export function fromSafetensors(entry: TensorEntry): StoredArray {
  return { file: entry.file, name: entry.name, shape: entry.shape, dtype: entry.dtype, offset: entry.offset, read: () => readTensorF32(entry) };
}

/** Little-endian float bytes to float32 (F32 bytes at an aligned offset are viewed, not copied). */
export function widen(dtype: FloatDtype, raw: Uint8Array): Float32Array {
  const bytes = FLOAT_BYTES[dtype];
  // Typed views need offsets aligned to their element size; an unaligned slice is copied first.
  const r = raw.byteOffset % bytes === 0 ? raw : new Uint8Array(raw);
  const n = r.byteLength / bytes;
  switch (dtype) {
    case 'F32':
      return new Float32Array(r.buffer, r.byteOffset, n);
    case 'F16':
      return f16ToF32(new Uint16Array(r.buffer, r.byteOffset, n));
    case 'BF16':
      return bf16ToF32(new Uint16Array(r.buffer, r.byteOffset, n));
    case 'F64':
      return Float32Array.from(new Float64Array(r.buffer, r.byteOffset, n));
  }
}

/**
 * Rows of a stored array (row = index along the first axis, `rowElems` values) by positioned reads of just
 * those bytes. Returns [rows.length, rowElems] in the order asked.
 */
export function readRows(a: StoredArray, rows: readonly number[], rowElems: number): Float32Array {
  if (a.offset === undefined || !isFloatDtype(a.dtype)) throw new Error(`internal: ${a.name} in ${a.file} cannot be read by rows`);
  const rowBytes = rowElems * FLOAT_BYTES[a.dtype];
  const raw = new Uint8Array(rows.length * rowBytes);
  const fd = openSync(a.file, 'r');
  try {
    // Runs of consecutive rows (in the asked order, so their slots in `raw` are contiguous too) are one read.
    let i = 0;
    while (i < rows.length) {
      let j = i + 1;
      while (j < rows.length && rows[j] === rows[j - 1]! + 1) j++;
      readFully(fd, raw.subarray(i * rowBytes, j * rowBytes), a.offset + rows[i]! * rowBytes, a.file);
      i = j;
    }
  } finally {
    closeSync(fd);
  }
  return widen(a.dtype, raw);
}

export function readFully(fd: number, target: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < target.byteLength) {
    const n = readSync(fd, target, done, Math.min(target.byteLength - done, 1 << 30), position + done);
    if (n === 0) throw new UserError(`${basename(file)}: unexpected end of file at byte ${position + done}: the file is truncated.`);
    done += n;
  }
}

/** Refuses NaN and infinite values, naming the file and the array. */
export function checkFinite(data: Float32Array, file: string, name: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      throw new UserError(`${basename(file)}: ${name} holds a non-finite value (${data[i]}) at flat index ${i}: the file is corrupt or the training diverged.`);
    }
  }
}
