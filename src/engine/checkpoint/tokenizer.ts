// Wraps @huggingface/tokenizers (pure JS) for a checkpoint's tokenizer.json and adds what the editor
// views need and the library does not give: each token's character span in the prompt.
import { Tokenizer } from '@huggingface/tokenizers';
import { basename } from 'node:path';
import { UserError } from '../errors';
import { MiB, isJsonObject, readJsonFile } from '../files';
import type { TokenizedPrompt } from '../../shared/modelInfo';

/** Tokens decoded together to place one character split across tokens (a UTF-8 character is at most 4 bytes). */
const MAX_SPAN_WINDOW = 16;

export class PromptTokenizer {
  /** Longest text of any token in the vocabulary: bounds how many characters a token limit can hold. */
  readonly maxTokenChars: number;

  private constructor(
    private readonly tok: Tokenizer,
    json: Record<string, unknown>,
    private readonly config: Record<string, unknown> = {},
  ) {
    this.maxTokenChars = longestToken(json);
    const added = Array.isArray(json.added_tokens) ? (json.added_tokens as unknown[]) : [];
    this.special = added.flatMap((t) => {
      const e = t as { id?: unknown; content?: unknown; special?: unknown };
      return e.special === true && typeof e.id === 'number' && typeof e.content === 'string' ? [{ id: e.id, content: e.content }] : [];
    });
  }

  private readonly special: ReadonlyArray<{ id: number; content: string }>;

  /** The tokenizer's special tokens (added tokens marked special). */
  specialTokens(): ReadonlyArray<{ id: number; content: string }> {
    return this.special;
  }

  /**
   * The token circuit-tracer prepends to a prompt that does not start with a special token: the BOS
   * token of tokenizer_config.json, else its pad or eos token, else the first special token.
   */
  bosCandidate(): number | undefined {
    for (const key of ['bos_token', 'pad_token', 'eos_token']) {
      const v = this.config[key];
      const content = typeof v === 'string' ? v : typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string' ? (v as { content: string }).content : undefined;
      const found = content === undefined ? undefined : this.special.find((s) => s.content === content);
      if (found) return found.id;
    }
    return this.special[0]?.id;
  }

  static fromFiles(tokenizerJson: string, tokenizerConfigJson?: string): PromptTokenizer {
    // The largest released tokenizer.json files are tens of MiB; anything bigger is not a tokenizer.
    const json = readJsonFile(tokenizerJson, basename(tokenizerJson), 256 * MiB);
    if (!isJsonObject(json)) throw new UserError(`${basename(tokenizerJson)}: must be a JSON object.`);
    let config: object = {};
    if (tokenizerConfigJson) {
      try {
        const c = readJsonFile(tokenizerConfigJson, basename(tokenizerConfigJson), 16 * MiB);
        config = isJsonObject(c) ? c : {};
      } catch {
        config = {}; // optional: an unreadable tokenizer_config.json only loses its extra settings
      }
    }
    return PromptTokenizer.fromJson(json, config as Record<string, unknown>, basename(tokenizerJson));
  }

  /** From a tokenizer.json already parsed or built in memory (GGUF metadata); `what` names it in messages. */
  static fromJson(json: Record<string, unknown>, config: Record<string, unknown>, what: string): PromptTokenizer {
    try {
      return new PromptTokenizer(new Tokenizer(json, config), json, config);
    } catch (e) {
      throw new UserError(`${what}: unsupported tokenizer (${e instanceof Error ? e.message : String(e)}).`);
    }
  }

  /**
   * The most characters a prompt of `maxTokens` tokens can have (every token at its longest, plus slack
   * for normalisers that drop characters): text beyond it is refused before tokenizing, which costs time
   * in proportion to the text and blocks the engine while it runs.
   */
  maxCharsFor(maxTokens: number): number {
    return maxTokens * this.maxTokenChars + 1024;
  }

  encode(text: string): TokenizedPrompt {
    const ids = this.tok.encode(text).ids;
    const texts = ids.map((id) => this.tok.decode([id]));
    return { ids, texts, spans: this.spans(text, ids, texts) };
  }

  decode(ids: number[]): string {
    return this.tok.decode(ids);
  }

  /**
   * A token's text as it reads mid-text: decoded after a copy of itself, minus that copy. Decoding it alone
   * would drop a SentencePiece word's leading space (Llama's decoder strips one from the start of the text),
   * so dashboards' contexts and top-token lists would run words together ("Onceuponatime"); byte-level BPE
   * (GPT-2) gives the same text either way.
   */
  tokenText(id: number): string {
    const alone = this.tok.decode([id]);
    const twice = this.tok.decode([id, id]);
    return twice.startsWith(alone) && twice.length > alone.length ? twice.slice(alone.length) : alone;
  }

  /**
   * Character spans, in time linear in the prompt. Walk a cursor through the prompt matching each token's
   * decoded text. Where a token does not decode to the text at the cursor (part of a character split
   * across byte tokens: U+FFFD; a SentencePiece word whose leading space only shows after another token;
   * special tokens), decode the short window of tokens since the last point where decoded text and prompt
   * agreed, after one token of left context (so decoders that treat the first token specially behave as
   * mid-prompt), and measure how far it reaches. The window restarts at each whole character and never
   * exceeds MAX_SPAN_WINDOW tokens: decoding the whole prefix per token instead was quadratic (10,000 CJK
   * characters: 135 s).
   */
  private spans(text: string, ids: number[], texts: string[]): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let cursor = 0;
    // Tokens [anchor, i] are decoded together; the text they cover starts at anchorPos.
    let anchor = 0;
    let anchorPos = 0;
    for (let i = 0; i < ids.length; i++) {
      const t = texts[i]!;
      if (anchor === i && t.length > 0 && !t.includes('\uFFFD') && text.startsWith(t, cursor)) {
        out.push([cursor, cursor + t.length]);
        cursor += t.length;
        anchor = i + 1;
        anchorPos = cursor;
        continue;
      }
      let piece = this.decodeAfter(ids, anchor, i);
      let complete = true;
      while (piece.endsWith('\uFFFD')) {
        piece = piece.slice(0, -1);
        complete = false;
      }
      let end = anchorPos + piece.length;
      const matched = text.startsWith(piece, anchorPos) && end >= cursor;
      if (!matched) end = cursor;
      out.push([cursor, end]);
      cursor = end;
      // A whole character (matched or not: normalised text resyncs at the cursor) or a full window restarts it.
      if (complete || i + 1 - anchor >= MAX_SPAN_WINDOW) {
        anchor = i + 1;
        anchorPos = cursor;
      }
    }
    return out;
  }

  /** The text tokens [from, to] add after the token before `from` (decoded with it as context). */
  private decodeAfter(ids: number[], from: number, to: number): string {
    const window = ids.slice(from, to + 1);
    if (from === 0) return this.tok.decode(window);
    const context = this.tok.decode([ids[from - 1]!]);
    const both = this.tok.decode([ids[from - 1]!, ...window]);
    return both.startsWith(context) ? both.slice(context.length) : this.tok.decode(window);
  }
}

/** Length of the longest token string in a tokenizer.json (vocabulary and added tokens); 64 if unknown. */
function longestToken(json: Record<string, unknown>): number {
  let longest = 0;
  const model = json.model as { vocab?: unknown } | undefined;
  const vocab = model && typeof model === 'object' ? model.vocab : undefined;
  if (Array.isArray(vocab)) {
    for (const entry of vocab) if (Array.isArray(entry) && typeof entry[0] === 'string') longest = Math.max(longest, entry[0].length);
  } else if (vocab && typeof vocab === 'object') {
    for (const piece of Object.keys(vocab)) longest = Math.max(longest, piece.length);
  }
  if (Array.isArray(json.added_tokens)) {
    for (const t of json.added_tokens as Array<{ content?: unknown }>) if (typeof t?.content === 'string') longest = Math.max(longest, t.content.length);
  }
  return longest > 0 ? longest : 64;
}
