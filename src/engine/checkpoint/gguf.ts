// Reads llama.cpp GGUF files (versions 2 and 3) as a checkpoint: the header's metadata becomes a
// Hugging Face style config.json, tensor names become Hugging Face names, and tensors are read and
// dequantised to float32 on demand, so the architecture adapters (llama.ts, gemma2.ts, gemma3.ts) load a GGUF file
// exactly as they load a safetensors folder. Layout (github.com/ggml-org/ggml docs/gguf.md), little-endian:
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count,
//   kv_count × (string key, u32 value_type, value)            string = u64 length + UTF-8 bytes
//   tensor_count × (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset)
//   padding to general.alignment (default 32), then the tensor data (offsets relative to its start).
// ne[0] is the fastest-varying dimension, so a GGUF [ne0, ne1] tensor is the row-major [ne1, ne0] matrix
// PyTorch has. The file is untrusted: every count and length is checked against the bytes that remain
// before anything is allocated, and the header is read through files.ts's bounded, non-blocking open.
// A maintained parser (@huggingface/gguf) exists, but it reads over fetch and keeps whole metadata arrays
// without these bounds; the container is small enough to read here with the checks this engine needs.
import { closeSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../errors';
import { MiB, openRegularFile, readExactly } from '../files';
import { bf16ToF32, f16ToF32 } from './safetensors';
import type { ConfigJson, ModelConfig } from '../architectures/spec';

/** ggml_type ids (ggml.h). Those in LAYOUT are read; the rest are named in the refusal. */
const GGML_TYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K',
  12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S',
  20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64',
  29: 'IQ1_M', 30: 'BF16', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};
export type GgufType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';
/** Bytes per block and values per block of the types read (block layouts: ggml-common.h). */
const LAYOUT: Record<GgufType, { block: number; bytes: number }> = {
  F32: { block: 1, bytes: 4 },
  F16: { block: 1, bytes: 2 },
  BF16: { block: 1, bytes: 2 },
  Q8_0: { block: 32, bytes: 34 }, // f16 scale d, then 32 int8 q; value = d * q
  Q4_0: { block: 32, bytes: 18 }, // f16 d, 16 bytes of nibbles; value = d * (q - 8)
  Q4_K: { block: 256, bytes: 144 }, // f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles
  Q6_K: { block: 256, bytes: 210 }, // 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 int8 scales, f16 d
};
export const GGUF_SUPPORTED_TYPES = Object.keys(LAYOUT) as GgufType[];

/** Far above any released model; a count is used to allocate before anything else is checked. */
const MAX_TENSORS = 1 << 20;
const MAX_KV = 1 << 20;
/** A key, a tensor name or a token is short; a chat template or a license can be long. */
const MAX_STRING_BYTES = 16 * MiB;
/** Metadata of a 256k-token vocabulary with merges is about 20 MiB; more is not a GGUF header. */
const MAX_HEADER_BYTES = 1024 * MiB;

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  type: GgufType;
  /** PyTorch order (ne reversed): [rows, cols] for a matrix. */
  shape: number[];
  /** Absolute byte offset of the data. */
  offset: number;
  byteLength: number;
}

export interface GgufHeader {
  file: string;
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
}

export function isGgufPath(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf');
}

/** Reads the header and tensor table, checking every count, length, type and offset. */
export function readGgufHeader(file: string): GgufHeader {
  const name = basename(file);
  const { fd, size } = openRegularFile(file, name, Number.MAX_SAFE_INTEGER);
  try {
    const r = new Reader(fd, size, name);
    if (size < 24) throw new UserError(`${name}: file is truncated (${size} bytes; a GGUF header is at least 24).`);
    const magic = r.bytes(4).toString('latin1');
    if (magic !== 'GGUF') throw new UserError(`${name}: not a GGUF file (it starts with ${JSON.stringify(magic)}, not "GGUF").`);
    const version = r.u32();
    // Version 1 used 32-bit counts and lengths; llama.cpp itself stopped reading it in 2023.
    if (version !== 2 && version !== 3) throw new UserError(`${name}: GGUF version ${version} is not supported (versions 2 and 3 are).`);
    const nTensors = r.count(MAX_TENSORS, 'tensor count', 8 + 4 + 8 + 4 + 8);
    const nKv = r.count(MAX_KV, 'metadata count', 8 + 4);
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = r.string('metadata key');
      metadata.set(key, r.value(r.u32(), key, 0));
    }
    const rawAlign = metadata.get('general.alignment') ?? 32;
    const alignment = typeof rawAlign === 'number' ? rawAlign : NaN;
    if (!Number.isInteger(alignment) || alignment < 1 || alignment > 1 << 20 || (alignment & (alignment - 1)) !== 0) {
      throw new UserError(`${name}: general.alignment ${String(rawAlign)} is not a power of two.`);
    }
    const infos: Array<{ name: string; ne: number[]; typeId: number; rel: number }> = [];
    for (let i = 0; i < nTensors; i++) {
      const tname = r.string('tensor name');
      const nDims = r.u32();
      // GGML_MAX_DIMS is 4.
      if (nDims < 1 || nDims > 4) throw new UserError(`${name}: tensor ${tname} has ${nDims} dimensions (1 to 4 allowed): the file is corrupt.`);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) ne.push(r.u64(`dimension of ${tname}`));
      const typeId = r.u32();
      infos.push({ name: tname, ne, typeId, rel: r.u64(`offset of ${tname}`) });
    }
    const dataStart = Math.ceil(r.pos / alignment) * alignment;
    if (r.pos > MAX_HEADER_BYTES) throw new UserError(`${name}: header of ${r.pos} bytes is implausibly large.`);
    const tensors = new Map<string, GgufTensorInfo>();
    for (const t of infos) {
      if (tensors.has(t.name)) throw new UserError(`${name}: tensor ${t.name} is listed twice: the file is corrupt.`);
      const typeName = GGML_TYPES[t.typeId];
      if (typeName === undefined) throw new UserError(`${name}: tensor ${t.name} has unknown ggml type ${t.typeId}: the file is corrupt or from a newer llama.cpp.`);
      if (!(typeName in LAYOUT)) {
        throw new UserError(
          `${name}: tensor ${t.name} is ${typeName}, which MechLens does not read (it reads ${GGUF_SUPPORTED_TYPES.join(', ')}). ` +
            `Convert with llama.cpp to a supported type (e.g. llama-quantize --allow-requantize IN OUT Q8_0), or open the original safetensors checkpoint.`,
        );
      }
      const type = typeName as GgufType;
      const { block, bytes } = LAYOUT[type];
      const count = t.ne.reduce((a, b) => a * b, 1);
      if (t.ne.some((d) => d < 1) || !Number.isSafeInteger(count) || count > 2 ** 40) throw new UserError(`${name}: tensor ${t.name} has invalid dimensions [${t.ne.join(', ')}].`);
      if (t.ne[0]! % block !== 0) throw new UserError(`${name}: tensor ${t.name} is ${type} but its rows of ${t.ne[0]} values are not whole blocks of ${block}.`);
      const byteLength = (count / block) * bytes;
      if (t.rel % alignment !== 0) throw new UserError(`${name}: tensor ${t.name} starts at offset ${t.rel}, not a multiple of the alignment ${alignment}: the file is corrupt.`);
      const offset = dataStart + t.rel;
      if (offset + byteLength > size) {
        throw new UserError(`${name}: tensor ${t.name} ends at byte ${offset + byteLength}, beyond the end of the file (${size} bytes): the file is truncated.`);
      }
      tensors.set(t.name, { name: t.name, type, shape: [...t.ne].reverse(), offset, byteLength });
    }
    const sorted = [...tensors.values()].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      const cur = sorted[i]!;
      if (cur.offset < prev.offset + prev.byteLength) throw new UserError(`${name}: tensors ${prev.name} and ${cur.name} overlap in the file: the file is corrupt.`);
    }
    return { file, version, metadata, tensors };
  } finally {
    closeSync(fd);
  }
}

/** Reads one tensor, dequantised to float32, in PyTorch's row-major order. */
export function readGgufTensor(file: string, t: GgufTensorInfo): Float32Array {
  const name = basename(file);
  const { fd } = openRegularFile(file, name, Number.MAX_SAFE_INTEGER);
  try {
    const raw = new Uint8Array(t.byteLength);
    readExactly(fd, raw, t.offset, `${name}: tensor ${t.name}`);
    return dequantize(t.type, raw);
  } finally {
    closeSync(fd);
  }
}

export function dequantize(type: GgufType, raw: Uint8Array): Float32Array {
  const aligned = raw.byteOffset % 4 === 0 ? raw : raw.slice();
  switch (type) {
    case 'F32':
      return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4).slice();
    case 'F16':
      return f16ToF32(new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2));
    case 'BF16':
      return bf16ToF32(new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2));
    case 'Q8_0':
      return byBlocks(raw, 34, 32, (base, y, out) => {
        const d = halfAt(raw, base);
        for (let j = 0; j < 32; j++) out[y + j] = d * ((raw[base + 2 + j]! << 24) >> 24); // int8
      });
    case 'Q4_0':
      return dequantizeQ4_0(raw);
    case 'Q4_K':
      return dequantizeQ4_K(raw);
    case 'Q6_K':
      return dequantizeQ6_K(raw);
  }
}

// The quantised blocks, as ggml-quants.c dequantize_row_* compute them: every product a float32 operation
// in the C code's order (Math.fround), so the values are llama.cpp's own. Checked against an independent
// numpy dequantiser on random blocks (tools/reference/ggml_quants.py, test/engine/gguf.test.ts).
const f32 = Math.fround;

/** Every f16 bit pattern's value, built on first use: a block's scales are looked up, not converted. */
let HALF: Float32Array | undefined;
function halfAt(raw: Uint8Array, at: number): number {
  HALF ??= f16ToF32(Uint16Array.from({ length: 65536 }, (_, i) => i));
  return HALF[raw[at]! | (raw[at + 1]! << 8)]!;
}

/** Decodes `raw` block by block: `decode(base, y, out)` writes the values of the block at byte `base` from `out[y]`. */
function byBlocks(raw: Uint8Array, blockBytes: number, blockValues: number, decode: (base: number, y: number, out: Float32Array) => void): Float32Array {
  const nb = raw.byteLength / blockBytes;
  const out = new Float32Array(nb * blockValues);
  for (let b = 0; b < nb; b++) decode(b * blockBytes, b * blockValues, out);
  return out;
}

/** Q4_0: per 32 values, f16 d and 16 bytes; byte j holds value j (low nibble) and j + 16 (high), minus 8. */
function dequantizeQ4_0(raw: Uint8Array): Float32Array {
  return byBlocks(raw, 18, 32, (base, y, out) => {
    const d = halfAt(raw, base);
    for (let j = 0; j < 16; j++) {
      const q = raw[base + 2 + j]!;
      out[y + j] = f32(((q & 0x0f) - 8) * d);
      out[y + j + 16] = f32(((q >> 4) - 8) * d);
    }
  });
}

/** Q4_K: per 256 values, eight sub-blocks of 32 with 6-bit scale and min each (get_scale_min_k4). */
function dequantizeQ4_K(raw: Uint8Array): Float32Array {
  return byBlocks(raw, 144, 256, (base, y, out) => {
    const d = halfAt(raw, base);
    const dmin = halfAt(raw, base + 2);
    const sc = base + 4;
    // get_scale_min_k4(j): j < 4 reads bytes j and j + 4; j >= 4 takes 4 bits of byte j + 4 and the top 2 bits
    // of bytes j - 4 (the scale) and j (the min).
    const scaleOf = (j: number) => (j < 4 ? raw[sc + j]! & 63 : (raw[sc + j + 4]! & 0x0f) | ((raw[sc + j - 4]! >> 6) << 4));
    const minOf = (j: number) => (j < 4 ? raw[sc + j + 4]! & 63 : (raw[sc + j + 4]! >> 4) | ((raw[sc + j]! >> 6) << 4));
    for (let g = 0; g < 4; g++) {
      // Sub-blocks 2g (low nibbles) and 2g + 1 (high nibbles) share the 32 bytes at q.
      const q = base + 16 + g * 32;
      const [sc1, m1, sc2, m2] = [scaleOf(2 * g), minOf(2 * g), scaleOf(2 * g + 1), minOf(2 * g + 1)];
      const d1 = f32(d * sc1);
      const min1 = f32(dmin * m1);
      const d2 = f32(d * sc2);
      const min2 = f32(dmin * m2);
      for (let l = 0; l < 32; l++) out[y++] = f32(f32(d1 * (raw[q + l]! & 0x0f)) - min1);
      for (let l = 0; l < 32; l++) out[y++] = f32(f32(d2 * (raw[q + l]! >> 4)) - min2);
    }
  });
}

/** Q6_K: per 256 values, two halves of 128: 4 low bits from ql, 2 high bits from qh, minus 32, times d * scale. */
function dequantizeQ6_K(raw: Uint8Array): Float32Array {
  const ds = new Float64Array(8);
  return byBlocks(raw, 210, 256, (base, y0, out) => {
    const d = halfAt(raw, base + 208);
    for (let n = 0; n < 2; n++) {
      const ql = base + n * 64;
      const qh = base + 128 + n * 32;
      const sc = base + 192 + n * 8;
      const y = y0 + n * 128;
      // d * scale for the 8 int8 scales of this half (value l of quarter k uses scale 2k + l / 16).
      for (let i = 0; i < 8; i++) ds[i] = f32(d * ((raw[sc + i]! << 24) >> 24));
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = raw[qh + l]!;
        const q1 = ((raw[ql + l]! & 0x0f) | ((h & 3) << 4)) - 32;
        const q2 = ((raw[ql + l + 32]! & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((raw[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((raw[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = f32(ds[is]! * q1);
        out[y + l + 32] = f32(ds[is + 2]! * q2);
        out[y + l + 64] = f32(ds[is + 4]! * q3);
        out[y + l + 96] = f32(ds[is + 6]! * q4);
      }
    }
  });
}

/** A cursor over the header: reads ahead in chunks, never allocates more than the file still holds. */
class Reader {
  pos = 0;
  private buf = Buffer.alloc(0);
  private bufStart = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly name: string,
  ) {}

  private ensure(n: number): void {
    if (this.pos + n > this.size) throw new UserError(`${this.name}: unexpected end of file in the header (byte ${this.pos} + ${n} of ${this.size}): the file is truncated.`);
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const len = Math.min(Math.max(n, MiB), this.size - this.pos);
    this.buf = Buffer.alloc(len);
    readExactly(this.fd, this.buf, this.pos, this.name);
    this.bufStart = this.pos;
  }

  bytes(n: number): Buffer {
    this.ensure(n);
    const start = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  u32(): number {
    return this.bytes(4).readUInt32LE(0);
  }

  u64(what: string): number {
    const v = this.bytes(8).readBigUInt64LE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new UserError(`${this.name}: ${what} ${v} is implausibly large: the file is corrupt.`);
    return Number(v);
  }

  /** A count of items each at least `minItemBytes` long: more than the rest of the file could hold is refused. */
  count(max: number, what: string, minItemBytes: number): number {
    const n = this.u64(what);
    if (n > max || n * minItemBytes > this.size - this.pos) throw new UserError(`${this.name}: ${what} ${n} is more than the rest of the file can hold: the file is truncated or corrupt.`);
    return n;
  }

  string(what: string): string {
    const n = this.u64(`length of a ${what}`);
    if (n > MAX_STRING_BYTES || n > this.size - this.pos) throw new UserError(`${this.name}: a ${what} of ${n} bytes is more than the rest of the file can hold: the file is truncated or corrupt.`);
    return this.bytes(n).toString('utf8');
  }

  value(type: number, key: string, depth: number): GgufValue {
    switch (type) {
      case 0: return this.bytes(1).readUInt8(0);
      case 1: return this.bytes(1).readInt8(0);
      case 2: return this.bytes(2).readUInt16LE(0);
      case 3: return this.bytes(2).readInt16LE(0);
      case 4: return this.u32();
      case 5: return this.bytes(4).readInt32LE(0);
      case 6: return this.bytes(4).readFloatLE(0);
      case 7: return this.bytes(1).readUInt8(0) !== 0;
      case 8: return this.string(`string in ${key}`);
      case 9: {
        if (depth > 2) throw new UserError(`${this.name}: metadata ${key} nests arrays too deeply: the file is corrupt.`);
        const elemType = this.u32();
        const size = ELEMENT_BYTES[elemType] ?? 1;
        const n = this.count(Number.MAX_SAFE_INTEGER, `length of ${key}`, size);
        const out: GgufValue[] = new Array<GgufValue>(n);
        for (let i = 0; i < n; i++) out[i] = this.value(elemType, key, depth + 1);
        return out;
      }
      case 10: return this.bytes(8).readBigUInt64LE(0);
      case 11: return this.bytes(8).readBigInt64LE(0);
      case 12: return this.bytes(8).readDoubleLE(0);
      default:
        throw new UserError(`${this.name}: metadata ${key} has unknown value type ${type}: the file is corrupt.`);
    }
  }
}

/** Smallest encoding of each value type (strings: their 8-byte length), for bounding array lengths. */
const ELEMENT_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 9: 12, 10: 8, 11: 8, 12: 8 };

// ---------------------------------------------------------------------------------------------------
// GGUF as a checkpoint: config, tensor names, the rotary permutation, tokenizer.

export interface GgufCheckpoint {
  header: GgufHeader;
  /** A Hugging Face style config.json for the architecture adapter. */
  configJson: ConfigJson;
  /** Applied after the adapter's config: conventions the converter baked into the weights. */
  configOverrides: Partial<ModelConfig>;
  /** Hugging Face tensor name -> GGUF tensor and how to read it. */
  tensors: Map<string, { info: GgufTensorInfo; read: () => Float32Array }>;
  /** tokenizer.json built from the metadata, when its tokenizer model is one MechLens can rebuild. */
  tokenizerJson?: Record<string, unknown>;
  tokenizerConfig?: Record<string, unknown>;
  warnings: string[];
}

/** general.architecture values read, with the model_type their config becomes. */
const GGUF_ARCHITECTURES: Record<string, string> = { llama: 'llama', qwen2: 'qwen2', qwen3: 'qwen3', gemma2: 'gemma2', gemma3: 'gemma3_text' };
/** Rotary scalings read: rope.scaling.type values, and llama.cpp's rope_freqs tensor (Llama 3.1+). */
const GGUF_ROPE_SCALINGS = ['none', 'linear'];

export function openGgufCheckpoint(file: string): GgufCheckpoint {
  const header = readGgufHeader(file);
  const name = basename(file);
  const md = header.metadata;
  const arch = md.get('general.architecture');
  if (typeof arch !== 'string') throw new UserError(`${name}: GGUF metadata has no general.architecture.`);
  const modelType = GGUF_ARCHITECTURES[arch];
  if (modelType === undefined) {
    throw new UserError(`${name}: GGUF architecture "${arch}" is not supported (supported: ${Object.keys(GGUF_ARCHITECTURES).join(', ')}).`);
  }
  const num = (key: string): number | undefined => {
    const v = md.get(`${arch}.${key}`);
    if (v === undefined) return undefined;
    if (typeof v === 'bigint') return Number(v);
    if (typeof v !== 'number') throw new UserError(`${name}: metadata ${arch}.${key} must be a number (got ${Array.isArray(v) ? 'a list: per-layer values are not supported' : typeof v}).`);
    return v;
  };
  const need = (key: string): number => {
    const v = num(key);
    if (v === undefined) throw new UserError(`${name}: GGUF metadata lacks ${arch}.${key}.`);
    return v;
  };
  // Rotary scaling: rope.scaling.type / rope.scaling.factor keys (linear), or for Llama 3.1+ a rope_freqs
  // tensor of per-frequency divisors, as convert_hf_to_gguf.py writes for rope_type "llama3".
  const scaling = md.get(`${arch}.rope.scaling.type`) ?? 'none';
  if (typeof scaling !== 'string' || !GGUF_ROPE_SCALINGS.includes(scaling)) {
    throw new UserError(`${name}: rotary scaling ${JSON.stringify(scaling)} is not supported (supported: ${GGUF_ROPE_SCALINGS.join(', ')}, and rope_freqs divisors as Llama 3.1+ files carry).`);
  }
  const ropeFreqs = header.tensors.get('rope_freqs.weight');
  if (ropeFreqs && arch !== 'llama') throw new UserError(`${name}: a rope_freqs tensor in a ${arch} file is not supported (only llama files carry one).`);
  const dModel = need('embedding_length');
  const nHeads = need('attention.head_count');
  const headDim = num('attention.key_length') ?? dModel / nHeads;
  const valueDim = num('attention.value_length') ?? headDim;
  if (valueDim !== headDim) throw new UserError(`${name}: key length ${headDim} and value length ${valueDim} differ; MechLens needs them equal.`);
  const ropeDims = num('rope.dimension_count') ?? headDim;
  if (ropeDims !== headDim) throw new UserError(`${name}: rotary over ${ropeDims} of ${headDim} dimensions per head is not supported for ${arch}.`);
  const embd = header.tensors.get('token_embd.weight');
  if (!embd) throw new UserError(`${name}: GGUF file has no token_embd.weight.`);
  const tied = !header.tensors.has('output.weight');
  const configJson: ConfigJson = {
    model_type: modelType,
    hidden_size: dModel,
    num_hidden_layers: need('block_count'),
    num_attention_heads: nHeads,
    num_key_value_heads: num('attention.head_count_kv') ?? nHeads,
    head_dim: headDim,
    intermediate_size: need('feed_forward_length'),
    vocab_size: num('vocab_size') ?? embd.shape[0],
    max_position_embeddings: num('context_length'),
    rms_norm_eps: num('attention.layer_norm_rms_epsilon'),
    rope_theta: num('rope.freq_base'),
    tie_word_embeddings: tied,
    hidden_act: 'silu',
  };
  const configOverrides: Partial<ModelConfig> = {};
  if (scaling === 'linear') configJson.rope_scaling = { rope_type: 'linear', factor: need('rope.scaling.factor') };
  if (ropeFreqs) {
    if (ropeFreqs.shape.length !== 1 || ropeFreqs.shape[0] !== ropeDims / 2) throw new UserError(`${name}: rope_freqs.weight has shape [${ropeFreqs.shape.join(', ')}]; ${ropeDims / 2} divisors (one per rotary frequency) were expected.`);
    const divisors = [...readGgufTensor(file, ropeFreqs)];
    if (!divisors.every((v) => Number.isFinite(v) && v > 0)) throw new UserError(`${name}: rope_freqs.weight holds a divisor that is not a finite number > 0.`);
    configOverrides.ropeScaling = { type: 'divisors', divisors };
  }
  if (arch === 'gemma2' || arch === 'gemma3') {
    configJson.hidden_activation = 'gelu_pytorch_tanh';
    configJson.sliding_window = num('attention.sliding_window') ?? null;
    configJson.attn_logit_softcapping = num('attn_logit_softcapping') ?? null;
    configJson.final_logit_softcapping = num('final_logit_softcapping') ?? null;
    // Not stored by llama.cpp's converter: llama.cpp scales queries by 1/sqrt(head_dim), except for the
    // 27B models (Gemma-2: 46 layers, Gemma-3: 62), where query_pre_attn_scalar is d_model / heads.
    // `<arch>.attention.scale` (a standard GGUF key other architectures use) wins when a file carries it.
    const scale = num('attention.scale');
    const layers = configJson.num_hidden_layers as number;
    const is27b = layers === (arch === 'gemma2' ? 46 : 62);
    configJson.query_pre_attn_scalar = scale !== undefined ? 1 / (scale * scale) : is27b ? dModel / nHeads : headDim;
    // The converter stores Gemma's norm weights (q/k norms included) as 1 + w (llama.cpp multiplies by them directly).
    configOverrides.normWeightOffset = 0;
  }
  if (arch === 'gemma3') {
    // llama.cpp's Gemma-3: every 6th layer global, local rotary base 10000 (hparams.set_swa_pattern(6),
    // rope_freq_base_train_swa); files that carry the pattern or the local base say so in these keys.
    const pattern = md.get(`${arch}.attention.sliding_window_pattern`);
    if (Array.isArray(pattern)) configJson.layer_types = pattern.map((s) => (s === true || s === 1 ? 'sliding_attention' : 'full_attention'));
    else configJson.sliding_window_pattern = num('attention.sliding_window_pattern') ?? 6;
    configJson.rope_local_base_freq = num('rope.freq_base_swa') ?? 10000;
    configJson.rope_theta = num('rope.freq_base') ?? 1_000_000;
  }

  const nKv = configJson.num_key_value_heads as number;
  const tensors = new Map<string, { info: GgufTensorInfo; read: () => Float32Array }>();
  const unmapped: string[] = [];
  for (const info of header.tensors.values()) {
    if (info === ropeFreqs) continue; // read above, into the config
    const hf = hfTensorName(info.name, arch);
    if (hf === undefined) {
      unmapped.push(info.name);
      continue;
    }
    let read = () => readGgufTensor(file, info);
    // llama.cpp's LLAMA rotary pairs adjacent dimensions, so its converter permutes the rows of each
    // Q and K head from Hugging Face's rotate-half order; undo it. Qwen2/3 and Gemma-2/3 use the NeoX
    // (rotate-half) layout in llama.cpp and are stored unpermuted.
    if (arch === 'llama' && /\.self_attn\.[qk]_proj\.(weight|bias)$/.test(hf)) {
      const heads = hf.includes('.q_proj.') ? nHeads : nKv;
      read = () => unpermuteRotary(readGgufTensor(file, info), heads, info.shape);
    }
    tensors.set(hf, { info, read });
  }
  const warnings: string[] = [];
  if (unmapped.length > 0) warnings.push(`GGUF tensors not used: ${unmapped.slice(0, 5).join(', ')}${unmapped.length > 5 ? ` and ${unmapped.length - 5} more` : ''}.`);
  const types = [...new Set([...header.tensors.values()].map((t) => t.type))];
  if (types.some((t) => t !== 'F32')) warnings.push(`Weights stored as ${types.join(', ')} in the GGUF file are dequantised to float32 on load.`);
  let tokenizerJson: Record<string, unknown> | undefined;
  let tokenizerConfig: Record<string, unknown> | undefined;
  try {
    const built = ggufTokenizer(md);
    if (built) ({ json: tokenizerJson, config: tokenizerConfig } = built);
    else if (md.has('tokenizer.ggml.model')) warnings.push(`The GGUF file's tokenizer (${String(md.get('tokenizer.ggml.model'))}, pre-tokenizer ${String(md.get('tokenizer.ggml.pre') ?? 'default')}) is not one MechLens rebuilds (it rebuilds llama and gpt2 with pre-tokenizer ${Object.keys(BPE_SPLITS).join(', ')}): prompts must be given as token ids.`);
    else warnings.push('The GGUF file carries no tokenizer: prompts must be given as token ids.');
  } catch (e) {
    warnings.push(`The GGUF file's tokenizer could not be read (${e instanceof Error ? e.message : String(e)}): prompts must be given as token ids.`);
  }
  return { header, configJson, configOverrides, tensors, tokenizerJson, tokenizerConfig, warnings };
}

/** llama.cpp tensor names (gguf-py constants.py TENSOR_NAMES) -> Hugging Face names. */
function hfTensorName(name: string, arch: string): string | undefined {
  if (name === 'token_embd.weight') return 'model.embed_tokens.weight';
  if (name === 'output_norm.weight') return 'model.norm.weight';
  if (name === 'output.weight') return 'lm_head.weight';
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const [, layer, part, kind] = m;
  const p = `model.layers.${layer}.`;
  const map: Record<string, string> = {
    attn_norm: 'input_layernorm',
    attn_q: 'self_attn.q_proj',
    attn_k: 'self_attn.k_proj',
    attn_v: 'self_attn.v_proj',
    attn_output: 'self_attn.o_proj',
    attn_q_norm: 'self_attn.q_norm',
    attn_k_norm: 'self_attn.k_norm',
    // Gemma-2/3 have four norms per layer; llama.cpp calls the one before the MLP ffn_norm in every family.
    ffn_norm: arch === 'gemma2' || arch === 'gemma3' ? 'pre_feedforward_layernorm' : 'post_attention_layernorm',
    post_attention_norm: 'post_attention_layernorm',
    post_ffw_norm: 'post_feedforward_layernorm',
    ffn_gate: 'mlp.gate_proj',
    ffn_up: 'mlp.up_proj',
    ffn_down: 'mlp.down_proj',
  };
  const hf = map[part!];
  return hf === undefined ? undefined : `${p}${hf}.${kind}`;
}

/**
 * Inverse of convert_hf_to_gguf.py's LlamaModel.permute: that reshapes each head's rows as (2, d/2) and
 * swaps the axes, so stored row h*d + 2i + j is Hugging Face row h*d + j*(d/2) + i.
 */
export function unpermuteRotary(w: Float32Array, heads: number, shape: number[]): Float32Array {
  const rows = shape[0]!;
  const cols = shape.length > 1 ? shape[1]! : 1;
  const d = rows / heads;
  if (!Number.isInteger(d) || d % 2 !== 0) throw new UserError(`GGUF: ${rows} rotary rows do not split into ${heads} heads of an even size.`);
  const half = d / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * d + 2 * i + j) * cols;
        const dst = (h * d + j * half + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Tokenizer: a tokenizer.json for @huggingface/tokenizers from tokenizer.ggml.* metadata.

/** llama.cpp token types (llama_token_type): control and user-defined tokens are matched whole. */
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;

/**
 * Pre-tokenizer regexes for byte-level BPE by tokenizer.ggml.pre (llama.cpp's llm_tokenizer_bpe).
 * Only the ones written here are rebuilt: another split would tokenize differently without warning.
 */
const BPE_SPLITS: Record<string, string | null> = {
  // GPT-2's own regex, applied by the ByteLevel pre-tokenizer itself (use_regex).
  gpt2: null,
  default: null,
  'llama-bpe': "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

export function ggufTokenizer(md: Map<string, GgufValue>): { json: Record<string, unknown>; config: Record<string, unknown> } | undefined {
  const model = md.get('tokenizer.ggml.model');
  const tokens = md.get('tokenizer.ggml.tokens');
  if (typeof model !== 'string' || !Array.isArray(tokens) || !tokens.every((t): t is string => typeof t === 'string')) return undefined;
  const typesRaw = md.get('tokenizer.ggml.token_type');
  const types = Array.isArray(typesRaw) ? typesRaw.map(Number) : [];
  const id = (key: string): number | undefined => {
    const v = md.get(key);
    return typeof v === 'number' || typeof v === 'bigint' ? Number(v) : undefined;
  };
  const bos = id('tokenizer.ggml.bos_token_id');
  const eos = id('tokenizer.ggml.eos_token_id');
  const unk = id('tokenizer.ggml.unknown_token_id');
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (!(t in vocab)) vocab[t] = i;
  });
  const special = (i: number) => types[i] === TOKEN_CONTROL || types[i] === TOKEN_USER_DEFINED;
  const added = tokens.flatMap((t, i) =>
    special(i) ? [{ id: i, content: t, single_word: false, lstrip: false, rstrip: false, normalized: types[i] === TOKEN_USER_DEFINED, special: types[i] === TOKEN_CONTROL }] : [],
  );
  const config: Record<string, unknown> = {};
  if (bos !== undefined && tokens[bos] !== undefined) config.bos_token = tokens[bos];
  if (eos !== undefined && tokens[eos] !== undefined) config.eos_token = tokens[eos];
  if (model === 'gpt2') {
    const pre = String(md.get('tokenizer.ggml.pre') ?? 'default');
    if (!(pre in BPE_SPLITS)) return undefined;
    const merges = md.get('tokenizer.ggml.merges');
    if (!Array.isArray(merges) || !merges.every((m): m is string => typeof m === 'string')) return undefined;
    const split = BPE_SPLITS[pre]!;
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: split === null };
    const preTokenizer =
      split === null ? byteLevel : { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: split }, behavior: 'Isolated', invert: false }, byteLevel] };
    return {
      json: {
        version: '1.0',
        added_tokens: added,
        normalizer: null,
        pre_tokenizer: preTokenizer,
        post_processor: null,
        decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
        model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
      },
      config,
    };
  }
  if (model === 'llama') {
    // SentencePiece BPE: llama.cpp merges the adjacent pair whose joined piece scores highest. Hugging
    // Face's LlamaConverter expresses the same as BPE merges ordered by that score, built the same way here.
    const scoresRaw = md.get('tokenizer.ggml.scores');
    const scores = Array.isArray(scoresRaw) ? scoresRaw.map(Number) : tokens.map((_, i) => -i);
    const merges = spmMerges(tokens, scores, vocab);
    const addBos = md.get('tokenizer.ggml.add_bos_token');
    return {
      json: {
        version: '1.0',
        added_tokens: added,
        normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
        pre_tokenizer: null,
        post_processor:
          addBos === false || bos === undefined
            ? null
            : { type: 'TemplateProcessing', single: [{ SpecialToken: { id: tokens[bos], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [{ SpecialToken: { id: tokens[bos], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }], special_tokens: { [tokens[bos]!]: { id: tokens[bos], ids: [bos], tokens: [tokens[bos]] } } },
        decoder: {
          type: 'Sequence',
          decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
        },
        model: { type: 'BPE', dropout: null, unk_token: unk !== undefined ? tokens[unk] ?? null : null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges },
      },
      config,
    };
  }
  return undefined;
}

/** BPE merges equivalent to SentencePiece's score order (transformers' SentencePieceExtractor). */
function spmMerges(tokens: string[], scores: number[], vocab: Record<string, number>): string[] {
  const found: Array<{ l: string; r: string; score: number; li: number; ri: number }> = [];
  tokens.forEach((piece, i) => {
    const chars = [...piece];
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join('');
      const r = chars.slice(k).join('');
      const li = vocab[l];
      const ri = vocab[r];
      if (li !== undefined && ri !== undefined) found.push({ l, r, score: scores[i] ?? 0, li, ri });
    }
  });
  found.sort((a, b) => b.score - a.score || a.li - b.li || a.ri - b.ri);
  return found.map((m) => `${m.l} ${m.r}`);
}
