// The attention panel: one head's pattern over the prompt's tokens, the layers x heads grid of head-detector
// scores (on repeated random sequences, or on this prompt), and a token-to-token arc view of one head or of
// all heads of a layer. Clicking a token (chip, arc label, heatmap row) focuses it everywhere.
// Patterns come one layer at a time (issue #13: every layer at once is 576 MiB at T = 1024 on GPT-2 small): the
// layer on screen first, then every layer's head scores; another layer is asked for when the user picks it, and
// the panel keeps the last few layers' patterns it was sent (PatternCache).
import type { AnalysisState, AttentionView, HeadKind } from '../../src/shared/analysisProtocol';
import { displayToken } from '../../src/shared/tokenText';
import { AnalysisPage } from '../common/analysisPage';
import { byId, el } from '../common/dom';
import { csv } from '../common/plotText';
import { readTheme } from '../common/theme';
import type { ValueElement } from '../common/viewKit';
import { drawPlot, injectStyles, labelled, select } from '../common/viewKit';
import { HEAD_KIND_LABELS, PatternCache, arcLayout, headGrid, patternHeatmap, patternMatrix, rankHeads } from './plot';
import type { Patterns } from './plot';
import { errorText } from '../common/analysisPage';

const page = new AnalysisPage<AnalysisState & { allHeads?: boolean; scoresOn?: 'benchmark' | 'prompt' }>({
  run,
  redraw: draw,
  emptyHint: 'No prompt: open a prompt file and use the “Attention” CodeLens or the command “MechLens: Show Attention”.',
  plots: ['pattern', 'grid'],
});
const { rpc, state } = page;
let view: AttentionView | null = null;
let benchmark: Record<HeadKind, number[][]> | null = null;
/** Patterns kept for layer switches: 128 MiB (at T = 1024 on GPT-2 small, two layers; a short prompt's every layer). */
const patterns = new PatternCache(128 * 2 ** 20);
/** Counts the prompts shown: a layer's pattern asked for under an earlier one is dropped. */
let generation = 0;
let layerRequest = 0;
const SVG = 'http://www.w3.org/2000/svg';

function layout(): void {
  injectStyles();
  const bar = el('header', { class: 'views-toolbar' });
  bar.append(
    el('h1', {}, 'Attention'),
    el('span', { id: 'source', class: 'muted' }),
    labelled(
      'Layer',
      select('layer', 'Layer', [], (v) => showLayer(Number(v))),
    ),
    labelled(
      'Head',
      select('head', 'Head', [], (v) => {
        state.allHeads = v === 'all';
        if (v !== 'all') state.head = Number(v);
        page.save();
        draw();
      }),
    ),
    el('span', { class: 'spacer' }),
    page.exportButtons(
      'attention',
      () => byId('pattern'),
      () => {
        const layer = state.layer ?? 0;
        const head = state.head ?? 0;
        const src = patternsOf(layer);
        if (!view || !src) return undefined;
        const m = patternMatrix(src, layer, head);
        const rows: Array<Array<string | number>> = [['query', 'query_token', ...view.tokens.map((t, k) => `${k}:${t.text}`)]];
        m.forEach((row, q) => rows.push([q, view!.tokens[q]?.text ?? '', ...row]));
        return { json: JSON.stringify({ layer, head, tokens: view.tokens, pattern: m, scores: view.scores, benchmarkScores: benchmark }, null, 1), csv: csv(rows) };
      },
    ),
  );
  const gridBar = el('div', { class: 'views-toolbar' });
  gridBar.append(
    el('h2', {}, 'Head detectors'),
    select(
      'kind',
      'Detector',
      (Object.keys(HEAD_KIND_LABELS) as HeadKind[]).map((k) => [k, HEAD_KIND_LABELS[k]]),
      (v) => {
        state.kind = v as HeadKind;
        page.save();
        draw();
      },
    ),
    select(
      'scores-on',
      'Where the scores are measured',
      [
        ['benchmark', 'on repeated random tokens'],
        ['prompt', 'on this prompt'],
      ],
      (v) => {
        state.scoresOn = v === 'prompt' ? 'prompt' : 'benchmark';
        page.save();
        draw();
      },
    ),
  );
  const left = el('div', { class: 'plot' });
  left.append(el('h2', { id: 'pattern-title' }), el('div', { id: 'pattern', class: 'plot' }));
  const right = el('div', { class: 'plot' });
  right.append(gridBar, el('div', { id: 'grid', class: 'plot' }), el('p', { id: 'ranked', class: 'ranked muted' }));
  const row = el('div', { class: 'views-row' });
  row.append(left, right);
  byId('app').append(
    bar,
    el('p', { id: 'status', role: 'status', class: 'muted' }),
    el('section', { id: 'tokens', class: 'tokens', 'aria-label': 'Prompt tokens' }),
    row,
    el('h2', { id: 'arcs-title' }),
    el('div', { id: 'arcs', class: 'arcs' }),
  );
  (byId('kind') as ValueElement).value = state.kind ?? 'induction';
  (byId('scores-on') as ValueElement).value = state.scoresOn ?? 'benchmark';
}

function fillSelects(v: AttentionView): void {
  const layer = byId('layer') as ValueElement;
  layer.replaceChildren(...Array.from({ length: v.nLayers }, (_, l) => el('vscode-option', { value: String(l) }, `L${l}`)));
  const head = byId('head') as ValueElement;
  head.replaceChildren(...Array.from({ length: v.nHeads }, (_, h) => el('vscode-option', { value: String(h) }, `H${h}`)), el('vscode-option', { value: 'all' }, 'all heads (arcs)'));
  if (state.layer === undefined || state.layer >= v.nLayers) state.layer = 0;
  if (state.head === undefined || state.head >= v.nHeads) state.head = 0;
  layer.value = String(state.layer);
  head.value = state.allHeads ? 'all' : String(state.head);
}

/** The view's tokens with `layer`'s pattern, when the panel holds it. */
function patternsOf(layer: number): Patterns | undefined {
  const p = patterns.get(layer);
  if (!view || !p) return undefined;
  const list: Array<Float32Array | undefined> = [];
  list[layer] = p;
  return { tokens: view.tokens, patterns: list };
}

function summaryLine(v: AttentionView): string {
  return `${v.tokens.length} tokens · ${v.nLayers} layers × ${v.nHeads} heads · ${page.subject?.modelName ?? ''}. Click a token to focus it; click a cell of the grid to pick a head.`;
}

async function run(): Promise<void> {
  const subject = page.subject;
  if (!subject) return;
  await page.latest('Running…', async (isCurrent) => {
    const started = performance.now();
    const app = byId('app');
    delete app.dataset.attentionFirstPaintMs;
    const layer = Math.min(state.layer ?? 0, Math.max(0, subject.nLayers - 1));
    // The layer on screen arrives first (`attention/partial`) and is drawn at once; the reply adds every layer's scores.
    const v = await rpc.call(
      'attention/run',
      { layer },
      {
        notifications: {
          'attention/partial': (p) => {
            if (!isCurrent()) return;
            generation++;
            patterns.clear();
            const { first, ...rest } = p;
            view = rest;
            patterns.set(first.layer, first.pattern);
            fillSelects(rest);
            if (state.focus === undefined || state.focus >= rest.tokens.length) state.focus = rest.tokens.length - 1;
            draw();
            app.dataset.attentionFirstPaintMs = (performance.now() - started).toFixed(1);
            page.status(`Layer ${first.layer} shown; scoring every layer's heads on this prompt…`);
          },
          'attention/progress': ({ message }) => {
            if (isCurrent()) page.status(`Layer ${layer} shown; scoring every layer's heads on this prompt (${message})…`);
          },
        },
      },
    );
    if (!isCurrent()) return;
    view = v;
    draw();
    app.dataset.attentionFullMs = (performance.now() - started).toFixed(1);
    page.status(summaryLine(v));
    if (!benchmark) {
      benchmark = await rpc.call('heads/detect', {});
      draw();
    }
  });
}

/** Shows `layer`: drawn at once when the panel holds its pattern, else asked for (the head grid redraws meanwhile). */
function showLayer(layer: number): void {
  state.layer = layer;
  page.save();
  draw();
  if (!view || patterns.has(layer)) return;
  const gen = generation;
  const mine = ++layerRequest;
  page.status(`Computing the attention pattern of layer ${layer}…`);
  rpc.call('attention/layer', { layer }).then(
    (r) => {
      if (gen !== generation || mine !== layerRequest || !view) return;
      patterns.set(r.layer, r.pattern);
      if (state.layer === r.layer) draw();
      byId('app').dataset.layer = String(r.layer);
      page.status(summaryLine(view));
    },
    (err: unknown) => {
      if (mine === layerRequest) page.status(errorText(err), true);
    },
  );
}

function pickHead(layer: number, head: number): void {
  state.head = head;
  state.allHeads = false;
  (byId('layer') as ValueElement).value = String(layer);
  (byId('head') as ValueElement).value = String(head);
  showLayer(layer);
}

function draw(): void {
  if (!view) return;
  const v = view;
  const theme = readTheme();
  const layer = state.layer ?? 0;
  const head = state.head ?? 0;
  const pos = state.focus;
  page.tokenStrip(byId('tokens'), v.tokens, pos, (p) => page.focus(p));
  const src = patternsOf(layer);
  byId('pattern-title').textContent = `Pattern of L${layer}H${head} (rows: queries, columns: keys)${src ? '' : ': computing…'}`;
  if (src) {
    const heat = patternHeatmap(src, layer, head, theme, pos);
    const patternRoot = byId('pattern') as PlotlyEventTarget;
    void drawPlot(patternRoot, heat).then(() => {
      patternRoot.removeAllListeners?.('plotly_click');
      patternRoot.on('plotly_click', (e) => {
        const y = e.points[0]?.y;
        if (typeof y === 'number') page.focus(y);
      });
    });
  }
  const kind = state.kind ?? 'induction';
  const scores = state.scoresOn === 'prompt' || !benchmark ? v.scores[kind] : benchmark[kind];
  const grid = headGrid(scores, kind, theme, state.allHeads ? undefined : { layer, head });
  const gridRoot = byId('grid') as PlotlyEventTarget;
  void drawPlot(gridRoot, grid).then(() => {
    gridRoot.removeAllListeners?.('plotly_click');
    gridRoot.on('plotly_click', (e) => {
      const p = e.points[0];
      if (p && typeof p.x === 'number' && typeof p.y === 'number') pickHead(p.y, p.x);
    });
  });
  const ranked = rankHeads(scores, 5);
  const rankedNode = byId('ranked');
  rankedNode.textContent = `Top ${HEAD_KIND_LABELS[kind]} heads ${state.scoresOn === 'prompt' || !benchmark ? '(on this prompt)' : '(on repeated random tokens)'}: ${ranked.map((r) => `${r.label} ${r.score.toFixed(2)}`).join(', ')}`;
  rankedNode.dataset.ranked = ranked.map((r) => r.label).join(',');
  const source = state.scoresOn === 'prompt' || !benchmark ? v.scores : benchmark;
  for (const k of Object.keys(HEAD_KIND_LABELS) as HeadKind[]) rankedNode.setAttribute(`data-top-${k}`, rankHeads(source[k]).map((r) => r.label).join(','));
  if (src) drawArcs(src, layer, state.allHeads ? Array.from({ length: v.nHeads }, (_, h) => h) : [head], pos);
}

function drawArcs(v: Patterns, layer: number, heads: number[], focusPos: number | undefined): void {
  const g = arcLayout(v, layer, heads, 0.1);
  byId('arcs-title').textContent = `Arcs: ${heads.length === 1 ? `L${layer}H${heads[0]}` : `all heads of L${layer}`} (key → query, weight ≥ 0.1; thicker is stronger)`;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('width', String(g.width));
  svg.setAttribute('height', String(g.height));
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'Attention arcs between tokens');
  for (const a of g.arcs) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', a.d);
    path.setAttribute('stroke-width', String(0.5 + 3 * a.weight));
    path.setAttribute('stroke-opacity', String(Math.min(1, 0.15 + a.weight)));
    const hit = focusPos !== undefined && (a.query === focusPos || a.key === focusPos);
    if (hit) path.classList.add('focused');
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `H${a.head}: query ${a.query} attends to key ${a.key} with ${a.weight.toFixed(3)}`;
    path.append(title);
    svg.append(path);
  }
  v.tokens.forEach((t, i) => {
    const text = document.createElementNS(SVG, 'text');
    text.setAttribute('x', String(g.xs[i]));
    text.setAttribute('y', String(g.baseline + 16));
    text.setAttribute('text-anchor', 'middle');
    text.setAttribute('data-pos', String(i));
    const d = displayToken(t.text);
    text.textContent = d.length > 8 ? `${d.slice(0, 7)}…` : d;
    if (i === focusPos) text.classList.add('focused');
    text.addEventListener('click', () => page.focus(i));
    svg.append(text);
  });
  byId('arcs').replaceChildren(svg);
}

layout();
void page.start();
