// Reading a vocabulary-sized logit vector without sorting it: top-k by partial selection, log-sum-exp, ranks.
// A full sort of a 50,257-token vocabulary costs about 20 ms in JavaScript; inline inspection reads every
// position of the prompt, and a comparison reads two vectors per click.

/** log Σ exp(x), computed stably (the maximum is taken out first). */
export function logSumExp(values: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > max) max = values[i]!;
  if (max === -Infinity) return max;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += Math.exp(values[i]! - max);
  return max + Math.log(sum);
}

/** softmax(x), in float64 (the maximum is taken out first). */
export function softmax(values: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > max) max = values[i]!;
  const out = new Float64Array(values.length);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += out[i] = Math.exp(values[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

/** log softmax(x), in float64. */
export function logSoftmax(values: ArrayLike<number>): Float64Array {
  const lse = logSumExp(values);
  return Float64Array.from({ length: values.length }, (_, i) => values[i]! - lse);
}

/** Indices of the k largest entries, largest first, the lower index first among equals (no full sort). */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  if (k <= 0) return best;
  for (let i = 0; i < values.length; i++) {
    if (best.length < k) {
      best.push(i);
      best.sort((a, b) => values[b]! - values[a]! || a - b);
    } else if (values[i]! > values[best[k - 1]!]!) {
      best[k - 1] = i;
      best.sort((a, b) => values[b]! - values[a]! || a - b);
    }
  }
  return best;
}

/** How many entries are larger than entry `id` (0 for the top one). */
export function rankOf(values: ArrayLike<number>, id: number): number {
  const v = values[id]!;
  let rank = 0;
  for (let i = 0; i < values.length; i++) if (values[i]! > v) rank++;
  return rank;
}
