// Tokenization with character spans, on the bundled model's tokenizer.json: spans must tile the
// prompt so the editor can place decorations, including around multi-byte characters and markup.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PromptTokenizer } from '../../src/engine/checkpoint/tokenizer';
import { DEFAULT_MODEL } from '../support/fixtures';

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
