// Pure parts of the views: inline inspection (surprisal buckets, token lookup, hover markdown), plotly text
// escaping and CSV, the logit lens matrices and export, attention patterns / head ranking / arc geometry,
// DLA parts, and validation of what the panels send to the host.
import assert from 'node:assert/strict';
import { escapeMarkdown, hoverMarkdown, lensLineMarkdown, lensUnavailableMarkdown, surprisalBucket, tokenAt, SURPRISAL_BUCKETS } from '../../src/host/editor/inspectModel';
import { validateAnalysisParams } from '../../src/shared/analysisProtocol';
import type { InspectResult } from '../../src/shared/protocol';
import type { DlaView, LensView } from '../../src/shared/analysisProtocol';
import { csv, csvField, plotToken, plotlyEscape, tokenTicks } from '../../webview/common/plotText';
import type { ThemeColors } from '../../webview/common/theme';
import { HOVER_TOKENS_MAX_T, PatternCache, arcLayout, headGrid, patternHeatmap, patternMatrix, rankHeads } from '../../webview/attention/plot';
import { dlaCsv, dlaParts, partsSum, targetLabel } from '../../webview/dla/plot';
import { cellLabel, lensCsv, lensHeatmap, lensMatrices, trajectoryChart } from '../../webview/lens/plot';
import { parseTargets } from '../../webview/common/tokenInput';

const THEME: ThemeColors = { kind: 'dark', foreground: '#ccc', background: '#1f1f1f', accent: '#3794ff', muted: '#999', grid: '#333', border: '#444', fontFamily: 'sans', fontSize: 13 };
const EVIL = '<img src=x onerror=alert(1)>';

describe('inline inspection (pure)', function () {
  it('buckets surprisal by bits; the first token has none', function () {
    assert.equal(surprisalBucket(null), -1);
    assert.equal(surprisalBucket(0.2), 0);
    assert.equal(surprisalBucket(1), 1);
    assert.equal(surprisalBucket(5.9), 2);
    assert.equal(surprisalBucket(7), 3);
    assert.equal(surprisalBucket(25), SURPRISAL_BUCKETS - 1);
    assert.equal(surprisalBucket(Infinity), SURPRISAL_BUCKETS - 1);
  });

  it('finds the token under an offset, skipping empty spans and taking the first of a shared span', function () {
    const spans: Array<[number, number]> = [[0, 3], [3, 3], [3, 7], [7, 9], [7, 9], [9, 12]];
    assert.equal(tokenAt(spans, 0), 0);
    assert.equal(tokenAt(spans, 2), 0);
    assert.equal(tokenAt(spans, 3), 2);
    assert.equal(tokenAt(spans, 8), 3);
    assert.equal(tokenAt(spans, 11), 5);
    assert.equal(tokenAt(spans, 12), -1);
    assert.equal(tokenAt([], 0), -1);
  });

  it('escapes markdown so token text is always literal', function () {
    assert.equal(escapeMarkdown('*a* [b](c) <img>'), '\\*a\\* \\[b\\]\\(c\\) \\<img\\>');
    assert.equal(escapeMarkdown('plain words'), 'plain words');
  });

  it('hover: actual probability and rank, top predictions, one-line lens, token text escaped', function () {
    const r: InspectResult = {
      prompt: { ids: [10, 11, 12], texts: ['A', EVIL, ' c'], spans: [[0, 1], [1, 29], [29, 31]] },
      surprisal: [null, 3.5, 0.5],
      actual: [null, { prob: 0.0884, rank: 2 }, { prob: 0.7, rank: 0 }],
      top: [[{ id: 5, text: ' the', prob: 0.5, logit: 3 }], [{ id: 12, text: ' c', prob: 0.7, logit: 4 }, { id: 6, text: '**', prob: 0.1, logit: 1 }], []],
    };
    // The lens of position 1 alone, as `analysis/lens` with `positions: [1]` and top-1 returns it.
    const lens = { labels: ['0_pre', 'final_post'], top: [[[{ id: 2, text: '<b>', prob: 0.2 }]], [[{ id: 12, text: ' c', prob: 0.7 }]]] };
    const md = hoverMarkdown(r, 1, lensLineMarkdown(lens));
    assert.match(md, /token 1 “\\<img·src\\=x·onerror\\=alert\\\(1\\\)\\>” \(id 11\)/);
    assert.match(md, /p = 8\.84% · rank 3 · surprisal 3\.50 bits/);
    assert.match(md, /\| 1 \| “·c” \| 70\.0% \|/);
    assert.match(md, /\| 2 \| “\\\*\\\*” \| 10\.0% \|/);
    assert.match(md, /Next in the prompt: “·c” \(p = 70\.0%, rank 1\)/);
    assert.match(md, /Logit lens \(top token per layer\): 0\\_pre “\\<b\\>” → final\\_post “·c”\n?$/);
    assert.ok(!/(^|[^\\])</.test(md), 'every < is escaped');
    const failed = hoverMarkdown(r, 1, lensUnavailableMarkdown('Engine <stopped>'));
    assert.match(failed, /Logit lens: not available \(Engine \\<stopped\\>\)$/);
    assert.ok(!/(^|[^\\])</.test(failed), 'the reason is escaped too');
    assert.match(hoverMarkdown(r, 0, ''), /First token: nothing predicts it/);
  });
});

describe('plot text and CSV', function () {
  it('escapes tags and entities for plotly, shows whitespace', function () {
    assert.equal(plotlyEscape('</script><b>&'), '&#60;/script&#62;&#60;b&#62;&#38;');
    assert.equal(plotToken(' a\n'), '·a↵');
    const t = tokenTicks([{ text: EVIL }, { text: 'ok' }], 6);
    assert.deepEqual(t.tickvals, [0, 1]);
    assert.equal(t.ticktext[0], '&#60;img&#60;…'.replace('&#60;img&#60;', '&#60;img·'));
  });

  it('quotes CSV fields and neutralises formulas', function () {
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('=SUM(A1)'), "'=SUM(A1)");
    assert.equal(csvField(0.5), '0.5');
    assert.equal(csvField(NaN), '');
    assert.equal(csv([['a', 1], ['b\n', 2]]), 'a,1\n"b\n",2\n');
  });
});

function lensView(): LensView {
  const tok = (id: number, text: string, prob: number) => ({ id, text, prob, logit: Math.log(prob) });
  return {
    labels: ['0_pre', '1_pre', 'final_post'],
    tokens: [{ id: 1, text: 'The' }, { id: 2, text: EVIL }],
    top: [
      [[tok(3, ' a', 0.2), tok(4, ' b', 0.1)], [tok(5, '<i>', 0.3), tok(3, ' a', 0.2)]],
      [[tok(3, ' a', 0.4), tok(4, ' b', 0.2)], [tok(6, ' c', 0.5), tok(3, ' a', 0.1)]],
      [[tok(4, ' b', 0.6), tok(3, ' a', 0.3)], [tok(6, ' c', 0.9), tok(3, ' a', 0.05)]],
    ],
    targets: [{ id: 6, text: ' c' }],
    targetStats: [[[{ prob: 0.01, rank: 40 }], [{ prob: 0.05, rank: 7 }]], [[{ prob: 0.02, rank: 20 }], [{ prob: 0.5, rank: 0 }]], [[{ prob: 0.03, rank: 9 }], [{ prob: 0.9, rank: 0 }]]],
    stream: 'pre',
  };
}

describe('logit lens view model', function () {
  it('heatmap matrices: top probability or a target probability, top token text escaped', function () {
    const v = lensView();
    const top = lensMatrices(v, { kind: 'top' });
    assert.deepEqual(top.z, [[0.2, 0.3], [0.4, 0.5], [0.6, 0.9]]);
    assert.deepEqual(top.text[0], ['·a', '&#60;i&#62;']);
    const tgt = lensMatrices(v, { kind: 'target', index: 0 });
    assert.deepEqual(tgt.z, [[0.01, 0.05], [0.02, 0.5], [0.03, 0.9]]);
    assert.match(tgt.hover[1]![1]!, /target ·c: 50\.0%, rank 1/);
    assert.match(top.hover[0]![1]!, /position 1 \(&#60;img·src=x·onerror=alert\(1\)&#62;\)/);
    assert.ok(!top.hover.flat().some((h) => h.includes('<img') || h.includes('<i>')));
  });

  it('heatmap plot: one row per layer, numeric axes with token tick labels, focus outline', function () {
    const p = lensHeatmap(lensView(), { kind: 'top' }, THEME, 1);
    const trace = p.data[0]!;
    assert.deepEqual(trace.x, [0, 1]);
    assert.deepEqual(trace.y, [0, 1, 2]);
    const shapes = p.layout.shapes as Array<{ x0: number; x1: number }>;
    assert.equal(shapes.length, 1);
    assert.deepEqual([shapes[0]!.x0, shapes[0]!.x1], [0.5, 1.5]);
    assert.equal(lensHeatmap(lensView(), { kind: 'top' }, THEME).layout.shapes instanceof Array && (lensHeatmap(lensView(), { kind: 'top' }, THEME).layout.shapes as unknown[]).length, 0);
  });

  it('cell labels are cut to the cell width, then escaped; no text when nothing fits', function () {
    assert.equal(cellLabel(' Mary', 8), '·Mary');
    assert.equal(cellLabel(' Elizabeth', 5), '·Eli…');
    assert.equal(cellLabel('<script>', 3), '&#60;s…');
    assert.equal(cellLabel('<b>', 3), '&#60;b&#62;');
    assert.equal(cellLabel('abc', 0), '');
    const narrow = lensHeatmap(lensView(), { kind: 'top' }, THEME, undefined, 1);
    assert.equal(narrow.data[0]!.texttemplate, '');
    const wide = lensHeatmap(lensView(), { kind: 'top' }, THEME, undefined, 4);
    assert.deepEqual((wide.data[0]!.text as string[][])[0], ['·a', '&#60;i&#62;']);
  });

  it('trajectories: probability and rank (1 = top) per layer at a position', function () {
    const p = trajectoryChart(lensView(), 1, THEME);
    assert.equal(p.data.length, 2);
    assert.deepEqual(p.data[0]!.y, [0.05, 0.5, 0.9]);
    assert.deepEqual(p.data[1]!.y, [8, 1, 1]);
  });

  it('CSV: a header and one row per layer and position', function () {
    const lines = lensCsv(lensView()).trimEnd().split('\n');
    assert.equal(lines[0], 'layer,label,position,token,top1,top1_prob,top2,top2_prob,p(·c),rank(·c)');
    assert.equal(lines.length, 1 + 3 * 2);
    assert.equal(lines[1], '0,0_pre,0,The, a,0.2, b,0.1,0.01,41');
    assert.equal(lines[6], `2,final_post,1,${EVIL}, c,0.9, a,0.05,0.9,1`);
  });

  it('targets: words get a leading space, =text is exact, blanks dropped', function () {
    assert.deepEqual(parseTargets('Mary, John ,, =Paris,= x'), [' Mary', ' John', 'Paris', ' x']);
    assert.deepEqual(parseTargets(''), []);
  });
});

describe('attention view model', function () {
  // 1 layer, 2 heads, 3 tokens. Head 0: previous-token; head 1: all on token 0. Weights exact in float32.
  const v = {
    tokens: [{ id: 1, text: 'a' }, { id: 2, text: 'b' }, { id: 3, text: 'c' }],
    patterns: [Float32Array.from([1, 0, 0, 1, 0, 0, 0, 1, 0, /* head 1 */ 1, 0, 0, 1, 0, 0, 0.5, 0.0625, 0.4375])],
  };

  it('slices one head as [query][key]', function () {
    assert.deepEqual(patternMatrix(v, 0, 0), [[1, 0, 0], [1, 0, 0], [0, 1, 0]]);
    assert.deepEqual(patternMatrix(v, 0, 1)[2], [0.5, 0.0625, 0.4375]);
    assert.throws(() => patternMatrix(v, 0, 2), RangeError);
    assert.throws(() => patternMatrix(v, 1, 0), RangeError);
  });

  it('ranks heads by score, best first, ties by layer then head', function () {
    const ranked = rankHeads([[0.1, 0.9], [0.9, 0.3]]);
    assert.deepEqual(ranked.map((r) => r.label), ['L0H1', 'L1H0', 'L1H1', 'L0H0']);
    assert.equal(rankHeads([[0.1, 0.9]], 1).length, 1);
    const grid = headGrid([[0.1, 0.9], [0.9, 0.3]], 'induction', THEME, { layer: 1, head: 0 });
    assert.deepEqual((grid.data[0]!.text as string[][])[0], ['0.10', '0.90']);
  });

  it('a layer not scored yet (an empty row) is drawn blank and not ranked; NaN scores are not ranked', function () {
    const grid = headGrid([[], [0.9, 0.3]], 'induction', THEME);
    assert.deepEqual(grid.data[0]!.z, [[NaN, NaN], [0.9, 0.3]]);
    assert.deepEqual((grid.data[0]!.text as string[][])[0], ['', '']);
    assert.deepEqual(rankHeads([[], [0.9, NaN]]).map((r) => r.label), ['L1H0']);
  });

  it('holds the layers it was sent within its budget, least recently used dropped, the newest always kept', function () {
    const layer = (n: number) => new Float32Array(n);
    const c = new PatternCache(100 * 4);
    c.set(0, layer(40));
    c.set(1, layer(40));
    assert.deepEqual(c.held(), [0, 1]);
    c.get(0); // used: now the newest
    c.set(2, layer(40));
    assert.deepEqual(c.held(), [0, 2]);
    c.set(3, layer(200));
    assert.deepEqual(c.held(), [3], 'over budget alone, still kept');
    assert.ok(c.has(3) && !c.has(0));
    c.clear();
    assert.deepEqual(c.held(), []);
  });

  it('a long prompt\'s heatmap hovers without a string per cell', function () {
    const T = HOVER_TOKENS_MAX_T + 1;
    const long = { tokens: Array.from({ length: T }, (_, i) => ({ id: i, text: `t${i}` })), patterns: [new Float32Array(T * T)] };
    const trace = patternHeatmap(long, 0, 0, THEME).data[0]!;
    assert.equal(trace.customdata, undefined);
    assert.match(String(trace.hovertemplate), /query %\{y\} ← key %\{x\}/);
    assert.equal((patternHeatmap(v, 0, 0, THEME).data[0]!.customdata as string[][]).length, 3);
  });

  it('arcs: one per key -> earlier-query weight above the threshold, no self arcs, geometry from positions', function () {
    const g = arcLayout(v, 0, [0, 1], 0.1, 50);
    assert.deepEqual(g.xs, [25, 75, 125]);
    const keyed = g.arcs.map((a) => `${a.head}:${a.query}<-${a.key}`).sort();
    assert.deepEqual(keyed, ['0:1<-0', '0:2<-1', '1:1<-0', '1:2<-0']);
    const a = g.arcs.find((x) => x.head === 1 && x.query === 2)!;
    assert.equal(a.weight, 0.5);
    // From key x to query x at the baseline; the control point is higher for a longer span.
    assert.equal(a.d, `M 25 ${g.baseline} Q 75 ${g.baseline - 2 * Math.min(160, 50)} 125 ${g.baseline}`);
    assert.ok(g.arcs.every((x, i) => i === 0 || g.arcs[i - 1]!.weight <= x.weight), 'strongest drawn last');
  });
});

describe('DLA view model', function () {
  const v: DlaView = {
    position: 2, target: 7, baseline: 9, logit: 3.25, embed: 1, posEmbed: 0.25,
    heads: [[0.5, -0.25], [1, 0]], attn: [0.3, 1.1], attnBias: [0.05, 0.1], mlp: [-0.5, 0.75], constant: 0.05 - 0.3 + 0.3 - 0.05 - 0.1 - 0.1 + 0.2 + 0.05 - 0.05 + 0.05 - 0.05 - 0.1 + 0.05 - 0.05 + 0.15 + 0.05 - 0.15 + 0.1 - 0.15,
    total: 3.25, tokens: [], targetText: ' Mary', baselineText: EVIL,
  };

  it('parts: embeddings, each head, attention bias, MLP, constant; they sum as the engine says', function () {
    const parts = dlaParts(v);
    assert.deepEqual(parts.map((p) => p.label), ['embed', 'pos_embed', 'L0H0', 'L0H1', 'L0 attn bias', 'L0 MLP', 'L1H0', 'L1H1', 'L1 attn bias', 'L1 MLP', 'constant (norm bias, unembed bias)']);
    const expected = 1 + 0.25 + 0.5 - 0.25 + 0.05 - 0.5 + 1 + 0 + 0.1 + 0.75 + v.constant;
    assert.ok(Math.abs(partsSum(v) - expected) < 1e-12);
    assert.equal(targetLabel(v), `logit(“·Mary”) − logit(“${EVIL.replace(/ /g, '·')}”)`);
    const lines = dlaCsv(v).trimEnd().split('\n');
    assert.equal(lines[0], 'part,group,layer,head,contribution');
    assert.equal(lines.at(-1), 'model logit,logit,,,3.25');
  });

  it('without per-head parts (Gemma-2) each layer attention output is one part', function () {
    const parts = dlaParts({ ...v, heads: null });
    assert.deepEqual(parts.filter((p) => p.group === 'attn').map((p) => p.value), [0.3, 1.1]);
    assert.equal(parts.filter((p) => p.group === 'head').length, 0);
  });
});

describe('analysis panel params are validated', function () {
  const ok = (m: string, p: unknown) => assert.doesNotThrow(() => validateAnalysisParams(m, p));
  const bad = (m: string, p: unknown, re: RegExp) => assert.throws(() => validateAnalysisParams(m, p), re);
  it('accepts well-formed requests', function () {
    ok('subject/get', {});
    ok('lens/run', { stream: 'mid', targets: [1, 2] });
    ok('dla/run', { target: 3, baseline: 4, position: 0 });
    ok('tokenize', { text: 'Mary' });
    ok('attention/run', {});
    ok('attention/run', { layer: 3 });
    ok('attention/layer', { layer: 0 });
    ok('export/save', { format: 'png', name: 'logit-lens', data: 'data:image/png;base64,AAAA' });
  });
  it('refuses malformed ones', function () {
    bad('lens/run', { stream: 'sideways', targets: [] }, /stream/);
    bad('lens/run', { stream: 'pre', targets: [1.5] }, /token id/);
    bad('lens/run', { stream: 'pre', targets: 'x' }, /targets/);
    bad('dla/run', { target: -1 }, /target/);
    bad('export/save', { format: 'exe', name: 'x', data: '' }, /format/);
    bad('export/save', { format: 'csv', name: '../../etc/passwd', data: '' }, /name/);
    bad('export/save', { format: 'png', name: 'x', data: 'javascript:alert(1)' }, /PNG/);
    bad('tokenize', [], /object/);
    bad('attention/run', { layer: -1 }, /layer/);
    bad('attention/layer', {}, /layer/);
    bad('attention/layer', { layer: 1.5 }, /layer/);
    bad('attention/layer', { layer: 2, pattern: [] }, /pattern/);
    bad('nope', {}, /unknown method/);
  });
});
