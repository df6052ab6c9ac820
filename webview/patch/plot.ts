// Patching sweep heatmaps, pure data -> plot (unit-tested): a sweep's values as a grid (rows: every axis
// but the last, e.g. layers or layer.head; columns: the last axis, positions or heads), the cell index in
// the sweep's own dims order for a click, and a diverging colour scale centred on 0.
import type { Plot } from '../common/chart';
import { plotToken, plotlyEscape } from '../common/plotText';
import type { ThemeColors } from '../common/theme';
import { chartLayout } from '../common/theme';

export interface SweepLike {
  dims: string[];
  shape: number[];
  layers: number[];
  prompt: { texts: string[] };
}

export interface SweepGrid {
  z: number[][];
  rowLabels: string[];
  colLabels: string[];
  /** The sweep index (one per dim) of grid cell (row, col). */
  indexOf(row: number, col: number): number[];
}

function axisLabel(dim: string, i: number, s: SweepLike): string {
  switch (dim) {
    case 'layer':
      return `L${s.layers[i] ?? i}`;
    case 'head':
    case 'kv_head':
      return `H${i}`;
    case 'pos':
      return `${i} ${plotToken(s.prompt.texts[i] ?? '')}`;
    default:
      return `${plotlyEscape(dim)} ${i}`;
  }
}

/** The sweep's flat row-major `values` as a grid: the last axis across, the others down. */
export function sweepGrid(s: SweepLike, values: ArrayLike<number>): SweepGrid {
  const cols = s.shape[s.shape.length - 1] ?? 1;
  const outer = s.shape.slice(0, -1);
  const rows = outer.reduce((a, b) => a * b, 1);
  const unravel = (row: number): number[] => {
    const idx: number[] = [];
    let r = row;
    for (let d = outer.length - 1; d >= 0; d--) {
      idx.unshift(r % outer[d]!);
      r = Math.floor(r / outer[d]!);
    }
    return idx;
  };
  const z: number[][] = [];
  const rowLabels: string[] = [];
  for (let r = 0; r < rows; r++) {
    z.push(Array.from({ length: cols }, (_, c) => values[r * cols + c]!));
    rowLabels.push(unravel(r).map((i, d) => axisLabel(s.dims[d]!, i, s)).join(' '));
  }
  const last = s.dims[s.dims.length - 1]!;
  const colLabels = Array.from({ length: cols }, (_, c) => axisLabel(last, c, s));
  return { z, rowLabels, colLabels, indexOf: (row, col) => [...unravel(row), col] };
}

/** A heatmap of one grid, diverging around 0 (blue up, red down), cells labelled with their value (the caller titles it). */
export function sweepHeatmap(grid: SweepGrid, theme: ThemeColors): Plot {
  const base = chartLayout(theme);
  const max = Math.max(1e-9, ...grid.z.flat().map((v) => (Number.isFinite(v) ? Math.abs(v) : 0)));
  const rows = grid.z.length;
  const cols = grid.z[0]?.length ?? 0;
  const ys = Array.from({ length: rows }, (_, i) => i);
  const xs = Array.from({ length: cols }, (_, i) => i);
  return {
    data: [
      {
        type: 'heatmap',
        z: grid.z,
        x: xs,
        y: ys,
        text: grid.z.map((row) => row.map((v) => (Number.isFinite(v) ? v.toFixed(2) : ''))),
        texttemplate: cols <= 24 && rows <= 48 ? '%{text}' : undefined,
        customdata: grid.z.map((row, r) => row.map((_, c) => `${grid.rowLabels[r]} · ${grid.colLabels[c]}`)),
        hovertemplate: '%{customdata}<br>%{z:.4f}<extra></extra>',
        zmin: -max,
        zmax: max,
        colorscale: [
          [0, '#d7301f'],
          [0.5, theme.background],
          [1, theme.accent],
        ],
        colorbar: { thickness: 10, outlinewidth: 0 },
        xgap: 1,
        ygap: 1,
      },
    ],
    layout: {
      ...base,
      xaxis: { ...(base.xaxis as object), tickvals: xs, ticktext: grid.colLabels, side: 'top', tickangle: cols > 8 ? -45 : 0 },
      yaxis: { ...(base.yaxis as object), tickvals: ys, ticktext: grid.rowLabels, autorange: 'reversed' },
      height: Math.max(200, 22 * rows + 110),
      margin: { l: 8, r: 8, t: 8, b: 8 },
    },
  };
}
