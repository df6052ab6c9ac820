// The logit lens panel: a layers x positions heatmap of each residual stream's top token (text in the
// cells, probability as colour, top-k on hover), target tokens picked by typing with their probability
// and rank trajectories across layers, a pre/mid/post stream switch, and PNG/SVG/JSON/CSV export.
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import Plotly from 'plotly.js-strict-dist-min';
import type { AnalysisHostProtocol, AnalysisNotifications, AnalysisState, LensStream, LensView, Subject, TokenView } from '../../src/shared/analysisProtocol';
import { byId, el } from '../common/dom';
import { connectToHost } from '../common/rpc';
import { readTheme } from '../common/theme';
import { displayToken } from '../../src/shared/tokenText';
import { getState, setState } from '../common/vscodeApi';
import type { AnalysisRpc } from '../common/viewKit';
import { exportButtons, injectStyles, labelled, renderTokenStrip, setStatus, showSource, startAnalysisView } from '../common/viewKit';
import type { LensColour } from './model';
import { lensCsv, lensHeatmap, lensJson, parseTargets, trajectoryChart } from './model';

const rpc: AnalysisRpc = connectToHost<AnalysisHostProtocol, AnalysisNotifications>();
const state: AnalysisState = getState<AnalysisState>() ?? {};
let subject: Subject | null = null;
let view: LensView | null = null;
let colour: LensColour = { kind: 'top' };
let request = 0;

interface SelectLike extends HTMLElement {
  value: string;
}

function status(text: string, error = false): void {
  setStatus(byId('status'), text, error);
}

function save(): void {
  setState<AnalysisState>({ ...state, text: subject?.text });
}

function layout(): void {
  injectStyles();
  const app = byId('app');
  const bar = el('header', { class: 'views-toolbar' });
  const stream = el('vscode-single-select', { id: 'stream', title: 'Residual stream read at each layer' }) as SelectLike;
  for (const [v, label] of [['pre', 'resid pre'], ['mid', 'resid mid'], ['post', 'resid post']] as const) stream.append(el('vscode-option', { value: v }, label));
  stream.addEventListener('change', () => {
    state.stream = stream.value as LensStream;
    save();
    void run();
  });
  const targets = el('vscode-textfield', { id: 'targets', placeholder: 'target tokens, e.g. Mary, John', title: 'Comma-separated; each gets a leading space; =text uses text exactly' }) as SelectLike;
  targets.addEventListener('change', () => {
    state.targets = targets.value;
    save();
    void run();
  });
  const colourSel = el('vscode-single-select', { id: 'colour', title: 'What the colour shows' }) as SelectLike;
  colourSel.addEventListener('change', () => {
    const v = colourSel.value;
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
    exportButtons(
      'logit-lens',
      () => byId('heatmap'),
      () => (view ? { json: lensJson(view), csv: lensCsv(view) } : undefined),
      async (format, name, data) => {
        const r = await rpc.call('export/save', { format, name, data });
        if (r.path) status(`Saved ${r.path}`);
      },
      (message) => status(message, true),
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
  const sel = byId('colour') as SelectLike;
  const options = [el('vscode-option', { value: 'top' }, 'top token')];
  targets.forEach((t, i) => options.push(el('vscode-option', { value: String(i) }, `p(${displayToken(t.text)})`)));
  sel.replaceChildren(...options);
  if (colour.kind === 'target' && colour.index >= targets.length) colour = { kind: 'top' };
  sel.value = colour.kind === 'top' ? 'top' : String(colour.index);
}

async function resolveTargets(): Promise<number[]> {
  const words = parseTargets(state.targets ?? '');
  const ids: number[] = [];
  const notes: string[] = [];
  for (const w of words) {
    const toks = await rpc.call('tokenize', { text: w });
    const first = toks[0];
    if (!first) continue;
    if (toks.length > 1) notes.push(`“${displayToken(w)}” is ${toks.length} tokens; using the first, “${displayToken(first.text)}”`);
    if (!ids.includes(first.id)) ids.push(first.id);
  }
  if (notes.length) status(notes.join('; '));
  return ids.slice(0, 16);
}

async function run(): Promise<void> {
  if (!subject) return;
  const mine = ++request;
  status('Running the logit lens…');
  try {
    const targets = await resolveTargets();
    const v = await rpc.call('lens/run', { stream: state.stream ?? 'pre', targets });
    if (mine !== request) return;
    view = v;
    updateColourOptions(v.targets);
    if (state.focus === undefined || state.focus >= v.tokens.length) state.focus = v.tokens.length - 1;
    draw();
    status(`${v.tokens.length} tokens × ${v.labels.length} layers · ${subject.modelName} · resid ${v.stream}. Hover a cell for its top ${v.top[0]?.[0] ? v.top[0][0].length : 0} tokens; click a token or a cell to focus a position.`);
    byId('app').dataset.ready = String(mine);
  } catch (err) {
    if (mine === request) status(err instanceof Error ? err.message : String(err), true);
  }
}

function focus(pos: number): void {
  state.focus = pos;
  save();
  draw();
}

function draw(): void {
  if (!view) return;
  const theme = readTheme();
  const v = view;
  const pos = Math.min(state.focus ?? v.tokens.length - 1, v.tokens.length - 1);
  renderTokenStrip(byId('tokens'), v.tokens, pos, focus);
  const root = byId('heatmap') as PlotlyEventTarget;
  // Characters that fit in a cell: the plot area is the width less the axis labels and colour bar.
  const cellChars = Math.floor((root.clientWidth - 170) / Math.max(1, v.tokens.length) / (theme.fontSize * 0.62));
  const heat = lensHeatmap(v, colour, theme, pos, cellChars);
  void Plotly.react(root, heat.data, heat.layout, { displayModeBar: false, responsive: true }).then(() => {
    root.removeAllListeners?.('plotly_click');
    root.on('plotly_click', (e) => {
      const x = e.points[0]?.x;
      if (typeof x === 'number') focus(x);
    });
  });
  const title = byId('trajectory-title');
  const traj = byId('trajectory');
  if (v.targets.length) {
    title.textContent = `Target tokens across layers at position ${pos} (“${displayToken(v.tokens[pos]?.text ?? '')}”)`;
    const t = trajectoryChart(v, pos, theme);
    traj.hidden = false;
    void Plotly.react(traj, t.data, t.layout, { displayModeBar: false, responsive: true });
  } else {
    title.textContent = 'Type target tokens above to see their probability and rank across layers.';
    traj.hidden = true;
  }
}

function showSubject(s: Subject | null): void {
  subject = s;
  save();
  if (showSource(s, 'No prompt: open a prompt file and use the “MechLens: Logit lens” CodeLens or the command “MechLens: Show Logit Lens”.', status)) void run();
}

layout();
void startAnalysisView(rpc, { onSubject: showSubject, redraw: draw, status, plots: ['heatmap', 'trajectory'] });
