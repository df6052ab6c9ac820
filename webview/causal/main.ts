// The causal-abstraction panel (issue #16): edit a hypothesis (JSON), then test it: interchange interventions
// (IIA, and a layer x position heatmap of where the variable lives), DAS (a learned subspace at the
// variable's site, with its controls and loss curves; the rank beside the IIA) and probes (accuracy beside
// the causal effect of removing their directions). A DAS result without controls is labelled as not a
// finding. Results are saved as experiment files (and DAS subspaces) by the host; experiment files re-open
// here. Every text from the model or the hypothesis goes in through textContent.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import Plotly from 'plotly.js-strict-dist-min';
import type { CausalHeader, CausalHostProtocol, CausalKind, CausalNotifications, CausalOpened, CausalState } from '../../src/shared/causalProtocol';
import { CAUSAL_KINDS } from '../../src/shared/causalProtocol';
import type { DasResult, Hypothesis, IiaResult, ProbeResult } from '../../src/shared/causal';
import { connectToHost } from '../common/rpc';
import { byId, el } from '../common/dom';
import { injectStyles, labelled, setStatus } from '../common/viewKit';
import type { ValueElement } from '../common/viewKit';
import { onThemeChange, readTheme } from '../common/theme';
import { getState, setState } from '../common/vscodeApi';
import type { Plot } from '../common/chart';
import { dasRows, dasSummary, lossCurves, pct, probeChart, probeRows, sweepHeatmap } from './plot';

const rpc = connectToHost<CausalHostProtocol, CausalNotifications>();
const state: CausalState = getState<CausalState>() ?? {};
let example = '';
let running: AbortController | null = null;
const shown: { iia?: IiaResult; das?: DasResult; probe?: ProbeResult } = {};

const CSS = `
.causal textarea { width: 100%; min-height: 180px; box-sizing: border-box; font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size);
  color: var(--vscode-input-foreground); background: var(--vscode-input-background); border: 1px solid var(--vscode-input-border, var(--vscode-panel-border)); border-radius: 2px; padding: 6px; }
.causal vscode-textfield.short { width: 70px; }
.causal vscode-textfield.hook { width: 240px; }
.causal section { margin: 14px 0; padding-top: 4px; border-top: 1px solid var(--vscode-panel-border, transparent); }
.causal section[hidden] { display: none; }
.causal table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 6px 0; }
.causal th, .causal td { text-align: left; padding: 2px 12px 2px 0; }
.causal th { color: var(--vscode-descriptionForeground); font-weight: 600; }
.causal td.ok { color: var(--vscode-charts-green); }
.causal td.bad { color: var(--vscode-charts-red); }
.causal .verdict { font-weight: 600; margin: 6px 0; }
.causal .verdict.weak { color: var(--vscode-editorWarning-foreground); }
.causal progress { width: 220px; }
`;

function button(id: string, label: string, title: string, onClick: () => void, secondary = false): HTMLElement {
  const b = el('vscode-button', { id, title, ...(secondary ? { secondary: '' } : {}) }, label);
  b.addEventListener('click', onClick);
  return b;
}

function field(id: string, value: string, title: string, cls: string): ValueElement {
  const f = el('vscode-textfield', { id, title, class: cls }) as ValueElement;
  f.value = value;
  f.addEventListener('change', save);
  return f;
}

function save(): void {
  state.hypothesis = byId<HTMLTextAreaElement>('hypothesis').value;
  state.rank = byId<ValueElement>('rank').value;
  state.epochs = byId<ValueElement>('epochs').value;
  state.sweepHook = byId<ValueElement>('sweep-hook').value;
  state.labelSlot = byId<ValueElement>('label-slot').value;
  state.variable = byId<ValueElement>('variable').value;
  state.probePositions = byId<ValueElement>('probe-positions').value;
  setState(state);
}

function layout(): void {
  injectStyles();
  const style = document.createElement('style');
  style.textContent = CSS;
  document.head.append(style);
  const app = byId('app');
  app.classList.add('causal');
  const head = el('header', { class: 'views-toolbar' });
  head.append(el('h1', {}, 'Causal abstraction'), el('span', { id: 'model', class: 'muted' }), el('span', { class: 'spacer' }), button('reset', 'Example hypothesis', 'Replace the text with the example for this model', () => {
    byId<HTMLTextAreaElement>('hypothesis').value = example;
    save();
  }, true));
  const text = el('textarea', { id: 'hypothesis', spellcheck: 'false', 'aria-label': 'Hypothesis (JSON)' });
  text.value = state.hypothesis ?? '';
  text.addEventListener('change', save);
  const help = el('p', { class: 'hint' }, 'A hypothesis: prompt templates with {SLOT}s, the slot values, the output as a template (" {IO}"), and variables, each a slot with a site: {"hook", "positions" (negative from the end), "heads"}. Or "pairs": [{"base", "sources", "label"}].');
  const iiaBar = el('div', { class: 'views-toolbar' });
  iiaBar.append(
    button('run-iia', 'Interchange (IIA)', 'Interchange every variable at its site and measure how often the output is the counterfactual', () => void run('iia')),
    labelled('heatmap over', field('sweep-hook', state.sweepHook ?? 'blocks.{l}.hook_resid_post', 'Hook template ({l} = layer) the first variable is moved over', 'hook')),
    button('run-sweep', 'IIA by layer × position', 'IIA of the first variable with its site at every layer and position', () => void run('iia', true), true),
    button('run-subspace', 'IIA with a saved subspace…', 'Interchange only a subspace saved by DAS (picked from disk) at its site', () => void run('iia', false, true), true),
  );
  const dasBar = el('div', { class: 'views-toolbar' });
  dasBar.append(
    labelled('variable', field('variable', state.variable ?? '', 'The variable DAS aligns, the heatmap sweeps (default: the first)', 'short')),
    labelled('rank', field('rank', state.rank ?? '16', 'Dimension of the learned subspace', 'short')),
    labelled('epochs', field('epochs', state.epochs ?? '8', 'Training epochs', 'short')),
    button('run-das', 'Train DAS', 'Learn a subspace at the first variable\'s site (with the random-label and random-init controls)', () => void run('das')),
    labelled('probe label slot', field('label-slot', state.labelSlot ?? '', 'The slot whose value each prompt is labelled with (default: the first variable\'s)', 'short')),
    labelled('at positions', field('probe-positions', state.probePositions ?? '-1', 'Positions probed at every layer (negative: from the end), comma-separated', 'short')),
    button('run-probe', 'Probe', 'Linear probes per layer at the last position and the sites of the variables, checked by removing their directions', () => void run('probe')),
    el('span', { class: 'spacer' }),
    button('cancel', 'Cancel', 'Stop the running job', () => running?.abort(), true),
  );
  const status = el('div', { class: 'views-toolbar' });
  const progress = el('progress', { id: 'progress', max: '1' });
  progress.hidden = true;
  status.append(el('span', { id: 'status', role: 'status' }), progress);
  app.append(head, text, help, iiaBar, dasBar, status, section('iia', 'Interchange interventions'), section('das', 'Distributed alignment search'), section('probe', 'Probes checked by intervention'));
}

function section(kind: CausalKind, title: string): HTMLElement {
  const s = el('section', { id: `${kind}-section` });
  s.hidden = true;
  const bar = el('div', { class: 'views-toolbar' });
  bar.append(el('h2', {}, title), el('span', { class: 'spacer' }));
  if (kind === 'das') {
    bar.append(
      button('use-subspace-patch', 'Use as patching site', "Patch only this subspace from the counterfactual prompt, in every view (a chip; the Patching panel holds the counterfactual)", () => void useSubspace('patch'), true),
      button('use-subspace-steer', 'Use as steering direction', "Add the subspace's first direction × the training pairs' RMS along it at the site, in every view", () => void useSubspace('steer'), true),
      button('save-subspace', 'Save subspace…', 'Safetensors + JSON (site, hypothesis) and a steering interventions file', () => void saveSubspace(), true),
    );
  }
  bar.append(button(`save-${kind}`, 'Save experiment…', 'Save as a *.mlexp.json experiment file (re-run with mechlens experiment)', () => void saveExperiment(kind), true));
  s.append(bar, el('div', { id: `${kind}-body` }));
  return s;
}

function hypothesis(): Hypothesis | null {
  try {
    return JSON.parse(byId<HTMLTextAreaElement>('hypothesis').value) as Hypothesis;
  } catch (e) {
    setStatus(byId('status'), `The hypothesis is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, true);
    return null;
  }
}

function positiveInt(id: string, what: string): number | null {
  const n = Number(byId<ValueElement>(id).value);
  if (!Number.isInteger(n) || n < 1) {
    setStatus(byId('status'), `${what} must be a positive integer.`, true);
    return null;
  }
  return n;
}

async function run(kind: CausalKind, sweep = false, subspace = false): Promise<void> {
  save();
  const h = hypothesis();
  if (!h) return;
  running?.abort();
  const controller = new AbortController();
  running = controller;
  const status = byId('status');
  const bar = byId<HTMLProgressElement>('progress');
  setStatus(status, kind === 'das' ? 'Training DAS…' : kind === 'probe' ? 'Probing…' : 'Running interchange interventions…');
  bar.hidden = false;
  bar.removeAttribute('value');
  const notifications = {
    'causal/progress': ({ message, fraction }: { message: string; fraction?: number }) => {
      setStatus(status, message);
      if (fraction !== undefined) bar.value = fraction;
    },
  };
  const options = { signal: controller.signal, notifications };
  const started = performance.now();
  try {
    const first = byId<ValueElement>('variable').value.trim() || h.variables?.[0]?.name;
    if (kind === 'iia' && subspace) {
      const r = await rpc.call('causal/iiaSubspace', { hypothesis: h, ...(first ? { variable: first } : {}) }, options);
      if (!r) {
        setStatus(status, 'No subspace chosen.');
        return;
      }
      drawIia((shown.iia = r));
    } else if (kind === 'iia') {
      const hook = byId<ValueElement>('sweep-hook').value.trim();
      shown.iia = await rpc.call('causal/iia', { hypothesis: h, ...(sweep && first ? { sweep: { variable: first, hook } } : {}) }, options);
      drawIia(shown.iia);
    } else if (kind === 'das') {
      const rank = positiveInt('rank', 'The rank');
      const epochs = positiveInt('epochs', 'Epochs');
      if (rank === null || epochs === null) return;
      shown.das = await rpc.call('causal/das', { hypothesis: h, rank, epochs, ...(first ? { variable: first } : {}) }, options);
      drawDas(shown.das);
    } else {
      const v = h.variables?.find((x) => x.name === first);
      const slot = byId<ValueElement>('label-slot').value.trim() || v?.slot || first || '';
      const positions = byId<ValueElement>('probe-positions').value.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
      if (positions.some((q) => !Number.isInteger(q))) {
        setStatus(status, 'Probe positions must be integers separated by commas (negative: from the end).', true);
        return;
      }
      shown.probe = await rpc.call('causal/probe', { hypothesis: h, labelSlot: slot, positions: positions.length ? positions : [-1] }, options);
      drawProbe(shown.probe);
    }
    setStatus(status, `Done in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
  } catch (e) {
    setStatus(status, controller.signal.aborted ? 'Cancelled.' : e instanceof Error ? e.message : String(e), !controller.signal.aborted);
  } finally {
    if (running === controller) running = null;
    bar.hidden = true;
  }
}

function table(headers: string[], rows: string[][], classes?: (row: number, col: number) => string | undefined): HTMLTableElement {
  const t = el('table');
  const head = el('tr');
  for (const h of headers) head.append(el('th', {}, h));
  t.append(head);
  rows.forEach((r, i) => {
    const tr = el('tr');
    r.forEach((c, j) => tr.append(el('td', classes?.(i, j) ? { class: classes(i, j)! } : {}, c)));
    t.append(tr);
  });
  return t;
}

function plot(id: string, p: Plot, onClick?: (point: PlotlyPoint) => void): HTMLElement {
  const root = el('div', { id, class: 'plot' });
  queueMicrotask(
    () =>
      void Plotly.react(root, p.data, p.layout, { displayModeBar: false, responsive: true }).then(() => {
        if (!onClick) return;
        const target = root as unknown as PlotlyEventTarget;
        target.removeAllListeners?.('plotly_click');
        target.on('plotly_click', (e) => e.points[0] && onClick(e.points[0]));
      }),
  );
  return root;
}

/** A heatmap cell clicked: the swept variable's site moves there (layer x, position y) in the hypothesis text. */
function moveSite(sweep: NonNullable<IiaResult['sweep']>, point: PlotlyPoint): void {
  const h = hypothesis();
  const v = h?.variables?.find((x) => x.name === sweep.variable);
  if (!h || !v) return;
  const layer = Number(point.y);
  const pos = Number(point.x);
  v.site = { ...(v.site?.heads ? { heads: v.site.heads } : {}), hook: sweep.hook.replace('{l}', String(layer)), positions: [pos] };
  byId<HTMLTextAreaElement>('hypothesis').value = JSON.stringify(h, null, 2);
  save();
  setStatus(byId('status'), `${sweep.variable}'s site is now ${v.site.hook} at position ${pos}: Train DAS or Interchange to test it there.`);
}

function show(kind: CausalKind, ...children: HTMLElement[]): void {
  byId(`${kind}-section`).hidden = false;
  byId(`${kind}-body`).replaceChildren(...children);
}

function drawIia(r: IiaResult): void {
  const theme = readTheme();
  const parts: HTMLElement[] = [];
  const lines = [
    `${r.hypothesis}: ${r.pairs} pairs${r.randomLabels ? ' (labels shuffled: the random-label control)' : ''}.`,
    ...(r.baseAccuracy !== undefined ? [`The model gives the hypothesis' output on ${pct(r.baseAccuracy)} of the bases.`] : []),
  ];
  if (r.variables.length) lines.push(`IIA interchanging ${r.variables.join(' + ')} at ${r.sites.map((s) => `${s.hook} [${s.positions.join(', ')}]${s.subspaceRank ? ` (subspace, rank ${s.subspaceRank})` : ''}`).join(' + ')}: ${pct(r.iia)} (chance ${pct(r.chance)}).`);
  parts.push(...lines.map((l) => el('p', { class: 'sum' }, l)));
  const examples = r.examples.slice(0, 8);
  parts.push(table(['base', 'source', 'expected', 'model'], examples.map((e) => [e.base, e.sources.join(' | '), JSON.stringify(e.label), JSON.stringify(e.predicted)]), (row, col) => (col === 3 ? (examples[row]!.ok ? 'ok' : 'bad') : undefined)));
  const sweep = r.sweep;
  if (sweep) parts.push(el('h2', {}, `IIA of ${sweep.variable} by layer × position (click a cell to put the site there)`), plot('sweep-plot', sweepHeatmap(sweep, theme), (point) => moveSite(sweep, point)));
  show('iia', ...parts);
}

function drawDas(r: DasResult): void {
  const verdict = el('p', { class: `verdict${/^Aligned/.test(r.verdict) ? '' : ' weak'}`, id: 'das-verdict' }, r.verdict);
  const rows = dasRows(r);
  show(
    'das',
    el('p', { class: 'sum', id: 'das-summary' }, dasSummary(r)),
    table(['run', 'held-out IIA', 'train IIA', 'final loss', '‖RᵀR − I‖'], rows.map((x) => [x.run, x.testIia, x.trainIia, x.finalLoss, x.orthogonality])),
    verdict,
    el('h2', {}, 'Training loss'),
    plot('loss-plot', lossCurves(r, readTheme())),
  );
}

function drawProbe(r: ProbeResult): void {
  show(
    'probe',
    el('p', { class: 'sum' }, `${r.method === 'logistic' ? 'Logistic' : 'Least-squares'} probes of ${r.classes.length} classes at ${r.hook}; ${r.nTrain} train / ${r.nTest} held-out prompts; majority class ${pct(r.chance)}; the model's task accuracy ${pct(r.taskAccuracy)}.`),
    table(
      ['site', 'probe accuracy', 'Δ log p (probe removed)', 'Δ log p (random removed)', 'task accuracy after', 'answer steered (probe)', 'answer steered (random)'],
      probeRows(r).map((x) => [x.site, x.accuracy, x.effect, x.random, x.taskAfter, x.steered, x.randomSteered]),
    ),
    plot('probe-plot', probeChart(r, readTheme())),
  );
}

async function saveExperiment(kind: CausalKind): Promise<void> {
  try {
    const { path } = await rpc.call('causal/saveExperiment', { kind });
    if (path) setStatus(byId('status'), `Saved ${path}`);
  } catch (e) {
    setStatus(byId('status'), e instanceof Error ? e.message : String(e), true);
  }
}

async function saveSubspace(): Promise<void> {
  try {
    const { paths } = await rpc.call('causal/saveSubspace', {});
    if (paths) setStatus(byId('status'), `Saved ${paths.join(', ')}`);
  } catch (e) {
    setStatus(byId('status'), e instanceof Error ? e.message : String(e), true);
  }
}

async function useSubspace(as: 'patch' | 'steer'): Promise<void> {
  try {
    const { label } = await rpc.call('causal/useSubspace', { as });
    setStatus(byId('status'), `Added “${label}” to the views' interventions`);
  } catch (e) {
    setStatus(byId('status'), e instanceof Error ? e.message : String(e), true);
  }
}

function opened(o: CausalOpened): void {
  byId<HTMLTextAreaElement>('hypothesis').value = JSON.stringify(o.hypothesis, null, 2);
  save();
  if (o.kind === 'iia') drawIia((shown.iia = o.result));
  else if (o.kind === 'das') drawDas((shown.das = o.result));
  else drawProbe((shown.probe = o.result));
  setStatus(byId('status'), `Opened ${o.file}`);
}

function redraw(): void {
  if (shown.iia) drawIia(shown.iia);
  if (shown.das) drawDas(shown.das);
  if (shown.probe) drawProbe(shown.probe);
}

/** The model line over the hypothesis. */
function showModel(m: CausalHeader): void {
  byId('model').textContent = `${m.modelName} · ${m.nLayers} layers · d_model ${m.dModel}`;
}

/** Another model is active: the previous one's results go; the hypothesis stays unless it was the old example. */
function modelChanged(m: CausalHeader): void {
  showModel(m);
  for (const kind of CAUSAL_KINDS) {
    delete shown[kind];
    byId(`${kind}-section`).hidden = true;
    byId(`${kind}-body`).replaceChildren();
  }
  const text = byId<HTMLTextAreaElement>('hypothesis');
  const wasExample = !text.value.trim() || text.value === example;
  example = m.example;
  if (wasExample) text.value = example;
  save();
  setStatus(
    byId('status'),
    `The active model is now ${m.modelName}: the previous model's results were removed.${wasExample ? '' : ' Your hypothesis is kept: check its layers and token positions against this model.'}`,
  );
}

async function start(): Promise<void> {
  layout();
  rpc.onNotification({ 'causal/opened': opened, 'causal/modelChanged': modelChanged });
  onThemeChange(redraw);
  try {
    const init = await rpc.call('causal/init', {});
    example = init.example;
    showModel(init);
    const text = byId<HTMLTextAreaElement>('hypothesis');
    if (!text.value.trim()) {
      text.value = example;
      save();
    }
    // Shown again after the panel was hidden (its page is rebuilt); then an experiment file opened into it.
    if (init.last?.iia) drawIia((shown.iia = init.last.iia));
    if (init.last?.das) drawDas((shown.das = init.last.das));
    if (init.last?.probe) drawProbe((shown.probe = init.last.probe));
    if (init.opened) opened(init.opened);
  } catch (e) {
    setStatus(byId('status'), e instanceof Error ? e.message : String(e), true);
  }
}

void start();
