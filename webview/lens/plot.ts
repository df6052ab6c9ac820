// Logit lens view, pure data -> plot (unit-tested): the layers x positions heatmap (probability of each
// cell's top token, or of a chosen target token), the per-layer probability and rank trajectories of
// the target tokens, and CSV / JSON export. Token text goes to plotly escaped (plotText.ts).
import type { LensView } from '../../src/shared/analysisProtocol';
import { csv, plotToken, plotlyEscape, tokenTicks } from '../common/plotText';
import type { ThemeColors } from '../common/theme';
import { chartLayout } from '../common/theme';
import { displayToken, formatProb } from '../../src/shared/tokenText';

export type { Plot } from '../common/chart';
import { sequential } from '../common/chart';
import type { Plot } from '../common/chart';

/** What the heatmap colours: the top token's probability, or target `index`'s. */
export type LensColour = { kind: 'top' } | { kind: 'target'; index: number };

export interface LensMatrices {
  /** [layer][pos] probability shown as colour; null for a cell not decoded yet (a first part: no colour). */
  z: Array<Array<number | null>>;
  /** [layer][pos] cell text: the top token (escaped for plotly). */
  text: string[][];
  /** [layer][pos] hover text: the top-k list (escaped). */
  hover: string[][];
}

export function lensMatrices(v: LensView, colour: LensColour): LensMatrices {
  const z: Array<Array<number | null>> = [];
  const text: string[][] = [];
  const hover: string[][] = [];
  const target = colour.kind === 'target' ? v.targets[colour.index] : undefined;
  v.top.forEach((layer, l) => {
    z.push(
      layer.map((cell, p) => {
        if (cell.length === 0) return null;
        if (colour.kind === 'target') return v.targetStats[l]?.[p]?.[colour.index]?.prob ?? 0;
        return cell[0]?.prob ?? 0;
      }),
    );
    text.push(layer.map((cell) => plotToken(cell[0]?.text ?? '')));
    hover.push(
      layer.map((cell, p) => {
        const head = `${plotlyEscape(v.labels[l] ?? '')} · position ${p} (${plotToken(v.tokens[p]?.text ?? '')})`;
        if (cell.length === 0) return `${head}<br>decoding…`;
        const rows = cell.map((t, k) => `${k + 1}. ${plotToken(t.text)}  ${formatProb(t.prob)}`);
        const stat = target ? v.targetStats[l]?.[p]?.[colour.kind === 'target' ? colour.index : 0] : undefined;
        const tline = target && stat ? [`target ${plotToken(target.text)}: ${formatProb(stat.prob)}, rank ${stat.rank + 1}`] : [];
        return [head, ...rows, ...tline].join('<br>');
      }),
    );
  });
  return { z, text, hover };
}

/** A cell's label: the token with whitespace shown, cut to `maxChars` (with …), escaped for plotly. */
export function cellLabel(text: string, maxChars: number): string {
  const d = displayToken(text);
  const chars = Array.from(d);
  if (maxChars < 1) return '';
  return plotlyEscape(chars.length <= maxChars ? d : `${chars.slice(0, Math.max(1, maxChars - 1)).join('')}…`);
}

/**
 * The heatmap; `focus` outlines one position's column. `cellChars` is how many characters fit in a cell
 * (from the plot's width); below 2 the cells carry no text (hover still shows it). `shown`: the positions on
 * screen when not all fit (lensPositions.ts); the others are a drag away.
 */
export function lensHeatmap(v: LensView, colour: LensColour, theme: ThemeColors, focus?: number, cellChars = 8, shown?: { start: number; end: number }): Plot {
  const m = lensMatrices(v, colour);
  const labels = v.top.map((layer) => layer.map((cell) => cellLabel(cell[0]?.text ?? '', cellChars)));
  const base = chartLayout(theme);
  const T = v.tokens.length;
  const L = v.labels.length;
  const target = colour.kind === 'target' ? v.targets[colour.index] : undefined;
  const windowed = shown !== undefined && (shown.start > 0 || shown.end < T - 1);
  const shapes =
    focus !== undefined && focus >= 0 && focus < T
      ? [{ type: 'rect', xref: 'x', yref: 'y', x0: focus - 0.5, x1: focus + 0.5, y0: -0.5, y1: L - 0.5, line: { color: theme.accent, width: 2 } }]
      : [];
  return {
    data: [
      {
        type: 'heatmap',
        z: m.z,
        x: Array.from({ length: T }, (_, i) => i),
        y: Array.from({ length: L }, (_, i) => i),
        text: labels,
        texttemplate: cellChars >= 2 ? '%{text}' : '',
        textfont: { family: 'monospace', size: Math.max(8, Math.min(12, theme.fontSize - 1)) },
        customdata: m.hover,
        hovertemplate: '%{customdata}<extra></extra>',
        zmin: 0,
        zmax: 1,
        colorscale: sequential(theme),
        colorbar: { title: { text: target ? `p(${plotToken(target.text)})` : 'p(top)' }, thickness: 10, outlinewidth: 0, tickformat: '.0%' },
        xgap: 1,
        ygap: 1,
      },
    ],
    layout: {
      ...base,
      // A window's cells are wide enough for a tick each.
      xaxis: { ...(base.xaxis as object), ...tokenTicks(v.tokens, 12, windowed ? T : undefined), title: { text: 'position' }, tickangle: -45, ...(windowed ? { range: [shown.start - 0.5, shown.end + 0.5] } : {}) },
      yaxis: { ...(base.yaxis as object), tickvals: Array.from({ length: L }, (_, i) => i), ticktext: v.labels.map(plotlyEscape), title: { text: 'layer' }, ...(windowed ? { fixedrange: true } : {}) },
      ...(windowed ? { dragmode: 'pan' } : {}),
      shapes,
      height: Math.max(260, 34 * L + 120),
      margin: { l: 8, r: 8, t: 8, b: 8 },
    },
  };
}

/** Series colours after the theme's accent: mid-tones that read on light and dark backgrounds. */
const SERIES = ['#e8912d', '#3fa34d', '#c4509c', '#d9534f', '#8e7cc3', '#2aa1a1'];

/** Probability (left axis) and rank (right axis, log) of each target token per layer at `position`. */
export function trajectoryChart(v: LensView, position: number, theme: ThemeColors): Plot {
  const base = chartLayout(theme);
  const layers = v.labels.map((_, i) => i);
  const data: Array<Record<string, unknown>> = [];
  v.targets.forEach((t, j) => {
    const name = plotToken(t.text);
    // A target's probability and rank share its colour.
    const color = j === 0 ? theme.accent : (SERIES[(j - 1) % SERIES.length] ?? theme.foreground);
    data.push({
      type: 'scatter',
      mode: 'lines+markers',
      line: { color },
      marker: { color },
      name: `p ${name}`,
      x: layers,
      y: layers.map((l) => v.targetStats[l]?.[position]?.[j]?.prob ?? 0),
      hovertemplate: `p(${name}) %{y:.3p}<extra>%{x}</extra>`,
    });
    data.push({
      type: 'scatter',
      mode: 'lines',
      line: { dash: 'dot', color },
      name: `rank ${name}`,
      yaxis: 'y2',
      x: layers,
      y: layers.map((l) => (v.targetStats[l]?.[position]?.[j]?.rank ?? 0) + 1),
      hovertemplate: `rank(${name}) %{y}<extra></extra>`,
    });
  });
  return {
    data,
    layout: {
      ...base,
      xaxis: { ...(base.xaxis as object), tickvals: layers, ticktext: v.labels.map(plotlyEscape), title: { text: 'layer' } },
      yaxis: { ...(base.yaxis as object), title: { text: 'probability' }, range: [0, 1], tickformat: '.0%' },
      yaxis2: { ...(base.yaxis as object), title: { text: 'rank (1 = top)' }, overlaying: 'y', side: 'right', type: 'log', autorange: 'reversed', showgrid: false, tickvals: [1, 10, 100, 1000, 10000, 100000], ticktext: ['1', '10', '100', '1k', '10k', '100k'] },
      legend: { orientation: 'h', y: -0.3 },
      height: 300,
      margin: { l: 8, r: 8, t: 8, b: 8 },
    },
  };
}

/** CSV: one row per (layer, position) with the top-k and each target's probability and rank. */
export function lensCsv(v: LensView): string {
  const k = Math.max(0, ...v.top.flatMap((layer) => layer.map((c) => c.length)));
  const header: string[] = ['layer', 'label', 'position', 'token'];
  for (let i = 1; i <= k; i++) header.push(`top${i}`, `top${i}_prob`);
  for (const t of v.targets) header.push(`p(${displayToken(t.text)})`, `rank(${displayToken(t.text)})`);
  const rows: Array<Array<string | number>> = [header];
  v.top.forEach((layer, l) =>
    layer.forEach((cell, p) => {
      const row: Array<string | number> = [l, v.labels[l] ?? '', p, v.tokens[p]?.text ?? ''];
      for (let i = 0; i < k; i++) row.push(cell[i]?.text ?? '', cell[i]?.prob ?? '');
      v.targets.forEach((_, j) => {
        const s = v.targetStats[l]?.[p]?.[j];
        row.push(s?.prob ?? '', s ? s.rank + 1 : '');
      });
      rows.push(row);
    }),
  );
  return csv(rows);
}

export function lensJson(v: LensView): string {
  return JSON.stringify({ stream: v.stream, labels: v.labels, tokens: v.tokens, top: v.top, targets: v.targets, targetStats: v.targetStats }, null, 1);
}
