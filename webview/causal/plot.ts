// The causal view's data -> plot and table pieces (no DOM; unit-tested): the IIA layer x position heatmap
// (the shared layers heatmap with token columns), DAS loss curves of the trained run and its controls, the
// DAS summary rows (IIA beside the rank and the controls), and the probes' accuracy beside their causal
// effect.
import type { DasResult, DasRun, IiaResult, ProbeResult } from '../../src/shared/causal';
import { displayToken } from '../../src/shared/tokenText';
import { layerHeadHeatmap, sequential } from '../common/chart';
import type { Plot } from '../common/chart';
import { chartLayout } from '../common/theme';
import type { ThemeColors } from '../common/theme';

export const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : 'n/a');

/** IIA of a variable's site at each layer x position (1 = the intervention always gives the counterfactual). */
export function sweepHeatmap(sweep: NonNullable<IiaResult['sweep']>, theme: ThemeColors): Plot {
  const labels = sweep.tokens.map((t, i) => `${i} ${displayToken(t)}`);
  const plot = layerHeadHeatmap(
    sweep.iia,
    theme,
    { zmin: 0, zmax: 1, colorscale: sequential(theme), hovertemplate: 'layer %{y}, position %{x}: IIA %{z:.2f}<extra></extra>', digits: 2 },
    [],
    { labels, title: `position (${sweep.hook})`, rows: sweep.layers },
  );
  return { ...plot, layout: { ...plot.layout, height: Math.max(200, 40 * sweep.layers.length + 140) } };
}

export interface DasRow {
  run: string;
  testIia: string;
  trainIia: string;
  finalLoss: string;
  orthogonality: string;
}

/** The trained run and its controls, one row each. */
export function dasRows(r: DasResult): DasRow[] {
  const row = (run: string, x: DasRun): DasRow => ({ run, testIia: pct(x.testIia), trainIia: pct(x.trainIia), finalLoss: (x.loss.at(-1) ?? NaN).toFixed(3), orthogonality: x.orthogonality.toExponential(1) });
  const rows = [row('trained model', r.trained)];
  if (r.controls) rows.push(row('control: random labels', r.controls.randomLabels), row(`control: random init (seed ${r.controls.randomInit.seed})`, r.controls.randomInit));
  return rows;
}

/** One line: what was searched, the rank beside the held-out IIA, chance. */
export function dasSummary(r: DasResult): string {
  const site = `${r.site.hook} at position${r.site.positions.length > 1 ? 's' : ''} ${r.site.positions.join(', ')}${r.site.heads ? `, heads ${r.site.heads.join(', ')}` : ''}`;
  return `${r.variable} at ${site}: rank ${r.rank} of ${r.site.dim}, held-out IIA ${pct(r.trained.testIia)} (${r.nTrain} train / ${r.nTest} held-out pairs; chance ${pct(r.chance)})`;
}

/** Training loss per step of the trained run and its controls. */
export function lossCurves(r: DasResult, theme: ThemeColors): Plot {
  const base = chartLayout(theme);
  const line = (name: string, x: DasRun, dash: string) => ({ type: 'scatter', mode: 'lines', name, x: x.loss.map((_, i) => i + 1), y: x.loss, line: { dash, width: 2 } });
  const data = [line('trained model', r.trained, 'solid')];
  if (r.controls) data.push(line('random labels', r.controls.randomLabels, 'dash'), line('random init', r.controls.randomInit, 'dot'));
  return {
    data,
    layout: {
      ...base,
      xaxis: { ...(base.xaxis as object), title: { text: 'training step' } },
      yaxis: { ...(base.yaxis as object), title: { text: 'loss (cross-entropy)' }, rangemode: 'tozero' },
      legend: { orientation: 'h', y: -0.3 },
      height: 280,
      margin: { l: 8, r: 16, t: 8, b: 8 },
    },
  };
}

export interface ProbeRow {
  site: string;
  accuracy: string;
  effect: string;
  random: string;
  taskAfter: string;
  steered: string;
  randomSteered: string;
}

export function probeRows(r: ProbeResult): ProbeRow[] {
  return r.layers.flatMap((l, i) =>
    r.positions.map((q, j) => ({
      site: `L${l} pos ${q}`,
      accuracy: pct(r.accuracy[i]![j]!),
      effect: r.ablationEffect[i]![j]!.toFixed(3),
      random: r.randomEffect[i]![j]!.toFixed(3),
      taskAfter: pct(r.taskAccuracyAblated[i]![j]!),
      steered: pct(r.steerFlip[i]![j]!),
      randomSteered: pct(r.randomSteerFlip[i]![j]!),
    })),
  );
}

/** Probe accuracy (bars, left axis) beside the causal effect of removing its directions (line, right axis). */
export function probeChart(r: ProbeResult, theme: ThemeColors): Plot {
  const base = chartLayout(theme);
  const x = r.layers.flatMap((l) => r.positions.map((q) => `L${l} pos ${q}`));
  return {
    data: [
      { type: 'bar', name: 'probe accuracy (held out)', x, y: r.accuracy.flat(), marker: { color: theme.accent } },
      { type: 'scatter', mode: 'lines+markers', name: 'Δ log p(target), probe directions removed', x, y: r.ablationEffect.flat(), yaxis: 'y2' },
      { type: 'scatter', mode: 'lines+markers', name: 'Δ log p(target), random directions removed', x, y: r.randomEffect.flat(), yaxis: 'y2', line: { dash: 'dot' } },
    ],
    layout: {
      ...base,
      yaxis: { ...(base.yaxis as object), title: { text: 'accuracy' }, range: [0, 1], tickformat: '.0%' },
      yaxis2: { ...(base.yaxis as object), title: { text: 'Δ log p' }, overlaying: 'y', side: 'right' },
      legend: { orientation: 'h', y: -0.3 },
      height: 300,
      margin: { l: 8, r: 8, t: 8, b: 8 },
    },
  };
}
