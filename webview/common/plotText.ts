// Text that goes into plotly (cell text, tick labels, hover labels) is parsed by plotly for a few HTML-like
// tags (<b>, <br>, <a href>...) and entities. Token strings are untrusted model output, so they are
// escaped to entities here and plotly shows them literally. Pure (unit-tested).
import { displayToken } from '../../src/shared/tokenText';

export function plotlyEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A token for a plot: whitespace made visible, then escaped. */
export function plotToken(text: string): string {
  return plotlyEscape(displayToken(text));
}

/**
 * Token tick labels on a numeric axis (so equal tokens are not merged); at most `maxTicks` of them
 * (every k-th position, always the last) so long prompts stay legible.
 */
export function tokenTicks(tokens: ReadonlyArray<{ text: string }>, maxChars = 12, maxTicks = 36): { tickvals: number[]; ticktext: string[] } {
  const step = Math.max(1, Math.ceil(tokens.length / maxTicks));
  const picked = tokens.map((_, i) => i).filter((i) => i % step === 0 || i === tokens.length - 1);
  return {
    tickvals: picked,
    ticktext: picked.map((i) => {
      const d = displayToken(tokens[i]!.text);
      return plotlyEscape(d.length > maxChars ? `${d.slice(0, maxChars - 1)}…` : d);
    }),
  };
}

/** A CSV field: quoted when it holds a comma, quote or line break; formula-like starts neutralised. */
export function csvField(v: string | number): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  let s = v;
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csv(rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  return rows.map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}
