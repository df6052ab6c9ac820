// NumPy .npz files (GemmaScope's `params.npz`): a zip archive of .npy arrays. `np.savez` stores entries
// uncompressed, so an array's bytes sit in the file as is and its rows can be read in place; entries of
// `np.savez_compressed` are deflated and are inflated (node's zlib) when read. Only the zip directory is
// read here: no npm zip library reads synchronously and says where an entry's data starts, which is what
// positioned row reads need. numpy writes entries with zip64 local headers (force_zip64), so sizes come
// from the central directory and zip64 extra fields.
import { closeSync, openSync } from 'node:fs';
import { basename } from 'node:path';
import { constants as zlibConstants, crc32, inflateRawSync } from 'node:zlib';
import { UserError } from '../../errors';
import { openRegularFile } from '../../files';
import { readFully, widen } from './storedArray';
import type { FloatDtype, StoredArray } from './storedArray';

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Absolute offset of the entry's (possibly compressed) data. */
  dataOffset: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const MAX_NPY_HEADER = 1 << 20;

/** The arrays of an .npz file, by name without `.npy`. Reads the directory and each .npy header only. */
export function readNpz(file: string): Map<string, StoredArray> {
  const name = basename(file);
  const bad = (why: string) => new UserError(`${name}: not a valid .npz file (${why}).`);
  // Checked as a regular file without blocking (a FIFO named .npz must not hang); any size.
  const { fd, size } = openRegularFile(file, name, Number.MAX_SAFE_INTEGER);
  try {
    const read = (pos: number, len: number): Buffer => {
      if (pos < 0 || pos + len > size) throw bad(`a record at byte ${pos} runs past the end of the file: it is truncated`);
      const b = Buffer.alloc(len);
      readFully(fd, b, pos, file);
      return b;
    };
    // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
    const tailLen = Math.min(size, 22 + 65535);
    const tail = read(size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD_SIG) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw bad('no zip end-of-directory record');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locPos = size - tailLen + eocd - 20;
      const loc = read(locPos, 20);
      if (loc.readUInt32LE(0) !== ZIP64_LOCATOR_SIG) throw bad('zip64 locator missing');
      const z = read(Number(loc.readBigUInt64LE(8)), 56);
      if (z.readUInt32LE(0) !== ZIP64_EOCD_SIG) throw bad('zip64 end-of-directory record missing');
      count = Number(z.readBigUInt64LE(32));
      cdSize = Number(z.readBigUInt64LE(40));
      cdOffset = Number(z.readBigUInt64LE(48));
    }
    const cd = read(cdOffset, cdSize);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let e = 0; e < count; e++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL_SIG) throw bad('central directory is corrupt');
      const flags = cd.readUInt16LE(p + 8);
      const method = cd.readUInt16LE(p + 10);
      const crc = cd.readUInt32LE(p + 16);
      let compressedSize = cd.readUInt32LE(p + 20);
      let uncompressed = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localOffset = cd.readUInt32LE(p + 42);
      const entryName = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // zip64 extra field (id 1): 8-byte values for exactly those fields that are 0xffffffff, in this order.
      let x = p + 46 + nameLen;
      const extraEnd = x + extraLen;
      while (x + 4 <= extraEnd) {
        const id = cd.readUInt16LE(x);
        const len = cd.readUInt16LE(x + 2);
        if (id === 1) {
          let q = x + 4;
          const next = () => {
            const v = Number(cd.readBigUInt64LE(q));
            q += 8;
            return v;
          };
          if (uncompressed === 0xffffffff) uncompressed = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (localOffset === 0xffffffff) localOffset = next();
        }
        x += 4 + len;
      }
      p = extraEnd + commentLen;
      if (flags & 1) throw new UserError(`${name}: entry ${entryName} is encrypted.`);
      const local = read(localOffset, 30);
      if (local.readUInt32LE(0) !== LOCAL_SIG) throw bad(`local header of ${entryName} missing`);
      const dataOffset = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      if (dataOffset + compressedSize > size) throw bad(`${entryName} runs past the end of the file: it is truncated`);
      entries.push({ name: entryName, method, crc, compressedSize, size: uncompressed, dataOffset });
    }
    const arrays = new Map<string, StoredArray>();
    for (const entry of entries) {
      if (!entry.name.endsWith('.npy')) continue;
      const key = entry.name.slice(0, -4);
      arrays.set(key, entry.method === 0 ? storedNpy(file, entry, read) : compressedNpy(file, entry));
    }
    return arrays;
  } finally {
    closeSync(fd);
  }
}

interface NpyHeader {
  dtype: FloatDtype;
  shape: number[];
  fortran: boolean;
  /** Bytes before the data: magic, version, header length and header. */
  dataStart: number;
}

/** Parses a .npy header (format versions 1-3) from the first bytes of the array's file. */
function parseNpyHeader(head: Buffer, where: string): NpyHeader {
  if (head.length < 10 || head.readUInt8(0) !== 0x93 || head.toString('latin1', 1, 6) !== 'NUMPY') throw new UserError(`${where} is not a .npy array.`);
  const major = head.readUInt8(6);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const dataStart = 8 + lenBytes + headerLen;
  if (major < 1 || major > 3 || headerLen > MAX_NPY_HEADER) throw new UserError(`${where}: unsupported .npy format version ${major}.`);
  if (head.length < dataStart) throw new UserError(`${where}: .npy header is truncated.`);
  const text = head.toString(major === 3 ? 'utf8' : 'latin1', 8 + lenBytes, dataStart);
  // The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2304, 16384), }
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new UserError(`${where}: .npy header is not understood: ${text.trim()}`);
  const dtypes: Record<string, FloatDtype> = { '<f4': 'F32', '<f2': 'F16', '<f8': 'F64' };
  const dtype = dtypes[descr];
  if (!dtype) throw new UserError(`${where} has dtype ${descr}; transcoder arrays must be little-endian float32, float16 or float64.`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new UserError(`${where}: .npy shape (${shapeText}) is invalid.`);
  return { dtype, shape, fortran: fortran === 'True', dataStart };
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

const DTYPE_BYTES: Record<FloatDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

function checkSize(h: NpyHeader, entrySize: number, where: string): void {
  const need = h.dataStart + numel(h.shape) * DTYPE_BYTES[h.dtype];
  if (need !== entrySize) throw new UserError(`${where}: ${entrySize} bytes but its header (shape [${h.shape.join(', ')}], ${h.dtype}) needs ${need}.`);
}

/** Fortran-ordered arrays are read whole and put in C order (a 2-D transpose); higher ranks are refused. */
function toCOrder(data: Float32Array, h: NpyHeader, where: string): Float32Array {
  if (!h.fortran || h.shape.length < 2) return data;
  if (h.shape.length > 2) throw new UserError(`${where} is Fortran-ordered with ${h.shape.length} dimensions; save it in C order.`);
  const [r, c] = h.shape as [number, number];
  const out = new Float32Array(data.length);
  for (let j = 0; j < c; j++) for (let i = 0; i < r; i++) out[i * c + j] = data[j * r + i]!;
  return out;
}

function storedNpy(file: string, entry: ZipEntry, read: (pos: number, len: number) => Buffer): StoredArray {
  const where = `${basename(file)}: ${entry.name}`;
  const h = npyHeader((len) => read(entry.dataOffset, Math.min(entry.size, len)), where);
  checkSize(h, entry.size, where);
  const dataOffset = entry.dataOffset + h.dataStart;
  return {
    file,
    name: entry.name.slice(0, -4),
    shape: h.shape,
    dtype: h.dtype,
    offset: h.fortran && h.shape.length > 1 ? undefined : dataOffset,
    read: () => {
      const raw = new Uint8Array(entry.size - h.dataStart);
      const fd = openSync(file, 'r');
      try {
        readFully(fd, raw, dataOffset, file);
      } finally {
        closeSync(fd);
      }
      return toCOrder(widen(h.dtype, raw), h, where);
    },
  };
}

/** The header from the array's first bytes: 4 KiB almost always hold it; a longer one is read again in full. */
function npyHeader(prefix: (len: number) => Buffer, where: string): NpyHeader {
  const head = prefix(4096);
  if (head.length >= 12 && head.readUInt8(0) === 0x93) {
    const len = head.readUInt8(6) === 1 ? head.readUInt16LE(8) + 10 : head.readUInt32LE(8) + 12;
    if (len > head.length && len <= MAX_NPY_HEADER + 12) return parseNpyHeader(prefix(len), where);
  }
  return parseNpyHeader(head, where);
}

function compressedNpy(file: string, entry: ZipEntry): StoredArray {
  const where = `${basename(file)}: ${entry.name}`;
  if (entry.method !== 8) throw new UserError(`${where} uses zip compression method ${entry.method}; only stored and deflated entries are supported.`);
  const inflate = (): Buffer => {
    const fd = openSync(file, 'r');
    let raw: Buffer;
    try {
      raw = Buffer.alloc(entry.compressedSize);
      readFully(fd, raw, entry.dataOffset, file);
    } finally {
      closeSync(fd);
    }
    const out = inflateRawSync(raw);
    if (out.length !== entry.size || crc32(out) !== entry.crc) throw new UserError(`${where} is corrupt (size or CRC does not match the zip directory).`);
    return out;
  };
  // The shape is needed at load time, the data only when read: inflate just a prefix for the header
  // (a sync flush at the end lets zlib stop mid-stream instead of failing on the cut).
  const h = npyHeader((len) => {
    const fd = openSync(file, 'r');
    try {
      const raw = Buffer.alloc(Math.min(entry.compressedSize, len + 1024));
      readFully(fd, raw, entry.dataOffset, file);
      return inflateRawSync(raw, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } finally {
      closeSync(fd);
    }
  }, where);
  checkSize(h, entry.size, where);
  return {
    file,
    name: entry.name.slice(0, -4),
    shape: h.shape,
    dtype: h.dtype,
    read: () => {
      const all = inflate();
      return toCOrder(widen(h.dtype, all.subarray(h.dataStart)), h, where);
    },
  };
}
