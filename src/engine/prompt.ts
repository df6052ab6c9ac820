// Prompt resolution and next-token summaries shared by the worker and the CLI.
import { UserError } from './errors';
import type { Model } from './model';
import type { TokenizedPrompt } from '../shared/modelInfo';
import type { PromptInput } from '../shared/analyses';
import type { TopToken } from '../shared/protocol';

export function resolvePrompt(model: Model, prompt: PromptInput, maxTokens?: number): TokenizedPrompt {
  const t = 'text' in prompt ? model.tokenize(prompt.text) : model.describeTokens(prompt.tokens);
  const limit = Math.min(maxTokens ?? Infinity, model.config.nCtx);
  if (t.ids.length > limit) {
    throw new UserError(`The prompt has ${t.ids.length} tokens; the limit is ${limit}${limit === model.config.nCtx ? ' (the model\'s context)' : ' (mechlens.maxPromptTokens)'}. Shorten the prompt.`);
  }
  return t;
}

/** Softmax of one row of logits, in float64 for stability. */
export function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

export function topTokens(model: Model, logits: Float32Array, k: number): TopToken[] {
  const probs = softmax(logits);
  const idx = Array.from(logits.keys());
  idx.sort((a, b) => logits[b]! - logits[a]!);
  return idx.slice(0, Math.max(0, Math.min(k, idx.length))).map((id) => ({ id, text: model.tokenText(id), prob: probs[id]!, logit: logits[id]! }));
}
