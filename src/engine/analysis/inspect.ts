// What inline inspection shows for a whole prompt, in one call: each token's surprisal (how unexpected it
// was given the tokens before it) and the model's top next-token predictions at every position. The hover's
// one-line logit lens is decoded for the hovered token alone, when it is hovered (`analysis/lens` with one
// position): decoding every layer at every position was most of an update on a GPT-2-sized vocabulary, for
// lines nobody reads until a hover. The forward here is the lens' own, so it keeps the residual streams that
// hover and a lens panel opened on this prompt decode without a forward of their own.
import type { Model } from '../model';
import { topTokens } from '../prompt';
import { logSumExp, rankOf } from '../../shared/logits';
import { logitLens } from './logitLens';
import type { InspectResult } from '../../shared/protocol';

export async function inspectPrompt(model: Model, tokens: number[], options: { topK?: number; signal?: AbortSignal } = {}): Promise<Omit<InspectResult, 'prompt'>> {
  const V = model.config.dVocab;
  const T = tokens.length;
  // One forward gives both the logits and the residual streams (kept for the hover's lens); no position decoded.
  const lens = await logitLens(model, { tokens, positions: [], modelLogits: true, signal: options.signal });
  const logits = lens.modelLogits!;
  const surprisal: Array<number | null> = [null];
  const actual: Array<{ prob: number; rank: number } | null> = [null];
  const top = [];
  for (let p = 0; p < T; p++) {
    const row = logits.data.subarray(p * V, (p + 1) * V);
    const lse = logSumExp(row);
    top.push(topTokens(model, row, options.topK ?? 5, lse));
    if (p + 1 < T) {
      const next = tokens[p + 1]!;
      const logProb = row[next]! - lse;
      surprisal.push(-logProb / Math.LN2);
      actual.push({ prob: Math.exp(logProb), rank: rankOf(row, next) });
    }
  }
  return { surprisal, actual, top };
}
