// Prompt resolution and next-token summaries shared by the worker and the CLI.
import { UserError } from './errors';
import type { Model } from './model';
import type { TokenizedPrompt } from '../shared/modelInfo';
import type { PromptInput } from '../shared/analyses';
import type { TopToken } from '../shared/protocol';
import { logSumExp, topIndices } from '../shared/logits';
import { interventionSite } from '../shared/interventions';
import type { Intervention } from '../shared/interventions';

export function resolvePrompt(model: Model, prompt: PromptInput, maxTokens?: number): TokenizedPrompt {
  const limit = Math.min(maxTokens ?? Infinity, model.config.nCtx);
  // Refuse text that cannot fit before tokenizing it: tokenizing costs time in proportion to the text and
  // holds the engine meanwhile (a pasted book would keep inline inspection busy for nothing).
  const maxChars = 'text' in prompt ? model.tokenizer?.maxCharsFor(limit) : undefined;
  if (maxChars !== undefined && 'text' in prompt && prompt.text.length > maxChars) {
    throw new UserError(`The prompt has ${prompt.text.length} characters, more than ${limit} tokens can hold (at most ${maxChars}). Shorten the prompt.`);
  }
  const t = 'text' in prompt ? model.tokenize(prompt.text) : model.describeTokens(prompt.tokens);
  if (t.ids.length > limit) {
    throw new UserError(`The prompt has ${t.ids.length} tokens; the limit is ${limit}${limit === model.config.nCtx ? ' (the model\'s context)' : ' (mechlens.maxPromptTokens)'}. Shorten the prompt.`);
  }
  return t;
}

/** The k most likely next tokens of one row of logits (`lse`: the row's log-sum-exp, when the caller has it). */
export function topTokens(model: Model, logits: Float32Array, k: number, lse = logSumExp(logits)): TopToken[] {
  return topIndices(logits, k).map((id) => ({ id, text: model.tokenText(id), prob: Math.exp(logits[id]! - lse), logit: logits[id]! }));
}

/** Answer tokens (targets, baselines) must be in the vocabulary: reading logits[id] past the end gives NaN, not an error. */
export function checkTokenIds(model: Model, ids: Record<string, number | undefined>): void {
  const V = model.config.dVocab;
  for (const [what, id] of Object.entries(ids)) {
    if (id !== undefined && (!Number.isInteger(id) || id < 0 || id >= V)) throw new UserError(`Token ${id} is outside the vocabulary (0..${V - 1}): check the ${what}.`);
  }
}

/**
 * An intervention at a position the run never reaches would be silently skipped: the result would look
 * like an intervened run but be the plain one. `length` is the number of positions the run computes.
 */
export function checkInterventionPositions(interventions: readonly Intervention[] | undefined, length: number): void {
  for (const [i, iv] of (interventions ?? []).entries()) {
    for (const p of iv.positions ?? []) {
      if (p >= length) throw new UserError(`Intervention ${i + 1} (${interventionSite(iv)}): position ${p} is beyond the prompt (positions 0..${length - 1}).`);
    }
  }
}

/** A hook list must name at least one hook: an empty one would compute nothing and look like success. */
export function checkHookList(hooks: readonly string[]): void {
  if (hooks.length === 0) throw new UserError('Give at least one hook name.');
}
