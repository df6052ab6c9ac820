// Everything inline inspection shows for one prompt, in one call: each token's surprisal (how
// unexpected it was given the tokens before it), the model's top next-token predictions at every
// position, and a one-line logit lens (the top token of every layer at every position).
import type { Model } from '../model';
import { softmax, topTokens } from '../prompt';
import { logitLens } from './logitLens';
import type { InspectResult } from '../../shared/protocol';

export async function inspectPrompt(model: Model, tokens: number[], options: { topK?: number; signal?: AbortSignal } = {}): Promise<Omit<InspectResult, 'prompt'>> {
  const V = model.config.dVocab;
  const T = tokens.length;
  const logits = await model.run(tokens, { signal: options.signal });
  const surprisal: Array<number | null> = [null];
  const actual: Array<{ prob: number; rank: number } | null> = [null];
  const top = [];
  for (let p = 0; p < T; p++) {
    const row = logits.data.subarray(p * V, (p + 1) * V);
    top.push(topTokens(model, row, options.topK ?? 5));
    if (p + 1 < T) {
      const next = tokens[p + 1]!;
      const probs = softmax(row);
      let rank = 0;
      for (let i = 0; i < V; i++) if (row[i]! > row[next]!) rank++;
      surprisal.push(-Math.log2(probs[next]!));
      actual.push({ prob: probs[next]!, rank });
    }
  }
  const lens = await logitLens(model, { tokens, topK: 1, signal: options.signal });
  return {
    surprisal,
    actual,
    top,
    lens: { labels: lens.labels, top: lens.top.map((layer) => layer.map((pos) => ({ id: pos[0]!.id, text: pos[0]!.text, prob: pos[0]!.prob }))) },
  };
}
