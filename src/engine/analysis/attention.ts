// Attention patterns and head detectors (the idea of TransformerLens' head_detector.py).
// For every layer and head, the score is the mean attention a query puts on the positions a head of
// that kind would attend to, averaged over the queries where such positions exist:
//   previous-token: key t-1;  duplicate-token: earlier keys holding the same token;
//   induction: the key right after an earlier copy of the current token (Olsson et al. 2022).
// Induction is measured on a repeated random sequence (first half random, second half the same),
// where only an induction head can predict the second half.
import type { HookName } from '../hooks';
import type { Model } from '../model';
import type { AttentionResult, HeadKind } from '../../shared/protocol';
import type { Intervention } from '../../shared/interventions';

export const HEAD_KINDS: readonly HeadKind[] = ['previous_token', 'duplicate_token', 'induction'];


/** Scores one [H, T, T] pattern for each kind, given the tokens it was computed on. */
export function headScores(pattern: Float32Array, H: number, tokens: number[]): Record<HeadKind, number[]> {
  const T = tokens.length;
  const out: Record<HeadKind, number[]> = { previous_token: [], duplicate_token: [], induction: [] };
  for (let h = 0; h < H; h++) {
    const at = (q: number, k: number) => pattern[(h * T + q) * T + k]!;
    let prev = 0;
    let prevN = 0;
    let dup = 0;
    let dupN = 0;
    let ind = 0;
    let indN = 0;
    for (let q = 1; q < T; q++) {
      prev += at(q, q - 1);
      prevN++;
      let dupMass = 0;
      let indMass = 0;
      let hasDup = false;
      for (let k = 0; k < q; k++) {
        if (tokens[k] === tokens[q]) {
          hasDup = true;
          dupMass += at(q, k);
          if (k + 1 <= q) indMass += at(q, k + 1);
        }
      }
      if (hasDup) {
        dup += dupMass;
        dupN++;
        ind += indMass;
        indN++;
      }
    }
    out.previous_token.push(prevN ? prev / prevN : NaN);
    out.duplicate_token.push(dupN ? dup / dupN : NaN);
    out.induction.push(indN ? ind / indN : NaN);
  }
  return out;
}

/** Every layer's attention pattern on `tokens`, under `interventions` when given. */
export async function attentionPatterns(model: Model, tokens: number[], signal?: AbortSignal, interventions?: readonly Intervention[]): Promise<AttentionResult> {
  const { nLayers: L, nHeads: H } = model.config;
  const hooks = Array.from({ length: L }, (_, l): HookName => `blocks.${l}.attn.hook_pattern`);
  const r = await model.forward({ tokens: [tokens], hooks, interventions, logits: 'none', signal });
  const patterns = hooks.map((h) => r.hooks.get(h)!.data);
  const scores: Record<HeadKind, number[][]> = { previous_token: [], duplicate_token: [], induction: [] };
  for (const p of patterns) {
    const s = headScores(p, H, tokens);
    for (const kind of HEAD_KINDS) scores[kind].push(s[kind]);
  }
  return { tokens, patterns, nHeads: H, scores };
}

/** A seeded random sequence repeated twice, drawn from `vocab` (default: every id). */
export function repeatedRandomTokens(length: number, seed: number, vocab: number[] | number): number[] {
  let s = seed >>> 0;
  const pool = typeof vocab === 'number' ? null : vocab;
  const size = pool ? pool.length : (vocab as number);
  const first: number[] = [];
  const used = new Set<number>();
  while (first.length < length) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const i = s % size;
    const id = pool ? pool[i]! : i;
    if (used.has(id) && used.size < size) continue;
    used.add(id);
    first.push(id);
  }
  return [...first, ...first];
}

/**
 * Head-detector scores averaged over several repeated random sequences: the standard benchmark for
 * previous-token, duplicate-token and induction heads. Random ids from the whole vocabulary are the
 * default (as TransformerLens does); a small model trained on a narrow corpus sees most ids rarely,
 * so a model folder may ship its own probe sequences (`eval/head_probe.json`, `repeated` rows: in-
 * distribution tokens, first half repeated), which are used when present.
 */
export async function detectHeads(
  model: Model,
  options: { length?: number; samples?: number; vocab?: number[]; sequences?: number[][]; signal?: AbortSignal } = {},
): Promise<Record<HeadKind, number[][]>> {
  const length = Math.min(options.length ?? 20, Math.floor(model.config.nCtx / 2));
  const probe = options.sequences ?? (options.vocab ? undefined : model.headProbe);
  const samples = probe ? Math.min(options.samples ?? probe.length, probe.length) : (options.samples ?? 4);
  const sum: Record<HeadKind, number[][]> = { previous_token: [], duplicate_token: [], induction: [] };
  for (let s = 0; s < samples; s++) {
    const tokens = probe ? probe[s]! : repeatedRandomTokens(length, 1000 + s, options.vocab ?? model.config.dVocab);
    const r = await attentionPatterns(model, tokens, options.signal);
    for (const kind of HEAD_KINDS) {
      r.scores[kind].forEach((row, l) => {
        sum[kind][l] ??= new Array<number>(row.length).fill(0);
        row.forEach((v, h) => (sum[kind][l]![h]! += v / samples));
      });
    }
  }
  return sum;
}
