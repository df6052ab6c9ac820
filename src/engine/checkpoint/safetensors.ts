// Reads safetensors files: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}, then the raw data.
// Tensors are returned as float32 (F16 and BF16 are widened exactly). Every inconsistency is a
// UserError naming the file and the tensor.
import { closeSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../errors';
import { openRegularFile, readExactly, readExactlyInBackground } from '../files';

export type StoredDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const DTYPE_BYTES: Record<StoredDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const FLOAT_DTYPES = new Set<string>(['F32', 'F16', 'BF16']);
/** Headers above this are not plausible for a checkpoint and would be a memory attack. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorEntry {
  name: string;
  dtype: StoredDtype;
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
  file: string;
}

export interface SafetensorsHeader {
  file: string;
  fileSize: number;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const name = basename(file);
  // A weights path may be a folder, a FIFO, a device or a symlink loop: refused by name, never a raw errno.
  const { fd, size: fileSize } = openRegularFile(file, name, Number.MAX_SAFE_INTEGER);
  try {
    if (fileSize < 8) throw new UserError(`${name}: file is truncated (${fileSize} bytes; a safetensors file starts with an 8-byte header length).`);
    const lenBuf = Buffer.alloc(8);
    readExactly(fd, lenBuf, 0, name);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > fileSize - 8) {
      throw new UserError(`${name}: header length ${headerLen} is beyond the end of the file (${fileSize} bytes): the file is truncated or not safetensors.`);
    }
    if (headerLen > MAX_HEADER_BYTES) throw new UserError(`${name}: header of ${headerLen} bytes is implausibly large.`);
    const headerBuf = Buffer.alloc(headerLen);
    readExactly(fd, headerBuf, 8, name);
    let json: unknown;
    try {
      json = JSON.parse(headerBuf.toString('utf8'));
    } catch {
      throw new UserError(`${name}: header is not valid JSON: the file is corrupt or not safetensors.`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UserError(`${name}: header is not a JSON object.`);
    const dataStart = 8 + headerLen;
    const tensors = new Map<string, TensorEntry>();
    let metadata: Record<string, string> = {};
    for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
      if (key === '__metadata__') {
        metadata = (value ?? {}) as Record<string, string>;
        continue;
      }
      const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof v.dtype !== 'string' || !(v.dtype in DTYPE_BYTES)) throw new UserError(`${name}: tensor ${key} has unsupported dtype ${String(v.dtype)}.`);
      if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new UserError(`${name}: tensor ${key} has an invalid shape.`);
      if (!Array.isArray(v.data_offsets) || v.data_offsets.length !== 2 || !v.data_offsets.every((d) => Number.isInteger(d) && d >= 0)) {
        throw new UserError(`${name}: tensor ${key} has invalid data_offsets.`);
      }
      const [begin, end] = v.data_offsets as [number, number];
      const dtype = v.dtype as StoredDtype;
      const shape = v.shape as number[];
      const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
      if (end < begin || end - begin !== expected) {
        throw new UserError(`${name}: tensor ${key} has ${end - begin} bytes of data but its shape [${shape.join(', ')}] and dtype ${dtype} need ${expected}.`);
      }
      if (dataStart + end > fileSize) {
        throw new UserError(`${name}: tensor ${key} ends at byte ${dataStart + end}, beyond the end of the file (${fileSize} bytes): the file is truncated.`);
      }
      tensors.set(key, { name: key, dtype, shape, offset: dataStart + begin, byteLength: end - begin, file });
    }
    checkNoOverlap(name, tensors);
    return { file, fileSize, tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/**
 * Two tensors sharing bytes would make one weight silently alias another (an edited or hostile file);
 * the safetensors format forbids it, so it is refused naming both tensors.
 */
function checkNoOverlap(file: string, tensors: Map<string, TensorEntry>): void {
  const byOffset = [...tensors.values()].filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.offset < prev.offset + prev.byteLength) {
      throw new UserError(`${file}: tensors ${prev.name} and ${cur.name} overlap in the file (bytes ${prev.offset}-${prev.offset + prev.byteLength} and ${cur.offset}-${cur.offset + cur.byteLength}): the file is corrupt.`);
    }
  }
}

/** Reads one tensor's data widened to float32. */
export function readTensorF32(entry: TensorEntry): Float32Array {
  const { n, what } = checkFloatTensor(entry);
  const { fd } = openRegularFile(entry.file, basename(entry.file), Number.MAX_SAFE_INTEGER);
  try {
    if (entry.dtype === 'F32') {
      const out = new Float32Array(n);
      readExactly(fd, new Uint8Array(out.buffer), entry.offset, what);
      return out;
    }
    const raw = new Uint16Array(n);
    readExactly(fd, new Uint8Array(raw.buffer), entry.offset, what);
    return widen(entry, raw);
  } finally {
    closeSync(fd);
  }
}

/** readTensorF32 with the read queued on libuv's thread pool before this returns (see readExactlyInBackground). */
export async function readTensorF32InBackground(entry: TensorEntry): Promise<Float32Array> {
  const { n, what } = checkFloatTensor(entry);
  const { fd } = openRegularFile(entry.file, basename(entry.file), Number.MAX_SAFE_INTEGER);
  try {
    if (entry.dtype === 'F32') {
      const out = new Float32Array(n);
      await readExactlyInBackground(fd, new Uint8Array(out.buffer), entry.offset, what);
      return out;
    }
    const raw = new Uint16Array(n);
    await readExactlyInBackground(fd, new Uint8Array(raw.buffer), entry.offset, what);
    return widen(entry, raw);
  } finally {
    closeSync(fd);
  }
}

function checkFloatTensor(entry: TensorEntry): { n: number; what: string } {
  if (!FLOAT_DTYPES.has(entry.dtype)) throw new UserError(`${basename(entry.file)}: tensor ${entry.name} has dtype ${entry.dtype}; weights must be F32, F16 or BF16.`);
  return { n: entry.byteLength / DTYPE_BYTES[entry.dtype], what: `${basename(entry.file)}: tensor ${entry.name}` };
}

function widen(entry: TensorEntry, raw: Uint16Array): Float32Array {
  return entry.dtype === 'F16' ? f16ToF32(raw) : bf16ToF32(raw);
}

export function bf16ToF32(raw: Uint16Array): Float32Array {
  const bits = new Uint32Array(raw.length);
  for (let i = 0; i < raw.length; i++) bits[i] = raw[i]! << 16;
  return new Float32Array(bits.buffer);
}

export function f16ToF32(raw: Uint16Array): Float32Array {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const h = raw[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}
