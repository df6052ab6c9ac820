// The attribution graph's token labels under the canvas (webview/graph/tokenLabels.ts): flat when every label
// fits its column; otherwise slanted at one angle, thinned and cut so that no two labels' boxes overlap and none
// leaves the band, whatever the width; the last position always keeps its label.
import assert from 'node:assert/strict';
import { ellipsize, placeTokenLabels, polygonsOverlap, slantAngle } from '../../webview/graph/tokenLabels';
import type { LabelBand, LabelColumn } from '../../webview/graph/tokenLabels';

/** A monospace stand-in for canvas text: 6.2 px a character. */
const measure = (s: string) => Array.from(s).length * 6.2;
const TOKENS = ['<s>', ' Once', ' upon', ' a', ' time', ',', ' there', ' was', ' a', ' little', ' girl', ' named', ' Lily', '.', ' She', ' loved', ' to', ' play', ' outside', ' in', ' the', ' park', ' unbelievably_long_token_here'];

function columns(width: number, left = 46): LabelColumn[] {
  const w = (width - left - 14) / TOKENS.length;
  return TOKENS.map((text, pos) => ({ pos, x0: left + pos * w, x1: left + (pos + 1) * w, text }));
}
const band = (width: number): LabelBand => ({ left: 46, right: width, top: 400, height: 58, lineHeight: 13 });

describe('graph token labels', () => {
  it('flat and whole when every label fits its column', () => {
    const cols = columns(3000);
    const labels = placeTokenLabels(cols, measure, band(3000));
    assert.equal(labels.length, TOKENS.length);
    assert.ok(labels.every((l) => l.angle === 0));
    assert.equal(labels[1]!.text, ' Once');
    assert.equal(labels[TOKENS.length - 1]!.text, ' unbelievably…', 'long tokens are cut to 14 characters');
  });

  for (const width of [1400, 900, 600, 420, 300, 220]) {
    it(`at ${width} px: slanted, no two boxes overlap, all inside the band, the last token kept`, () => {
      const b = band(width);
      const labels = placeTokenLabels(columns(width), measure, b);
      assert.ok(labels.length >= 2, `${labels.length} labels`);
      assert.ok(labels.every((l) => l.angle > 0 && l.angle <= Math.PI / 2 + 1e-9));
      for (let i = 0; i < labels.length; i++) {
        for (const [x, y] of labels[i]!.corners) {
          assert.ok(x >= b.left - 8 && x <= b.right + 0.01 && y >= b.top && y <= b.top + b.height + 0.01, `label ${labels[i]!.pos} corner (${x}, ${y}) leaves the band`);
        }
        for (let j = i + 1; j < labels.length; j++) assert.ok(!polygonsOverlap(labels[i]!.corners, labels[j]!.corners), `labels ${labels[i]!.pos} and ${labels[j]!.pos} overlap at ${width} px`);
      }
      assert.equal(labels[labels.length - 1]!.pos, TOKENS.length - 1);
      assert.deepEqual(labels.map((l) => l.pos), [...labels.map((l) => l.pos)].sort((a, b2) => a - b2));
    });
  }

  it('the old fixed 36° slant overlapped at narrow widths (the regression this guards)', () => {
    // Two labels 12 px apart at 36°: their boxes (13 px lines) overlap; the placement steepens and thins instead.
    const at = (x: number): Array<[number, number]> => {
      const a = Math.PI / 5;
      const p = (u: number, v: number): [number, number] => [x + u * Math.cos(a) - v * Math.sin(a), u * Math.sin(a) + v * Math.cos(a)];
      return [p(0, 0), p(40, 0), p(40, 13), p(0, 13)];
    };
    assert.ok(polygonsOverlap(at(0), at(12)));
    assert.ok(!polygonsOverlap(at(0), at(40)));
    assert.equal(slantAngle(12, 13), Math.PI / 2);
    assert.ok(Math.abs(slantAngle(100, 13) - Math.PI / 5) < 1e-12);
  });

  it('ellipsize cuts to the width with …, or gives nothing when even one character does not fit', () => {
    assert.equal(ellipsize(' Mary', 100, measure), ' Mary');
    assert.equal(ellipsize(' little', 25, measure), ' li…');
    assert.equal(ellipsize(' little', 5, measure), '');
  });

  it('columns off screen (zoomed and panned) get no label', () => {
    const cols = columns(900).map((c) => ({ ...c, x0: c.x0 - 400, x1: c.x1 - 400 }));
    const labels = placeTokenLabels(cols, measure, band(900));
    assert.ok(labels.every((l) => l.x >= 46));
    assert.ok(!labels.some((l) => l.pos === 0));
  });
});
