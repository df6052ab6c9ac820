// Counterfactual pairs as a user writes them beside the prompt (pure, unit-tested): the token alignment
// check a position-wise patch needs, and helpers that derive a corrupted prompt from the clean one by
// swapping two names, moving the answer name (the IOI corruption), or changing a number.

export interface PairAlignment {
  sameLength: boolean;
  /** Positions whose tokens differ (every position past the shorter prompt counts as differing). */
  mismatches: number[];
}

export function alignPair(clean: ReadonlyArray<{ id: number }>, corrupted: ReadonlyArray<{ id: number }>): PairAlignment {
  const n = Math.max(clean.length, corrupted.length);
  const mismatches: number[] = [];
  for (let i = 0; i < n; i++) if (clean[i]?.id !== corrupted[i]?.id) mismatches.push(i);
  return { sameLength: clean.length === corrupted.length, mismatches };
}

const NAME = /\b[A-Z][a-z]+\b/g;

/** The two names of a prompt: "X and Y" when it has one, else the first two distinct capitalised words after the first word. */
export function pairNames(text: string): [string, string] | undefined {
  const and = /\b([A-Z][a-z]+) and ([A-Z][a-z]+)\b/.exec(text);
  if (and && and[1] !== and[2]) return [and[1]!, and[2]!];
  const words = [...text.matchAll(NAME)].filter((m) => m.index !== text.search(/\S/)).map((m) => m[0]);
  const distinct = [...new Set(words)];
  return distinct.length >= 2 ? [distinct[0]!, distinct[1]!] : undefined;
}

/** Swaps the prompt's two names everywhere ("When Mary and John…, John gave…" → "When John and Mary…, Mary gave…"). */
export function swapNames(text: string): string | undefined {
  const names = pairNames(text);
  if (!names) return undefined;
  const [a, b] = names;
  return text.replace(new RegExp(`\\b(${a}|${b})\\b`, 'g'), (m) => (m === a ? b : a));
}

/**
 * The IOI corruption: the last mention of the repeated name (the subject) becomes the other name, so the
 * answer flips while every other token stays ("…, John gave a drink to" → "…, Mary gave a drink to").
 */
export function moveLastName(text: string): string | undefined {
  const names = pairNames(text);
  if (!names) return undefined;
  const count = (n: string) => [...text.matchAll(new RegExp(`\\b${n}\\b`, 'g'))].length;
  const [a, b] = names;
  const [repeated, other] = count(b) > count(a) ? [b, a] : [a, b];
  const matches = [...text.matchAll(new RegExp(`\\b${repeated}\\b`, 'g'))];
  const last = matches[matches.length - 1];
  if (!last || matches.length < 2) return undefined;
  return text.slice(0, last.index) + other + text.slice(last.index + repeated.length);
}

const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];

/** Changes the last number of the prompt (digits or a number word up to twelve) to the next one. */
export function changeNumber(text: string): string | undefined {
  const matches = [...text.matchAll(new RegExp(`\\b(\\d+|${NUMBER_WORDS.join('|')})\\b`, 'gi'))];
  const last = matches[matches.length - 1];
  if (!last) return undefined;
  const word = last[0];
  let next: string;
  if (/^\d+$/.test(word)) next = String(Number(word) + 1);
  else {
    const i = NUMBER_WORDS.indexOf(word.toLowerCase());
    const w = NUMBER_WORDS[i === NUMBER_WORDS.length - 1 ? i - 1 : i + 1]!;
    next = word[0] === word[0]!.toUpperCase() ? w[0]!.toUpperCase() + w.slice(1) : w;
  }
  return text.slice(0, last.index) + next + text.slice(last.index! + word.length);
}

/**
 * IOI answer tokens: the indirect object (the name said once) as the target and the subject (the repeated
 * name) as the baseline, each with its leading space; undefined when the prompt has no such pair.
 */
export function ioiAnswers(text: string): { target: string; baseline: string } | undefined {
  const names = pairNames(text);
  if (!names) return undefined;
  const count = (n: string) => [...text.matchAll(new RegExp(`\\b${n}\\b`, 'g'))].length;
  const [a, b] = names;
  if (count(a) === count(b)) return undefined;
  return count(a) < count(b) ? { target: ` ${a}`, baseline: ` ${b}` } : { target: ` ${b}`, baseline: ` ${a}` };
}
