// Wraps @huggingface/tokenizers (pure JS) for a checkpoint's tokenizer.json and adds what the editor
// views need and the library does not give: each token's character span in the prompt.
import { Tokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../errors';
import type { TokenizedPrompt } from '../../shared/modelInfo';

export class PromptTokenizer {
  private constructor(private readonly tok: Tokenizer) {}

  static fromFiles(tokenizerJson: string, tokenizerConfigJson?: string): PromptTokenizer {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(tokenizerJson, 'utf8'));
    } catch (e) {
      throw new UserError(`${basename(tokenizerJson)}: cannot be read as JSON (${e instanceof Error ? e.message : String(e)}).`);
    }
    let config: object = {};
    if (tokenizerConfigJson) {
      try {
        config = JSON.parse(readFileSync(tokenizerConfigJson, 'utf8')) as object;
      } catch {
        config = {};
      }
    }
    try {
      return new PromptTokenizer(new Tokenizer(json as object, config));
    } catch (e) {
      throw new UserError(`${basename(tokenizerJson)}: unsupported tokenizer (${e instanceof Error ? e.message : String(e)}).`);
    }
  }

  encode(text: string): TokenizedPrompt {
    const ids = this.tok.encode(text).ids;
    const texts = ids.map((id) => this.tok.decode([id]));
    return { ids, texts, spans: this.spans(text, ids, texts) };
  }

  decode(ids: number[]): string {
    return this.tok.decode(ids);
  }

  tokenText(id: number): string {
    return this.tok.decode([id]);
  }

  /**
   * Character spans: walk a cursor through the prompt, matching each token's decoded text; where a
   * token decodes to a partial character (U+FFFD) or does not match (special tokens, normalisation),
   * fall back to decoding the prefix up to it and measuring its length.
   */
  private spans(text: string, ids: number[], texts: string[]): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let cursor = 0;
    for (let i = 0; i < ids.length; i++) {
      const t = texts[i]!;
      if (t.length > 0 && !t.includes('\uFFFD') && text.startsWith(t, cursor)) {
        out.push([cursor, cursor + t.length]);
        cursor += t.length;
        continue;
      }
      const prefix = this.tok.decode(ids.slice(0, i + 1));
      let end = prefix.length;
      while (end > cursor && prefix.charCodeAt(end - 1) === 0xfffd) end--;
      if (!text.startsWith(prefix.slice(0, end)) || end < cursor) end = cursor;
      out.push([cursor, end]);
      cursor = end;
    }
    return out;
  }
}
