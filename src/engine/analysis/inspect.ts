// Everything inline inspection shows for one prompt, in one call: each token's surprisal (how
// unexpected it was given the tokens before it), the model's top next-token predictions at every
// position, and a one-line logit lens (the top token of every layer at every position).
import type { Model } from '../model';
import { topTokens } from '../prompt';
import { logSumExp, rankOf } from '../../shared/logits';
import { logitLens } from './logitLens';
import type { InspectResult } from '../../shared/protocol';

export async function inspectPrompt(model: Model, tokens: number[], options: { topK?: number; signal?: AbortSignal } = {}): Promise<Omit<InspectResult, 'prompt'>> {
  const V = model.config.dVocab;
  const T = tokens.length;
  // One forward gives both the logits and the residual streams the one-line lens decodes.
  const lens = await logitLens(model, { tokens, topK: 1, modelLogits: true, signal: options.signal });
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
  return {
    surprisal,
    actual,
    top,
    lens: { labels: lens.labels, top: lens.top.map((layer) => layer.map((pos) => ({ id: pos[0]!.id, text: pos[0]!.text, prob: pos[0]!.prob }))) },
  };
}
