import * as assert from 'node:assert/strict';
import { topTokensChart } from '../../webview/common/chart';
import { chartLayout, themeKindFromClasses } from '../../webview/common/theme';
import type { ThemeColors } from '../../webview/common/theme';
import { displayToken, formatProb } from '../../src/shared/tokenText';

const dark: ThemeColors = { kind: 'dark', foreground: '#ccc', background: '#111', accent: '#39f', muted: '#999', grid: '#333', border: '#444', fontFamily: 'x', fontSize: 13 };

describe('webview token display', () => {
  it('makes whitespace visible and never returns an empty label', () => {
    assert.equal(displayToken(' the'), '·the');
    assert.equal(displayToken('\n\t'), '↵→');
    assert.equal(displayToken(''), '∅');
    assert.equal(displayToken('<script>'), '<script>', 'markup is kept as text (the DOM code uses textContent)');
  });
  it('formats probabilities', () => {
    assert.equal(formatProb(0.5), '50.0%');
    assert.equal(formatProb(0.0123), '1.23%');
    assert.equal(formatProb(0.00047), '0.047%');
    assert.equal(formatProb(1e-7), '1.0e-7');
    assert.equal(formatProb(Number.NaN), '–');
  });
});

describe('webview theme', () => {
  it('reads the theme kind from VS Code body classes', () => {
    assert.equal(themeKindFromClasses(['vscode-light']), 'light');
    assert.equal(themeKindFromClasses(['vscode-dark']), 'dark');
    assert.equal(themeKindFromClasses(['vscode-high-contrast']), 'high-contrast');
    assert.equal(themeKindFromClasses(['vscode-high-contrast', 'vscode-high-contrast-light']), 'high-contrast-light');
  });
  it('builds a transparent plotly layout in the theme colours', () => {
    const l = chartLayout(dark) as { paper_bgcolor: string; font: { color: string }; xaxis: { gridcolor: string } };
    assert.equal(l.paper_bgcolor, 'rgba(0,0,0,0)');
    assert.equal(l.font.color, '#ccc');
    assert.equal(l.xaxis.gridcolor, '#333');
  });
});

describe('webview top-token chart', () => {
  it('sorts bars by probability, keeps labels unique and scales the axis to the top bar', () => {
    const chart = topTokensChart(
      [
        { id: 5, text: ' a', prob: 0.1, logit: 1 },
        { id: 7, text: ' b', prob: 0.6, logit: 3 },
        { id: 9, text: ' a', prob: 0.05, logit: 0.5 },
      ],
      dark,
    );
    const bar = chart.data[0] as { x: number[]; y: string[]; marker: { color: string } };
    assert.deepEqual(bar.x, [0.6, 0.1, 0.05]);
    assert.deepEqual(bar.y, ['·b', '·a', '·a (#9)']);
    assert.equal(bar.marker.color, '#39f');
    const xaxis = chart.layout.xaxis as { range: number[] };
    assert.ok(Math.abs(xaxis.range[1]! - 0.66) < 1e-9);
  });
});
