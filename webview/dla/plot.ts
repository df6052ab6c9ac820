// Direct logit attribution view, pure data -> plot (unit-tested): every part of the final residual stream
// (embeddings, each head, each attention bias, each MLP, the constant) with its direct contribution to the
// target logit (or logit difference), the layers x heads heatmap, the bars of the other parts, and the check
// that the parts sum to the model's logit.
import type { DlaView } from '../../src/shared/analysisProtocol';
import { csv, plotlyEscape } from '../common/plotText';
import { displayToken } from '../../src/shared/tokenText';
import type { ThemeColors } from '../common/theme';
import { chartLayout } from '../common/theme';
import { layerHeadHeatmap } from '../common/chart';
import type { Plot } from '../common/chart';

export interface DlaPart {
  label: string;
  group: 'embed' | 'head' | 'attn' | 'attn_bias' | 'mlp' | 'constant';
  layer?: number;
  head?: number;
  value: number;
}

/** The additive parts: per-head contributions when the model has them, else each layer's attention output. */
export function dlaParts(v: DlaView): DlaPart[] {
  const parts: DlaPart[] = [{ label: 'embed', group: 'embed', value: v.embed }];
  if (v.posEmbed !== 0) parts.push({ label: 'pos_embed', group: 'embed', value: v.posEmbed });
  v.mlp.forEach((m, l) => {
    if (v.heads) {
      v.heads[l]?.forEach((value, h) => parts.push({ label: `L${l}H${h}`, group: 'head', layer: l, head: h, value }));
      parts.push({ label: `L${l} attn bias`, group: 'attn_bias', layer: l, value: v.attnBias[l] ?? 0 });
    } else {
      parts.push({ label: `L${l} attn`, group: 'attn', layer: l, value: v.attn[l] ?? 0 });
    }
    parts.push({ label: `L${l} MLP`, group: 'mlp', layer: l, value: m });
  });
  parts.push({ label: 'constant (norm bias, unembed bias)', group: 'constant', value: v.constant });
  return parts;
}

/** Sum of the parts, in float64. Equals `v.logit` up to float32 rounding (the engine tests it). */
export function partsSum(v: DlaView): number {
  return dlaParts(v).reduce((a, p) => a + p.value, 0);
}

export function targetLabel(v: DlaView): string {
  const t = displayToken(v.targetText);
  return v.baseline === undefined ? `logit(“${t}”)` : `logit(“${t}”) − logit(“${displayToken(v.baselineText ?? '')}”)`;
}

function diverging(theme: ThemeColors): Array<[number, string]> {
  const neg = theme.kind === 'light' || theme.kind === 'high-contrast-light' ? '#c72e0f' : '#f14c4c';
  return [
    [0, neg],
    [0.5, theme.background],
    [1, theme.accent],
  ];
}

export function headHeatmap(v: DlaView, theme: ThemeColors): Plot | undefined {
  if (!v.heads) return undefined;
  const m = Math.max(1e-6, ...v.heads.flat().map(Math.abs));
  return layerHeadHeatmap(v.heads, theme, { zmin: -m, zmax: m, colorscale: diverging(theme), hovertemplate: 'L%{y}H%{x}: %{z:.4f}<extra></extra>' });
}

/** Bars of the parts that are not heads: embeddings, per-layer MLP (and attention bias or output), constant. */
export function otherPartsBars(v: DlaView, theme: ThemeColors): Plot {
  const base = chartLayout(theme);
  const parts = dlaParts(v).filter((p) => p.group !== 'head');
  const neg = theme.kind === 'light' || theme.kind === 'high-contrast-light' ? '#c72e0f' : '#f14c4c';
  return {
    data: [
      {
        type: 'bar',
        orientation: 'h',
        // The axis says 'constant'; the hover says what it holds (the long label took a narrow panel's width).
        y: parts.map((p) => plotlyEscape(p.group === 'constant' ? 'constant' : p.label)),
        customdata: parts.map((p) => plotlyEscape(p.label)),
        x: parts.map((p) => p.value),
        text: parts.map((p) => p.value.toFixed(3)),
        textposition: 'auto',
        marker: { color: parts.map((p) => (p.value < 0 ? neg : p.group === 'mlp' ? theme.accent : theme.muted)) },
        hovertemplate: '%{customdata}: %{x:.4f}<extra></extra>',
      },
    ],
    layout: {
      ...base,
      yaxis: { ...(base.yaxis as object), type: 'category', autorange: 'reversed' },
      xaxis: { ...(base.xaxis as object), title: { text: `direct contribution<br>to ${plotlyEscape(targetLabel(v))}` } },
      height: Math.max(200, 24 * parts.length + 80),
      margin: { l: 8, r: 8, t: 8, b: 8 },
    },
  };
}

export function dlaCsv(v: DlaView): string {
  const rows: Array<Array<string | number>> = [['part', 'group', 'layer', 'head', 'contribution']];
  for (const p of dlaParts(v)) rows.push([p.label, p.group, p.layer ?? '', p.head ?? '', p.value]);
  rows.push(['sum of parts', 'total', '', '', partsSum(v)], ['model logit', 'logit', '', '', v.logit]);
  return csv(rows);
}

export function dlaJson(v: DlaView): string {
  return JSON.stringify({ ...v, parts: dlaParts(v), sumOfParts: partsSum(v) }, null, 1);
}
