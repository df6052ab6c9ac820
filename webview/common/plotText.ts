// Text that goes into plotly (cell text, tick labels, hover labels) is parsed by plotly for a few HTML-like
// tags (<b>, <br>, <a href>...) and entities. Token strings are untrusted model output, so they are
// escaped to entities here and plotly shows them literally. Pure (unit-tested).
import { displayToken } from './tokens';

export function plotlyEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A token for a plot: whitespace made visible, then escaped. */
export function plotToken(text: string): string {
  return plotlyEscape(displayToken(text));
}

/** Tick labels "i:token" (positions stay numeric on the axis so equal tokens are not merged). */
export function tokenTicks(tokens: ReadonlyArray<{ text: string }>, maxChars = 12): { tickvals: number[]; ticktext: string[] } {
  return {
    tickvals: tokens.map((_, i) => i),
    ticktext: tokens.map((t) => {
      const d = displayToken(t.text);
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
