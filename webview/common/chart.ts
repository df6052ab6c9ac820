// Pure data -> plot: the top-k next-token bar chart. No DOM here (unit-tested).
import type { TopToken } from './protocol';
import type { ThemeColors } from './theme';
import { chartLayout } from './theme';
import { displayToken, formatProb } from './tokens';

export interface BarChart {
  data: Array<Record<string, unknown>>;
  layout: Record<string, unknown>;
}

/** Horizontal bars, most likely token on top; labels made unique (plotly merges equal category names). */
export function topTokensChart(top: readonly TopToken[], theme: ThemeColors, title?: string): BarChart {
  const rows = [...top].sort((a, b) => b.prob - a.prob);
  const seen = new Map<string, number>();
  const labels = rows.map((t) => {
    const base = displayToken(t.text);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return n === 0 ? base : `${base} (#${t.id})`;
  });
  const layout = chartLayout(theme);
  return {
    data: [
      {
        type: 'bar',
        orientation: 'h',
        x: rows.map((t) => t.prob),
        y: labels,
        text: rows.map((t) => formatProb(t.prob)),
        textposition: 'auto',
        hovertext: rows.map((t) => `id ${t.id} · logit ${t.logit.toFixed(3)}`),
        hoverinfo: 'y+text',
        marker: { color: theme.accent },
      },
    ],
    layout: {
      ...layout,
      title: title ? { text: title, font: { size: theme.fontSize } } : undefined,
      xaxis: { ...(layout.xaxis as object), range: [0, Math.min(1, Math.max(0.05, (rows[0]?.prob ?? 0) * 1.1))], tickformat: '.0%', title: { text: 'probability' } },
      yaxis: { ...(layout.yaxis as object), autorange: 'reversed', type: 'category' },
      height: Math.max(160, 28 * rows.length + 60),
    },
  };
}
