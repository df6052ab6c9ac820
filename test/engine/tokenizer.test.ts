// Tokenization with character spans, on the bundled model's tokenizer.json: spans must tile the
// prompt so the editor can place decorations, including around multi-byte characters and markup.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PromptTokenizer } from '../../src/engine/checkpoint/tokenizer';
import { DEFAULT_MODEL } from '../support/fixtures';

const STORIES = join(__dirname, '..', '..', '..', 'shared', 'reference', 'models', 'stories260K');

describe('tokenizer spans', function () {
  const tok = PromptTokenizer.fromFiles(join(DEFAULT_MODEL, 'tokenizer.json'), join(DEFAULT_MODEL, 'tokenizer_config.json'));

  for (const text of [
    'When Mary and John went to the store, John gave a drink to',
    '<img src=x onerror=alert(1)> </script> & "quotes"',
    'naïve café — 東京 🙂 done',
    '  leading spaces and\nnewlines\t tabs',
  ]) {
    it(`spans tile ${JSON.stringify(text.slice(0, 24))}…`, function () {
      const t = tok.encode(text);
      assert.ok(t.ids.length > 0);
      assert.equal(t.spans!.length, t.ids.length);
      let cursor = 0;
      for (const [s, e] of t.spans!) {
        assert.equal(s, cursor, 'spans are contiguous');
        assert.ok(e >= s);
        cursor = e;
      }
      assert.equal(cursor, text.length, 'spans cover the whole prompt');
      assert.equal(tok.decode(t.ids), text, 'decoding gives the prompt back');
      // Every token whose text is whole characters maps to exactly that text.
      t.ids.forEach((_, i) => {
        const [s, e] = t.spans![i]!;
        if (!t.texts[i]!.includes('\uFFFD')) assert.equal(text.slice(s, e), t.texts[i]);
      });
    });
  }
});

/** The previous span algorithm (decode the whole prefix at every mismatch): quadratic, kept as the reference. */
function prefixSpans(tok: PromptTokenizer, text: string, ids: number[], texts: string[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let cursor = 0;
  for (let i = 0; i < ids.length; i++) {
    const t = texts[i]!;
    if (t.length > 0 && !t.includes('\uFFFD') && text.startsWith(t, cursor)) {
      out.push([cursor, cursor + t.length]);
      cursor += t.length;
      continue;
    }
    const prefix = tok.decode(ids.slice(0, i + 1));
    let end = prefix.length;
    while (end > cursor && prefix.charCodeAt(end - 1) === 0xfffd) end--;
    if (!text.startsWith(prefix.slice(0, end)) || end < cursor) end = cursor;
    out.push([cursor, end]);
    cursor = end;
  }
  return out;
}

describe('tokenizer spans are linear and equal to the prefix-decoding reference', function () {
  const tokenizers = {
    'mechlens-tiny (byte-level BPE)': PromptTokenizer.fromFiles(join(DEFAULT_MODEL, 'tokenizer.json'), join(DEFAULT_MODEL, 'tokenizer_config.json')),
    'stories260K (SentencePiece)': PromptTokenizer.fromFiles(join(STORIES, 'tokenizer.json'), join(STORIES, 'tokenizer_config.json')),
  };
  const texts = [
    'Once upon a time, there was a little girl named Lily. She liked to play.',
    '東京タワーは高い。日本語の文章と English words 混在 🙂🙂 naïve café',
    'a\u00a0b  c\t\td\n\ne — ü ß ø 中文 한국어 العربية',
  ];
  for (const text of texts) {
    it(`byte-level BPE, same spans as the reference: ${JSON.stringify(text.slice(0, 20))}…`, function () {
      const tok = tokenizers['mechlens-tiny (byte-level BPE)'];
      const t = tok.encode(text);
      assert.deepEqual(t.spans, prefixSpans(tok, text, t.ids, t.texts));
    });
    // The reference fails here: SentencePiece adds <s>, which is not in the prompt, so every prefix
    // mismatches and all spans after it collapse; the windowed algorithm places each word.
    it(`SentencePiece with <s>, every word placed: ${JSON.stringify(text.slice(0, 20))}…`, function () {
      const tok = tokenizers['stories260K (SentencePiece)'];
      const t = tok.encode(text);
      let cursor = 0;
      t.spans!.forEach(([s, e], i) => {
        assert.equal(s, cursor, 'spans are contiguous');
        cursor = e;
        const piece = t.texts[i]!;
        if (i > 0 && piece.length > 0 && !piece.includes('\uFFFD')) assert.equal(text.slice(s, e).trimStart(), piece.trimStart(), `token ${i}`);
      });
      assert.equal(cursor, text.length, 'spans cover the prompt');
    });
  }

  it('10,000 CJK characters tokenize with spans in seconds, not minutes (time reported)', function () {
    this.timeout(60_000);
    const tok = tokenizers['mechlens-tiny (byte-level BPE)'];
    const text = Array.from({ length: 10_000 }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20000))).join('');
    const started = performance.now();
    const t = tok.encode(text);
    const ms = performance.now() - started;
    console.log(`      10,000 CJK characters: ${t.ids.length} tokens with spans in ${ms.toFixed(0)} ms`);
    assert.equal(t.spans!.at(-1)![1], text.length, 'spans cover the text');
    assert.ok(ms < 20_000, `took ${ms.toFixed(0)} ms`);
  });
});
