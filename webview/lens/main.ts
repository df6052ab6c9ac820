// The logit lens panel: a layers x positions heatmap of each residual stream's top token (text in the
// cells, probability as colour, top-k on hover), target tokens picked by typing with their probability
// and rank trajectories across layers, a pre/mid/post stream switch, and PNG/SVG/JSON/CSV export.
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { LensStream, LensView, TokenView } from '../../src/shared/analysisProtocol';
import { displayToken } from '../../src/shared/tokenText';
import { AnalysisPage } from '../common/analysisPage';
import { byId, el } from '../common/dom';
import { readTheme } from '../common/theme';
import { parseTargets } from '../common/tokenInput';
import type { ValueElement } from '../common/viewKit';
import { drawPlot, injectStyles, labelled, select } from '../common/viewKit';
import type { LensColour } from './plot';
import { lensCsv, lensHeatmap, lensJson, trajectoryChart } from './plot';
import { MIN_LENS_CELL_PX, lensWindow } from '../../src/shared/lensPositions';

const page = new AnalysisPage({
  run,
  redraw: () => void draw(),
  emptyHint: 'No prompt: open a prompt file and use the “MechLens: Logit lens” CodeLens or the command “MechLens: Show Logit Lens”.',
  plots: ['heatmap', 'trajectory'],
});
const { rpc, state } = page;
let view: LensView | null = null;
let colour: LensColour = { kind: 'top' };

function layout(): void {
  injectStyles();
  const app = byId('app');
  const bar = el('header', { class: 'views-toolbar' });
  const stream = select(
    'stream',
    'Residual stream read at each layer',
    [
      ['pre', 'resid pre'],
      ['mid', 'resid mid'],
      ['post', 'resid post'],
    ],
    (v) => {
      state.stream = v as LensStream;
      page.save();
      void run();
    },
  );
  const targets = el('vscode-textfield', { id: 'targets', placeholder: 'target tokens, e.g. Mary, John', title: 'Comma-separated; each gets a leading space; =text uses text exactly' }) as ValueElement;
  targets.addEventListener('change', () => {
    state.targets = targets.value;
    page.save();
    void run();
  });
  const colourSel = select('colour', 'What the colour shows', [], (v) => {
    colour = v === 'top' ? { kind: 'top' } : { kind: 'target', index: Number(v) };
    draw();
  });
  bar.append(
    el('h1', {}, 'Logit lens'),
    el('span', { id: 'source', class: 'muted' }),
    labelled('Stream', stream),
    labelled('Targets', targets),
    labelled('Colour', colourSel),
    el('span', { class: 'spacer' }),
    page.exportButtons(
      'logit-lens',
      () => byId('heatmap'),
      () => (view ? { json: lensJson(view), csv: lensCsv(view) } : undefined),
    ),
  );
  app.append(
    bar,
    el('p', { id: 'status', role: 'status', class: 'muted' }),
    el('section', { id: 'tokens', class: 'tokens', 'aria-label': 'Prompt tokens' }),
    el('div', { id: 'heatmap', class: 'plot' }),
    el('h2', { id: 'trajectory-title' }),
    el('div', { id: 'trajectory', class: 'plot' }),
  );
  stream.value = state.stream ?? 'pre';
  targets.value = state.targets ?? '';
}

function updateColourOptions(targets: TokenView[]): void {
  const sel = byId<ValueElement>('colour');
  const options = [el('vscode-option', { value: 'top' }, 'top token')];
  targets.forEach((t, i) => options.push(el('vscode-option', { value: String(i) }, `p(${displayToken(t.text)})`)));
  sel.replaceChildren(...options);
  if (colour.kind === 'target' && colour.index >= targets.length) colour = { kind: 'top' };
  sel.value = colour.kind === 'top' ? 'top' : String(colour.index);
}

async function resolveTargets(): Promise<number[]> {
  const ids: number[] = [];
  const notes: string[] = [];
  for (const word of parseTargets(state.targets ?? '')) {
    const token = await page.firstToken(word);
    if (!token) continue;
    if (token.note) notes.push(token.note);
    if (!ids.includes(token.id)) ids.push(token.id);
  }
  if (notes.length) page.status(notes.join('; '));
  return ids.slice(0, 16);
}

/** The heatmap's plot area: its width less the axis labels and the colour bar. */
const plotAreaWidth = () => byId('heatmap').clientWidth - 170;

/** How many positions the heatmap shows at once: as many as fit at a readable cell width. */
function visibleCount(): number {
  return Math.max(8, Math.floor(plotAreaWidth() / MIN_LENS_CELL_PX));
}

async function run(): Promise<void> {
  const subject = page.subject;
  if (!subject) return;
  await page.latest('Running the logit lens…', async (isCurrent) => {
    const targets = await resolveTargets();
    // Issue #13: the positions on screen arrive first (`lens/partial`) and are drawn at once; the times from the
    // request to that first paint and to the whole result are kept on #app for the end-to-end tests.
    const started = performance.now();
    const painted = (v: LensView): Promise<void> => {
      if (!isCurrent()) return Promise.resolve();
      view = v;
      updateColourOptions(v.targets);
      if (state.focus === undefined || state.focus >= v.tokens.length) state.focus = v.tokens.length - 1;
      return draw().then(() => {
        const app = byId('app');
        app.dataset.lensFirstPaintMs ??= (performance.now() - started).toFixed(1);
        if (!v.partial) app.dataset.lensFullMs = (performance.now() - started).toFixed(1);
      });
    };
    delete byId('app').dataset.lensFirstPaintMs;
    let partial: Promise<void> = Promise.resolve();
    const v = await rpc.call('lens/run', { stream: state.stream ?? 'pre', targets, visible: { count: visibleCount(), focus: state.focus } }, {
      notifications: {
        'lens/partial': (p) => {
          partial = painted(p);
          page.status(`Decoding the other positions… (${p.tokens.length} tokens × ${p.labels.length} layers)`);
        },
      },
    });
    await partial;
    if (!isCurrent()) return;
    await painted(v);
    page.status(`${v.tokens.length} tokens × ${v.labels.length} layers · ${subject.modelName} · resid ${v.stream}. Hover a cell for its top ${v.top[0]?.[0] ? v.top[0][0].length : 0} tokens; click a token or a cell to focus a position; drag the heatmap to see other positions.`);
  });
}

function draw(): Promise<void> {
  if (!view) return Promise.resolve();
  const theme = readTheme();
  const v = view;
  const pos = Math.min(state.focus ?? v.tokens.length - 1, v.tokens.length - 1);
  page.tokenStrip(byId('tokens'), v.tokens, pos, (p) => page.focus(p));
  const root = byId('heatmap') as PlotlyEventTarget;
  const shown = lensWindow(v.tokens.length, visibleCount(), pos);
  const cellChars = Math.floor(plotAreaWidth() / (shown.end - shown.start + 1) / (theme.fontSize * 0.62));
  const heat = lensHeatmap(v, colour, theme, pos, cellChars, shown);
  const drawn = drawPlot(root, heat).then(() => {
    root.removeAllListeners?.('plotly_click');
    root.on('plotly_click', (e) => {
      const x = e.points[0]?.x;
      if (typeof x === 'number') page.focus(x);
    });
  });
  const title = byId('trajectory-title');
  const traj = byId('trajectory');
  if (v.targets.length) {
    title.textContent = `Target tokens across layers at position ${pos} (“${displayToken(v.tokens[pos]?.text ?? '')}”)`;
    const t = trajectoryChart(v, pos, theme);
    traj.hidden = false;
    void drawPlot(traj, t);
  } else {
    title.textContent = 'Type target tokens above to see their probability and rank across layers.';
    traj.hidden = true;
  }
  return drawn.then(() => undefined);
}

layout();
void page.start();
