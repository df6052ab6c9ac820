// GGUF files (llama.cpp) load as checkpoints: written here from the llama, qwen2 and gemma2 fixtures by a
// writer that follows convert_hf_to_gguf.py (names, Q/K rotary permutation for llama, Gemma norms as 1 + w),
// then compared with the safetensors fixture. F32 must give the same logits bit for bit (and the golden's
// to 1e-5). F16, BF16 and Q8_0 must give bit for bit the logits of a safetensors checkpoint holding the
// same rounded weights (so dequantisation is exact); their distance from the full-precision golden is the
// cost of the format, bounded at the tolerances below. Bad files are refused through the CLI with one line.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, copyFileSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { readGgufHeader, ggufTokenizer } from '../../src/engine/checkpoint/gguf';
import { PromptTokenizer } from '../../src/engine/checkpoint/tokenizer';
import { bf16Round, f32ToF16, writeSafetensors } from '../../src/engine/checkpoint/safetensorsWriter';
import { encodeGguf, ggufFromFixture, halfToFloat, readFixtureTensors, roundTripQ8_0 } from '../support/ggufWriter';
import type { MetaValue, WriteType } from '../support/ggufWriter';
import { fixture, maxAbsDiff, readGolden, DEFAULT_MODEL } from '../support/fixtures';
import { cli } from '../support/cli';

/**
 * Largest |logit - golden| allowed per stored type, over the three fixtures' 2 × 12 positions (logits
 * span about ±8). Observed: F32 6.7e-6, F16 1.2e-2, BF16 0.15, Q8_0 0.34 (llama, whose random weights
 * have std 0.2-0.5, so each Q8_0 block's step is large); real checkpoints have far smaller weights.
 */
const TOLERANCE: Record<WriteType, number> = { F32: 1e-5, F16: 0.03, BF16: 0.3, Q8_0: 0.6 };
const TYPES: WriteType[] = ['F32', 'F16', 'BF16', 'Q8_0'];

let work: string;

/** The value each type stores for a float32 weight, computed here from the formats' definitions. */
function rounded(type: WriteType, x: Float32Array): Float32Array {
  if (type === 'F32') return x;
  if (type === 'Q8_0') return roundTripQ8_0(x);
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

  for (const name of ['llama', 'qwen2', 'gemma2']) {
    it(`${name}: F32, F16, BF16 and Q8_0 GGUF files give the logits of the same weights in safetensors`, async function () {
      const golden = readGolden(fixture(name));
      const want = golden.tensors.get('logits')!.data;
      for (const type of TYPES) {
        const file = join(work, `${name}-${type}.gguf`);
        writeFileSync(file, ggufFromFixture(fixture(name), type));
        const got = await logits(file, golden.inputIds);
        const same = await logits(type === 'F32' ? fixture(name) : roundedFixture(name, type), golden.inputIds);
        assert.equal(maxAbsDiff(got.data, same.data), 0, `${name} ${type}: GGUF and safetensors with the same weights differ`);
        const d = maxAbsDiff(got.data, want);
        assert.ok(d <= TOLERANCE[type], `${name} ${type}: logits differ from the golden by ${d} (tolerance ${TOLERANCE[type]})`);
        if (type !== 'F32') assert.ok(got.warnings.some((w) => w.includes('dequantised to float32')), `${type}: the model info says the weights were dequantised`);
      }
    });
  }

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
      ['Q4_K tensors', () => withType(12), /is Q4_K, which MechLens does not read \(it reads F32, F16, BF16, Q8_0\)/],
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

/** A minimal llama GGUF whose one matrix claims ggml type `id`. */
function withType(id: number): Buffer {
  const md: Array<[string, MetaValue]> = [['general.architecture', { str: 'llama' }]];
  return encodeGguf(md, [{ name: 'token_embd.weight', shape: [4, 32], data: new Float32Array(128), type: 'F32', rawTypeId: id }]);
}
