// GGUF files (llama.cpp) load as checkpoints: written here from the llama, llama3 (rope_freqs), llama-linear,
// qwen2, qwen3, gemma2 and gemma3 fixtures by a writer that follows convert_hf_to_gguf.py (names, Q/K rotary
// permutation for llama, Gemma norms as 1 + w, Llama-3 scaling as rope_freqs divisors), then compared with the
// safetensors fixture. F32 must give the same logits bit for bit (and the golden's to 1e-5). F16, BF16, Q8_0
// and Q4_0 must give bit for bit the logits of a safetensors checkpoint holding the same rounded weights (so
// dequantisation is exact); their distance from the full-precision golden is the cost of the format, bounded
// at the tolerances below. Q4_K and Q6_K blocks (256 values per row block, wider than the fixtures' rows) are
// checked block by block against an independent numpy dequantiser (tools/reference/ggml_quants.py). Bad files
// are refused through the CLI with one line. A one-layer llama of 256-wide rows in Q4_K / Q6_K (the mix of
// llama.cpp's Q4_K_M) gives the golden PyTorch computes from the numpy-dequantised weights.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, copyFileSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { readGgufHeader, ggufTokenizer } from '../../src/engine/checkpoint/gguf';
import { PromptTokenizer } from '../../src/engine/checkpoint/tokenizer';
import { bf16Round, f32ToF16, writeSafetensors } from '../../src/engine/checkpoint/safetensorsWriter';
import { readGgufTensor } from '../../src/engine/checkpoint/gguf';
import { encodeGguf, ggufFromFixture, halfToFloat, readFixtureTensors, roundTripQ4_0, roundTripQ8_0 } from '../support/ggufWriter';
import type { MetaValue, WriteType } from '../support/ggufWriter';
import { fixture, maxAbsDiff, readGolden, DEFAULT_MODEL } from '../support/fixtures';
import { cli } from '../support/cli';

/**
 * Largest |logit - golden| allowed per stored type, over the fixtures' 2 × 12 positions (logits span about
 * ±11). Observed (printed after the run): F32 7.4e-6, F16 3.4e-2, BF16 0.15, Q8_0 0.34, Q4_0 7.6 (the fixtures'
 * random weights have std 0.2-0.5 and no structure, so a 4-bit block's step moves every logit; real
 * checkpoints have far smaller weights). What the test pins is the exact match with the same rounded weights.
 */
const TOLERANCE: Record<WriteType, number> = { F32: 1e-5, F16: 0.06, BF16: 0.3, Q8_0: 0.6, Q4_0: 12 };
const TYPES: WriteType[] = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0'];
/** llama.cpp's rope_freqs divisors give the llama3 frequencies up to float rounding, not bit for bit. */
const NOT_BIT_EXACT: Record<string, number> = { llama3: 2e-5 };

let work: string;

/** The value each type stores for a float32 weight, computed here from the formats' definitions. */
function rounded(type: WriteType, x: Float32Array): Float32Array {
  if (type === 'F32') return x;
  if (type === 'Q8_0') return roundTripQ8_0(x);
  if (type === 'Q4_0') return roundTripQ4_0(x);
  const out = new Float32Array(x.length);
  const bits = new Uint32Array(Float32Array.from(x).buffer);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < x.length; i++) {
    if (type === 'BF16') outBits[i] = bf16Round(bits[i]!) << 16;
    else out[i] = halfToFloat(f32ToF16(x[i]!));
  }
  return out;
}

/** A safetensors copy of a fixture with every matrix rounded as `type` stores it (1-D tensors stay F32, as in GGUF). */
function roundedFixture(name: string, type: WriteType): string {
  const dir = join(work, `${name}-${type}-st`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(fixture(name), 'config.json'), join(dir, 'config.json'));
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [n, t] of readFixtureTensors(fixture(name))) tensors[n] = { dtype: 'F32', shape: t.shape, data: t.shape.length === 1 ? t.data : rounded(type, t.data) };
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

async function logits(path: string, tokens: number[][]): Promise<{ data: Float32Array; warnings: string[] }> {
  const m = await Model.load(path);
  try {
    const r = await m.forward({ tokens, logits: 'all' });
    return { data: r.logits!.data, warnings: m.info.warnings };
  } finally {
    await m.dispose();
  }
}

describe('GGUF checkpoints', function () {
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'mechlens-gguf-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  for (const name of ['llama', 'qwen2', 'gemma2', 'llama3', 'llama-linear', 'qwen3', 'gemma3']) {
    it(`${name}: F32, F16, BF16, Q8_0 and Q4_0 GGUF files give the logits of the same weights in safetensors`, async function () {
      const golden = readGolden(fixture(name));
      const want = golden.tensors.get('logits')!.data;
      for (const type of TYPES) {
        const file = join(work, `${name}-${type}.gguf`);
        writeFileSync(file, ggufFromFixture(fixture(name), type));
        const got = await logits(file, golden.inputIds);
        const same = await logits(type === 'F32' ? fixture(name) : roundedFixture(name, type), golden.inputIds);
        const ds = maxAbsDiff(got.data, same.data);
        assert.ok(ds <= (NOT_BIT_EXACT[name] ?? 0), `${name} ${type}: GGUF and safetensors with the same weights differ by ${ds}`);
        const d = maxAbsDiff(got.data, want);
        worst[type] = Math.max(worst[type] ?? 0, d);
        assert.ok(d <= TOLERANCE[type], `${name} ${type}: logits differ from the golden by ${d} (tolerance ${TOLERANCE[type]})`);
        if (type !== 'F32') assert.ok(got.warnings.some((w) => w.includes('dequantised to float32')), `${type}: the model info says the weights were dequantised`);
      }
    });
  }
  const worst: Partial<Record<WriteType, number>> = {};
  after(() => console.log(`      largest |logit - golden| per type: ${TYPES.map((t) => `${t} ${(worst[t] ?? 0).toExponential(2)}`).join(', ')}`));

  it('Q4_0, Q4_K and Q6_K blocks dequantise as the independent numpy dequantiser does (random blocks, f16 scales of both signs, zero and subnormal)', function () {
    const dir = fixture('gguf-quants');
    const header = readGgufHeader(join(dir, 'blocks.gguf'));
    const want = readGolden(dir, 'expected.safetensors').tensors;
    assert.deepEqual([...header.tensors.values()].map((t) => t.type), ['Q4_0', 'Q4_K', 'F32', 'Q6_K']);
    for (const [name, info] of header.tensors) {
      const got = readGgufTensor(header.file, info);
      const w = want.get(name)!;
      assert.deepEqual(info.shape, w.shape, name);
      assert.equal(maxAbsDiff(got, w.data), 0, `${name} (${info.type}) differs from numpy`);
    }
  });

  it('a Q4_K_M-style llama (Q4_K matrices, Q6_K embedding and down projection, rows of 256) gives the PyTorch golden of its dequantised weights', async function () {
    // Written by tools/reference/ggml_quants.py: random K-quant blocks, Q/K in llama.cpp's rotary row order; the
    // golden is models.RefModel on the numpy-dequantised weights put back in Hugging Face's order.
    const dir = fixture('gguf-quants');
    const golden = readGolden(dir, 'llama-q4k.golden.safetensors');
    const m = await Model.load(join(dir, 'llama-q4k.gguf'));
    try {
      assert.deepEqual([...m.info.storedDtypes].sort(), ['F32', 'Q4_K', 'Q6_K']);
      const r = await m.forward({ tokens: golden.inputIds, logits: 'all' });
      const d = maxAbsDiff(r.logits!.data, golden.tensors.get('logits')!.data);
      assert.ok(d <= 1e-4, `logits differ from the golden by ${d}`);
    } finally {
      await m.dispose();
    }
  });

  it('a gpt2-style (byte-level BPE) tokenizer in the metadata encodes as the tokenizer.json it came from', function () {
    const tj = JSON.parse(readFileSync(join(DEFAULT_MODEL, 'tokenizer.json'), 'utf8')) as {
      model: { vocab: Record<string, number>; merges: string[] };
      added_tokens: Array<{ id: number; content: string; special: boolean }>;
    };
    const tokens: string[] = [];
    for (const [t, i] of Object.entries(tj.model.vocab)) tokens[i] = t;
    for (const a of tj.added_tokens) tokens[a.id] = a.content;
    const types = tokens.map((_, i) => (tj.added_tokens.some((a) => a.id === i && a.special) ? 3 : 1));
    const md: Array<[string, MetaValue]> = [
      ['general.architecture', { str: 'gpt2' }],
      ['tokenizer.ggml.model', { str: 'gpt2' }],
      ['tokenizer.ggml.pre', { str: 'gpt2' }],
      ['tokenizer.ggml.tokens', { strs: tokens }],
      ['tokenizer.ggml.token_type', { i32s: types }],
      ['tokenizer.ggml.merges', { strs: tj.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m)) }],
      ['tokenizer.ggml.bos_token_id', { u32: 812 }],
    ];
    const file = join(work, 'tok-gpt2.gguf');
    writeFileSync(file, encodeGguf(md, []));
    const built = ggufTokenizer(readGgufHeader(file).metadata)!;
    const fromGguf = PromptTokenizer.fromJson(built.json, built.config, 'gguf');
    const original = PromptTokenizer.fromFiles(join(DEFAULT_MODEL, 'tokenizer.json'), join(DEFAULT_MODEL, 'tokenizer_config.json'));
    for (const text of ['When Mary and John went to the store, John gave the drink to', "Don't stop   now!\n\nIt's 2024: 12345 cats.", 'naïve café ünïcödé 日本']) {
      assert.deepEqual(fromGguf.encode(text), original.encode(text), text);
    }
  });

  it('a llama (SentencePiece) tokenizer in the metadata merges by score, adds BOS, and runs from the CLI', async function () {
    // Pieces and scores chosen so that the merge order is worked out by hand: "the cat" → ▁the ▁cat.
    const pieces: Array<[string, number, number]> = [
      ['<unk>', 0, 2], ['<s>', 0, 3], ['</s>', 0, 3], ['▁', -100, 1],
      ...[...'thecasonm'].map((c, i): [string, number, number] => [c, -101 - i, 1]),
      ['▁the', -1, 1], ['the', -2, 1], ['th', -3, 1], ['▁cat', -4, 1], ['at', -5, 1], ['▁c', -6, 1], ['he', -7, 1],
    ];
    while (pieces.length < 107) pieces.push([`<unused${pieces.length}>`, -1000, 5]);
    const md: Array<[string, MetaValue]> = [
      ['tokenizer.ggml.model', { str: 'llama' }],
      ['tokenizer.ggml.tokens', { strs: pieces.map((p) => p[0]) }],
      ['tokenizer.ggml.scores', { f32s: pieces.map((p) => p[1]) }],
      ['tokenizer.ggml.token_type', { i32s: pieces.map((p) => p[2]) }],
      ['tokenizer.ggml.bos_token_id', { u32: 1 }],
      ['tokenizer.ggml.eos_token_id', { u32: 2 }],
      ['tokenizer.ggml.unknown_token_id', { u32: 0 }],
      ['tokenizer.ggml.add_bos_token', { bool: true }],
    ];
    const file = join(work, 'llama-tok.gguf');
    writeFileSync(file, ggufFromFixture(fixture('llama'), 'F32', md));
    const r = await cli('run', '--model', file, '--prompt', 'the cat', '--top', '3', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tokens: number[]; token_strings: string[] };
    const id = (p: string) => pieces.findIndex((x) => x[0] === p);
    assert.deepEqual(out.tokens, [1, id('▁the'), id('▁cat')]);
    const model = await Model.load(file);
    try {
      assert.equal(model.decode(out.tokens.slice(1)), 'the cat');
      assert.equal(model.info.hasTokenizer, true);
    } finally {
      await model.dispose();
    }
  });

  describe('bad GGUF files exit 2 with one line', function () {
    const good = () => ggufFromFixture(fixture('qwen2'), 'F32');
    const cases: Array<[string, () => Buffer, RegExp]> = [
      ['bad magic', () => Buffer.concat([Buffer.from('GGML'), good().subarray(4)]), /not a GGUF file/],
      ['version 1', () => { const b = good(); b.writeUInt32LE(1, 4); return b; }, /GGUF version 1 is not supported/],
      ['truncated header', () => good().subarray(0, 200), /more than the rest of the file can hold: the file is truncated|unexpected end of file in the header/],
      ['truncated data', () => { const b = good(); return b.subarray(0, b.length - 1000); }, /beyond the end of the file .*truncated/],
      ['huge tensor count', () => { const b = good(); b.writeBigUInt64LE(1n << 40n, 8); return b; }, /tensor count \d+ is more than the rest of the file can hold/],
      ['huge metadata count', () => { const b = good(); b.writeBigUInt64LE(1n << 62n, 16); return b; }, /metadata count \d+ is more than the rest of the file can hold|implausibly large/],
      ['huge string length', () => { const b = good(); b.writeBigUInt64LE(1n << 50n, 24); return b; }, /metadata key of \d+ bytes is more than the rest of the file can hold/],
      ['unknown tensor type', () => withType(99), /unknown ggml type 99/],
      ['Q5_K tensors', () => withType(13), /is Q5_K, which MechLens does not read \(it reads F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K\)/],
      ['Q4_K rows shorter than a block', () => withType(12), /tensor token_embd\.weight is Q4_K but its rows of 32 values are not whole blocks of 256/],
      ['yarn rotary scaling', () => ggufFromFixture(fixture('qwen2'), 'F32', [['qwen2.rope.scaling.type', { str: 'yarn' }]]), /rotary scaling "yarn" is not supported \(supported: none, linear, and rope_freqs divisors/],
      ['rope_freqs of the wrong length', () => withRopeFreqs(3), /rope_freqs\.weight has shape \[3\]; 8 divisors/],
      ['unsupported architecture', () => encodeGguf([['general.architecture', { str: 'mamba' }]], []), /GGUF architecture "mamba" is not supported/],
    ];
    for (const [what, make, pattern] of cases) {
      it(what, async function () {
        const file = join(work, `bad-${what.replace(/\W+/g, '-')}.gguf`);
        writeFileSync(file, make());
        const r = await cli('info', '--model', file);
        assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0]!, pattern);
      });
    }
  });
});

/** The llama3 fixture as GGUF with a rope_freqs tensor of `n` divisors. */
function withRopeFreqs(n: number): Buffer {
  const md: Array<[string, MetaValue]> = [
    ['general.architecture', { str: 'llama' }],
    ['llama.block_count', { u32: 1 }],
    ['llama.embedding_length', { u32: 32 }],
    ['llama.feed_forward_length', { u32: 64 }],
    ['llama.attention.head_count', { u32: 2 }],
  ];
  return encodeGguf(md, [
    { name: 'token_embd.weight', shape: [4, 32], data: new Float32Array(128), type: 'F32' },
    { name: 'rope_freqs.weight', shape: [n], data: new Float32Array(n).fill(1), type: 'F32' },
  ]);
}

/** A minimal llama GGUF whose one matrix claims ggml type `id`. */
function withType(id: number): Buffer {
  const md: Array<[string, MetaValue]> = [['general.architecture', { str: 'llama' }]];
  return encodeGguf(md, [{ name: 'token_embd.weight', shape: [4, 32], data: new Float32Array(128), type: 'F32', rawTypeId: id }]);
}
