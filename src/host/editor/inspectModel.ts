// Pure parts of inline inspection (no vscode import, unit-tested): which decoration bucket a token's
// surprisal falls in, which token an offset hits, and the hover's markdown. Token strings are untrusted
// model output: every one goes through `escapeMarkdown` (the hover renders markdown, no HTML).
import type { InspectResult } from '../../shared/protocol';
import { displayToken, formatProb } from '../../shared/tokenText';

/** Upper bounds (bits) of the surprisal buckets; above the last is the last bucket. */
export const SURPRISAL_BOUNDS = [1, 3, 6, 10] as const;
export const SURPRISAL_BUCKETS = SURPRISAL_BOUNDS.length + 1;

/** Bucket 0 (expected) .. SURPRISAL_BUCKETS-1 (very surprising); -1 when there is no surprisal (first token). */
export function surprisalBucket(bits: number | null | undefined): number {
  if (bits === null || bits === undefined || !Number.isFinite(bits)) return bits === Infinity ? SURPRISAL_BUCKETS - 1 : -1;
  const i = SURPRISAL_BOUNDS.findIndex((b) => bits < b);
  return i < 0 ? SURPRISAL_BUCKETS - 1 : i;
}

/** Index of the token whose [start, end) span holds `offset` (spans sorted, possibly empty); -1 if none. */
export function tokenAt(spans: ReadonlyArray<readonly [number, number]>, offset: number): number {
  let lo = 0;
  let hi = spans.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [s, e] = spans[mid]!;
    if (offset < s) hi = mid - 1;
    else if (offset >= e) lo = mid + 1;
    else {
      found = mid;
      break;
    }
  }
  if (found < 0) return -1;
  // An empty span never holds an offset; among equal spans (a character split over tokens) take the first.
  while (found > 0 && spans[found - 1]![0] === spans[found]![0] && spans[found - 1]![1] === spans[found]![1]) found--;
  return found;
}

/** Backslash-escapes every ASCII punctuation character (CommonMark: always a literal). */
export function escapeMarkdown(s: string): string {
  return s.replace(/[!-/:-@[-`{-~]/g, (c) => `\\${c}`);
}

/** A token as shown in a hover: whitespace made visible, markdown-escaped, in quotes. */
export function mdToken(text: string): string {
  return `“${escapeMarkdown(displayToken(text))}”`;
}

/** The hover for token `i` of an inspection result; `lensLine` (from `lensLineMarkdown`) ends it. */
export function hoverMarkdown(r: Pick<InspectResult, 'prompt' | 'surprisal' | 'actual' | 'top'>, i: number, lensLine: string): string {
  const lines: string[] = [];
  const text = r.prompt.texts[i] ?? '';
  const id = r.prompt.ids[i];
  lines.push(`**MechLens** · token ${i} ${mdToken(text)} (id ${id ?? '?'})`, '');
  const actual = r.actual[i];
  const bits = r.surprisal[i];
  if (actual && bits !== null && bits !== undefined) {
    lines.push(`Actual token: p = ${formatProb(actual.prob)} · rank ${actual.rank + 1} · surprisal ${bits.toFixed(2)} bits`, '');
  } else {
    lines.push('First token: nothing predicts it.', '');
  }
  const top = r.top[i] ?? [];
  if (top.length) {
    lines.push('Top next-token predictions after it:', '', '| # | token | probability |', '|---:|:---|---:|');
    top.forEach((t, k) => lines.push(`| ${k + 1} | ${mdToken(t.text)} | ${formatProb(t.prob)} |`));
    const next = r.prompt.ids[i + 1];
    if (next !== undefined) {
      const nextActual = r.actual[i + 1];
      lines.push('', `Next in the prompt: ${mdToken(r.prompt.texts[i + 1] ?? '')}${nextActual ? ` (p = ${formatProb(nextActual.prob)}, rank ${nextActual.rank + 1})` : ''}`);
    }
    lines.push('');
  }
  if (lensLine) lines.push(lensLine);
  return lines.join('\n');
}

/**
 * The hover's one-line logit lens from a lens of one position (`analysis/lens` with `positions: [i]`, top-1):
 * each layer's top token there, in layer order.
 */
export function lensLineMarkdown(lens: { labels: string[]; top: Array<Array<Array<{ text: string }>>> }): string {
  const parts = lens.top.map((layer, l) => {
    const t = layer[0]?.[0];
    return t ? `${escapeMarkdown(lens.labels[l] ?? String(l))} ${mdToken(t.text)}` : '';
  });
  return `Logit lens (top token per layer): ${parts.filter(Boolean).join(' → ')}`;
}

/** The line in place of the lens when it could not be decoded. */
export function lensUnavailableMarkdown(reason: string): string {
  return `Logit lens: not available (${escapeMarkdown(reason)})`;
}

/** The status bar text for the last update. */
export function latencyText(ms: number, tokens: number): string {
  return `$(pulse) ${Math.round(ms)} ms · ${tokens} tok`;
}

/** Why a document is (not) inspected as the user types. */
export type AutoInspection = 'inspect' | 'disabled' | 'no-match' | 'untrusted';

/**
 * Whether a document gets inline inspection as the user types. In an untrusted workspace nothing is
 * inspected on its own: the repository decides which files match the default patterns and what they
 * hold, and every match would go to the engine as it is opened. There only an explicit **Inspect
 * Selection** runs, until the workspace is trusted. `matches` is asked only when it matters.
 */
export function autoInspection(o: { enabled: boolean; trusted: boolean; promptLanguage: boolean; matches: () => boolean }): AutoInspection {
  if (!o.enabled) return 'disabled';
  if (!o.promptLanguage && !o.matches()) return 'no-match';
  return o.trusted ? 'inspect' : 'untrusted';
}

/** The status bar's words while inline inspection waits for the workspace to be trusted. */
export const UNTRUSTED_STATUS = {
  text: '$(shield) MechLens: inline off',
  tooltip:
    'MechLens inline inspection is off in this untrusted workspace: its files would go to the model as they open. ' +
    'Trust the workspace (click) to turn it on, or use "MechLens: Inspect Selection" on a file.',
  command: 'workbench.trust.manage',
};
