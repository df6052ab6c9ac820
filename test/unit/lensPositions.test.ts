// The lens panel's window of positions and the merging of results of some positions (src/shared/lensPositions.ts),
// and how the heatmap draws a first part (webview/lens/plot.ts).
import assert from 'node:assert/strict';
import { lensWindow, mergeLensParts } from '../../src/shared/lensPositions';
import { lensHeatmap, lensMatrices } from '../../webview/lens/plot';
import type { LensView } from '../../src/shared/analysisProtocol';
import type { ThemeColors } from '../../webview/common/theme';

const cell = (id: number) => [{ id, text: `t${id}`, prob: 0.5, logit: 1 }];

describe('lens positions', () => {
  it('the window ends at the last position, or holds the focus; never past the prompt', () => {
    assert.deepEqual(lensWindow(64, 16), { start: 48, end: 63 });
    assert.deepEqual(lensWindow(64, 16, 3), { start: 0, end: 15 });
    assert.deepEqual(lensWindow(64, 16, 40), { start: 25, end: 40 });
    assert.deepEqual(lensWindow(10, 16), { start: 0, end: 9 });
    assert.deepEqual(lensWindow(10, 16, 99), { start: 0, end: 9 });
    assert.deepEqual(lensWindow(1, 0), { start: 0, end: 0 });
  });

  it('parts of complementary positions merge into the whole, in position order; missing cells are empty', () => {
    const a = { top: [[cell(3), cell(4)]], targets: [[[{ id: 1, prob: 0.1, rank: 2 }], [{ id: 1, prob: 0.2, rank: 1 }]]], positions: [3, 4], labels: ['x'] };
    const b = { top: [[cell(0), cell(2), cell(1)]], targets: [[[{ id: 1, prob: 0, rank: 0 }], [{ id: 1, prob: 2, rank: 2 }], [{ id: 1, prob: 1, rank: 1 }]]], positions: [0, 2, 1], labels: ['x'] };
    const whole = mergeLensParts([a, b], 5);
    assert.deepEqual(whole.top[0]!.map((c) => c[0]!.id), [0, 1, 2, 3, 4]);
    assert.deepEqual(whole.targets![0]!.map((c) => c[0]!.rank), [0, 1, 2, 2, 1]);
    assert.equal('positions' in whole, false);
    assert.deepEqual(whole.labels, ['x']);
    const first = mergeLensParts([a], 5);
    assert.deepEqual(first.top[0]!.map((c) => c.length), [0, 0, 0, 1, 1]);
  });

  it('a first part draws its missing cells without colour or text, and a window pans over the rest', () => {
    const v: LensView = {
      labels: ['0_pre', 'final_post'],
      tokens: [0, 1, 2, 3].map((id) => ({ id, text: `t${id}` })),
      top: [0, 1].map(() => [[], [], cell(2), cell(3)]),
      targets: [],
      targetStats: [],
      stream: 'pre',
      partial: true,
    };
    const m = lensMatrices(v, { kind: 'top' });
    assert.deepEqual(m.z[0], [null, null, 0.5, 0.5]);
    assert.match(m.hover[0]![0]!, /decoding…/);
    const theme = { fontSize: 13, foreground: '#000', background: '#fff', accent: '#00f' } as unknown as ThemeColors;
    const windowed = lensHeatmap(v, { kind: 'top' }, theme, 3, 8, { start: 2, end: 3 }).layout as { xaxis: { range?: number[] }; dragmode?: string };
    assert.deepEqual(windowed.xaxis.range, [1.5, 3.5]);
    assert.equal(windowed.dragmode, 'pan');
    const all = lensHeatmap(v, { kind: 'top' }, theme, 3, 8, { start: 0, end: 3 }).layout as { xaxis: { range?: number[] }; dragmode?: string };
    assert.equal(all.xaxis.range, undefined, 'every position fits: no window');
  });
});
