// Writes GGUF files for tests, as llama.cpp's convert_hf_to_gguf.py would from a Hugging Face checkpoint:
// llama.cpp tensor names, Q/K rows permuted for llama's rotary layout, Gemma-2/3 norms stored as 1 + w,
// Llama-3 rope_scaling as a rope_freqs tensor, 1-D tensors kept F32, matrices in the chosen type (Q8_0 and
// Q4_0 quantised as ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref do).
// Written from the GGUF spec (ggml docs/gguf.md), not from the engine's reader, so a test that reads what
// this writes checks the reader against the format.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensorsHeader, readTensorF32 } from '../../src/engine/checkpoint/safetensors';
import { bf16Round, f32ToF16 } from '../../src/engine/checkpoint/safetensorsWriter';

export type MetaValue =
  | { u32: number }
  | { i32: number }
  | { f32: number }
  | { bool: boolean }
  | { str: string }
  | { strs: string[] }
  | { f32s: number[] }
  | { i32s: number[] };

export type WriteType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0';
const TYPE_IDS: Record<WriteType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 };

export interface TensorToWrite {
  name: string;
  /** PyTorch order ([rows, cols]); written reversed as GGUF's ne. */
  shape: number[];
  data: Float32Array;
  type: WriteType;
  /** Writes this ggml type id instead (for refusal tests); the data is written as F32 bytes. */
  rawTypeId?: number;
}

export function encodeGguf(metadata: Array<[string, MetaValue]>, tensors: TensorToWrite[], options: { version?: number; alignment?: number } = {}): Buffer {
  const alignment = options.alignment ?? 32;
  const parts: Buffer[] = [];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const u64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
  };
  const str = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
  const f32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    return b;
  };
  const i32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return b;
  };
  parts.push(Buffer.from('GGUF'), u32(options.version ?? 3), u64(tensors.length), u64(metadata.length));
  for (const [key, v] of metadata) {
    parts.push(str(key));
    if ('u32' in v) parts.push(u32(4), u32(v.u32));
    else if ('i32' in v) parts.push(u32(5), i32(v.i32));
    else if ('f32' in v) parts.push(u32(6), f32(v.f32));
    else if ('bool' in v) parts.push(u32(7), Buffer.from([v.bool ? 1 : 0]));
    else if ('str' in v) parts.push(u32(8), str(v.str));
    else if ('strs' in v) parts.push(u32(9), u32(8), u64(v.strs.length), ...v.strs.map(str));
    else if ('f32s' in v) parts.push(u32(9), u32(6), u64(v.f32s.length), ...v.f32s.map(f32));
    else parts.push(u32(9), u32(5), u64(v.i32s.length), ...v.i32s.map(i32));
  }
  const data: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.rawTypeId !== undefined ? Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength) : encodeTensor(t);
    parts.push(str(t.name), u32(t.shape.length), ...[...t.shape].reverse().map(u64), u32(t.rawTypeId ?? TYPE_IDS[t.type]), u64(offset));
    const padded = Math.ceil(bytes.length / alignment) * alignment;
    data.push(bytes, Buffer.alloc(padded - bytes.length));
    offset += padded;
  }
  const head = Buffer.concat(parts);
  const pad = Buffer.alloc(Math.ceil(head.length / alignment) * alignment - head.length);
  return Buffer.concat([head, pad, ...data]);
}

function encodeTensor(t: TensorToWrite): Buffer {
  if (t.type === 'F32') return Buffer.from(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  if (t.type === 'F16' || t.type === 'BF16') {
    const out = new Uint16Array(t.data.length);
    const bits = new Uint32Array(Float32Array.from(t.data).buffer);
    for (let i = 0; i < t.data.length; i++) out[i] = t.type === 'F16' ? f32ToF16(t.data[i]!) : bf16Round(bits[i]!);
    return Buffer.from(out.buffer);
  }
  return t.type === 'Q4_0' ? quantizeQ4_0(t.data) : quantizeQ8_0(t.data);
}

/**
 * ggml's quantize_row_q4_0_ref: per block of 32, m = the value of largest magnitude, d = m / -8 (f16),
 * q = min(15, trunc(x / d + 8.5)); byte j holds q[j] (low nibble) and q[j + 16] (high nibble).
 */
export function quantizeQ4_0(x: Float32Array): Buffer {
  if (x.length % 32 !== 0) throw new Error('Q4_0 needs whole blocks of 32');
  const out = Buffer.alloc((x.length / 32) * 18);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    out.writeUInt16LE(f32ToF16(d), b * 18);
    const q = (v: number) => Math.min(15, Math.trunc(Math.fround(Math.fround(v * id) + 8.5)));
    for (let j = 0; j < 16; j++) out[b * 18 + 2 + j] = q(x[b * 32 + j]!) | (q(x[b * 32 + j + 16]!) << 4);
  }
  return out;
}

/** What a Q4_0 block decodes to: f16 d times (nibble - 8). */
export function roundTripQ4_0(x: Float32Array): Float32Array {
  const q = quantizeQ4_0(x);
  const out = new Float32Array(x.length);
  for (let b = 0; b < x.length / 32; b++) {
    const d = halfToFloat(q.readUInt16LE(b * 18));
    for (let j = 0; j < 16; j++) {
      const byte = q[b * 18 + 2 + j]!;
      out[b * 32 + j] = ((byte & 15) - 8) * d;
      out[b * 32 + j + 16] = ((byte >> 4) - 8) * d;
    }
  }
  return out;
}

/**
 * convert_hf_to_gguf.py's rope_freqs for rope_type "llama3" (LlamaModel.generate_extra_tensors): per
 * frequency 1 (short wavelengths), factor (long ones) or 1 / ((1 - s) / factor + s) in between.
 */
export function llama3RopeFreqs(dim: number, base: number, rs: Record<string, number>): Float32Array {
  const factor = rs.factor!;
  const low = rs.low_freq_factor!;
  const high = rs.high_freq_factor!;
  const old = rs.original_max_position_embeddings!;
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = Math.fround(1 / Math.fround(base ** Math.fround((2 * i) / dim)));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < old / high) out[i] = 1;
    else if (wavelen > old / low) out[i] = factor;
    else {
      const smooth = (old / wavelen - low) / (high - low);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

/** ggml's quantize_row_q8_0_ref: per block of 32, d = max|x| / 127 (stored as f16), q = roundf(x / d). */
export function quantizeQ8_0(x: Float32Array): Buffer {
  if (x.length % 32 !== 0) throw new Error('Q8_0 needs whole blocks of 32');
  const out = Buffer.alloc((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    out.writeUInt16LE(f32ToF16(d), b * 34);
    for (let j = 0; j < 32; j++) {
      const v = Math.fround(x[b * 32 + j]! * id);
      out.writeInt8(Math.sign(v) * Math.round(Math.abs(v)), b * 34 + 2 + j); // roundf: halves away from zero
    }
  }
  return out;
}

/** What a Q8_0 block decodes to (f16 scale times int8), for building the exact expected weights. */
export function roundTripQ8_0(x: Float32Array): Float32Array {
  const q = quantizeQ8_0(x);
  const out = new Float32Array(x.length);
  for (let b = 0; b < x.length / 32; b++) {
    const h = q.readUInt16LE(b * 34);
    const d = halfToFloat(h);
    for (let j = 0; j < 32; j++) out[b * 32 + j] = d * q.readInt8(b * 34 + 2 + j);
  }
  return out;
}

/** An IEEE half-precision bit pattern's value. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
}

/** convert_hf_to_gguf.py LlamaModel.permute: each head's rows reshaped (2, d/2), axes swapped. */
export function permuteRotary(w: Float32Array, heads: number, rows: number, cols: number): Float32Array {
  const d = rows / heads;
  const half = d / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const src = (h * d + j * half + i) * cols;
        const dst = (h * d + 2 * i + j) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

/** The tensors of a fixture folder (single file or shards) by Hugging Face name, as float32. */
export function readFixtureTensors(dir: string): Map<string, { shape: number[]; data: Float32Array }> {
  const files = ['model.safetensors', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const f of files) {
    let header;
    try {
      header = readSafetensorsHeader(join(dir, f));
    } catch {
      continue;
    }
    for (const [name, e] of header.tensors) out.set(name, { shape: e.shape, data: readTensorF32(e) });
  }
  return out;
}

const NAMES: Array<[RegExp, string]> = [
  [/^model\.embed_tokens\.weight$/, 'token_embd.weight'],
  [/^model\.norm\.weight$/, 'output_norm.weight'],
  [/^lm_head\.weight$/, 'output.weight'],
  [/^model\.layers\.(\d+)\.input_layernorm\.(\w+)$/, 'blk.$1.attn_norm.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.q_proj\.(\w+)$/, 'blk.$1.attn_q.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.k_proj\.(\w+)$/, 'blk.$1.attn_k.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.v_proj\.(\w+)$/, 'blk.$1.attn_v.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.o_proj\.(\w+)$/, 'blk.$1.attn_output.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.q_norm\.(\w+)$/, 'blk.$1.attn_q_norm.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.k_norm\.(\w+)$/, 'blk.$1.attn_k_norm.$2'],
  [/^model\.layers\.(\d+)\.mlp\.gate_proj\.(\w+)$/, 'blk.$1.ffn_gate.$2'],
  [/^model\.layers\.(\d+)\.mlp\.up_proj\.(\w+)$/, 'blk.$1.ffn_up.$2'],
  [/^model\.layers\.(\d+)\.mlp\.down_proj\.(\w+)$/, 'blk.$1.ffn_down.$2'],
];

/**
 * A GGUF file from a fixture folder (llama, qwen2, qwen3, gemma2 or gemma3_text): metadata from config.json,
 * names as llama.cpp's converter writes them, matrices in `type`. `extra` metadata is appended (a tokenizer).
 */
export function ggufFromFixture(dir: string, type: WriteType, extra: Array<[string, MetaValue]> = []): Buffer {
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number | string | boolean | null | Record<string, number | string>>;
  const arch = cfg.model_type === 'gemma3_text' ? 'gemma3' : String(cfg.model_type);
  const gemma = arch === 'gemma2' || arch === 'gemma3';
  const nHeads = Number(cfg.num_attention_heads);
  const nKv = Number(cfg.num_key_value_heads ?? nHeads);
  const headDim = Number(cfg.head_dim ?? Number(cfg.hidden_size) / nHeads);
  const md: Array<[string, MetaValue]> = [
    ['general.architecture', { str: arch }],
    ['general.name', { str: `fixture ${arch}` }],
    [`${arch}.block_count`, { u32: Number(cfg.num_hidden_layers) }],
    [`${arch}.context_length`, { u32: Number(cfg.max_position_embeddings) }],
    [`${arch}.embedding_length`, { u32: Number(cfg.hidden_size) }],
    [`${arch}.feed_forward_length`, { u32: Number(cfg.intermediate_size) }],
    [`${arch}.attention.head_count`, { u32: nHeads }],
    [`${arch}.attention.head_count_kv`, { u32: nKv }],
    [`${arch}.attention.key_length`, { u32: headDim }],
    [`${arch}.attention.value_length`, { u32: headDim }],
    [`${arch}.rope.freq_base`, { f32: Number(cfg.rope_theta ?? 10000) }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { f32: Number(cfg.rms_norm_eps) }],
    [`${arch}.vocab_size`, { u32: Number(cfg.vocab_size) }],
    ['general.file_type', { u32: { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, BF16: 32 }[type] }],
  ];
  const rs = cfg.rope_scaling as Record<string, number | string> | null | undefined;
  const ropeType = rs ? (rs.rope_type ?? rs.type) : undefined;
  // LlamaModel / Gemma3Model.set_gguf_parameters: linear scaling as keys.
  if (ropeType === 'linear') md.push([`${arch}.rope.scaling.type`, { str: 'linear' }], [`${arch}.rope.scaling.factor`, { f32: Number(rs!.factor) }]);
  if (gemma) {
    const cap = (key: string) => (cfg[key] === null || cfg[key] === undefined ? [] : [[`${arch}.${key}`, { f32: Number(cfg[key]) }] as [string, MetaValue]]);
    md.push(
      ...cap('attn_logit_softcapping'),
      ...cap('final_logit_softcapping'),
      [`${arch}.attention.sliding_window`, { u32: Number(cfg.sliding_window) }],
      // The fixture's query_pre_attn_scalar (24) is neither head_dim nor d/heads, llama.cpp's two rules:
      // carried in the standard attention.scale key, which MechLens reads when present.
      [`${arch}.attention.scale`, { f32: 1 / Math.sqrt(Number(cfg.query_pre_attn_scalar)) }],
    );
    // llama.cpp assumes Gemma-3's pattern of 6; the fixture's 3 is carried in the key a file may hold.
    if (arch === 'gemma3' && cfg.sliding_window_pattern !== 6) md.push([`${arch}.attention.sliding_window_pattern`, { u32: Number(cfg.sliding_window_pattern) }]);
  }
  md.push(...extra);
  const gemmaNames: Array<[RegExp, string]> = [
    [/^model\.layers\.(\d+)\.post_attention_layernorm\.(\w+)$/, 'blk.$1.post_attention_norm.$2'],
    [/^model\.layers\.(\d+)\.pre_feedforward_layernorm\.(\w+)$/, 'blk.$1.ffn_norm.$2'],
    [/^model\.layers\.(\d+)\.post_feedforward_layernorm\.(\w+)$/, 'blk.$1.post_ffw_norm.$2'],
  ];
  const llamaNames: Array<[RegExp, string]> = [[/^model\.layers\.(\d+)\.post_attention_layernorm\.(\w+)$/, 'blk.$1.ffn_norm.$2']];
  const names = [...NAMES, ...(gemma ? gemmaNames : llamaNames)];
  const tensors: TensorToWrite[] = [];
  if (ropeType === 'llama3') {
    tensors.push({ name: 'rope_freqs.weight', shape: [headDim / 2], data: llama3RopeFreqs(headDim, Number(cfg.rope_theta), rs as Record<string, number>), type: 'F32' });
  }
  for (const [hf, t] of readFixtureTensors(dir)) {
    const rule = names.find(([re]) => re.test(hf));
    if (!rule) throw new Error(`no GGUF name for ${hf}`);
    let data = t.data;
    if (arch === 'llama' && /\.(q|k)_proj\./.test(hf)) {
      const heads = hf.includes('.q_proj.') ? nHeads : nKv;
      data = permuteRotary(data, heads, t.shape[0]!, t.shape.length > 1 ? t.shape[1]! : 1);
    }
    // convert_hf_to_gguf.py's Gemma2Model / Gemma3Model: norm weights (q/k norms too) stored as 1 + w.
    if (gemma && hf.endsWith('norm.weight')) data = data.map((v) => v + 1);
    tensors.push({ name: hf.replace(rule[0], rule[1]), shape: t.shape, data, type: t.shape.length === 1 ? 'F32' : type });
  }
  return encodeGguf(md, tensors);
}
