// Writes safetensors files (used to generate test and benchmark checkpoints, and to export).
import { writeFileSync } from 'node:fs';

export interface TensorToWrite {
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  data: Float32Array;
}

export function writeSafetensors(file: string, tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = {}): void {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const bytes = encode(t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...chunks]));
}

function encode(t: TensorToWrite): Uint8Array {
  if (t.dtype === 'F32') return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint16Array(t.data.length);
  const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
  for (let i = 0; i < t.data.length; i++) out[i] = t.dtype === 'BF16' ? bf16Round(bits[i]!) : f32ToF16(t.data[i]!);
  return new Uint8Array(out.buffer);
}

export function bf16Round(b: number): number {
  // round to nearest even on the dropped 16 bits
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToF16(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant = (mant | 0x800000) >> (1 - exp);
    return sign | ((mant + 0x1000) >> 13);
  }
  const r = sign | (exp << 10) | (mant >> 13);
  return mant & 0x1000 ? r + 1 : r;
}
