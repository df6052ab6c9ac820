// The Patching panel: the clean prompt and its counterfactual side by side, their tokens aligned with the
// differing ones highlighted, helpers that derive a counterfactual (swap names, move the repeated name,
// next number), the answer tokens, a patching sweep (kind, direction, metric, exact / attribution) drawn as
// heatmaps where a click on a cell applies that patch in every view, and the shared intervention chips
// and before/after comparison. Token text goes in through textContent or escaped into plotly.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import Plotly from 'plotly.js-strict-dist-min';
import type { PairView, PatchPanelNotifications, PatchPanelProtocol, PatchPanelState, SweepView } from '../../src/shared/patchPanelProtocol';
import { changeNumber, ioiAnswers, moveLastName, swapNames } from '../../src/shared/pairs';
import { PATCH_DIRECTIONS, PATCH_METHODS, PATCH_METRICS, PATCH_SWEEPS } from '../../src/shared/patching';
import type { PatchDirection, PatchMethod, PatchMetric, PatchSweepKind } from '../../src/shared/patching';
import { sweepCellIntervention, uiLabel } from '../../src/shared/patchUi';
import { displayToken } from '../../src/shared/tokenText';
import { byId, el } from '../common/dom';
import { InterventionBar, errorText } from '../common/interventionBar';
import { connectToHost } from '../common/rpc';
import { onThemeChange, readTheme } from '../common/theme';
import { parseTargets } from '../common/tokenInput';
import type { ValueElement } from '../common/viewKit';
import { injectStyles, labelled, select, setStatus } from '../common/viewKit';
import { getState, setState } from '../common/vscodeApi';
import { sweepGrid, sweepHeatmap } from './plot';

const rpc = connectToHost<PatchPanelProtocol, PatchPanelNotifications>();
const state: PatchPanelState = getState<PatchPanelState>() ?? {};
let pair: PairView | null = null;
let sweep: SweepView | null = null;
let request = 0;

const bar = new InterventionBar(rpc, {
  dims: () => (pair ? { nLayers: pair.nLayers, nHeads: pair.nHeads } : null),
  onChange: () => {
    showReference();
    void bar.refreshComparison();
  },
  onError: (message) => status(message, true),
});

const CSS = `
.pair { display: grid; grid-template-columns: max-content 1fr; gap: 6px 10px; align-items: start; margin: 8px 0; }
.pair > span { color: var(--vscode-descriptionForeground); padding-top: 4px; }
.pair vscode-textarea { width: 100%; }
.helpers { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.align { display: grid; grid-template-columns: max-content 1fr; gap: 4px 10px; align-items: center; margin: 6px 0; }
.align .tokens { padding: 4px; }
.token.mismatch { background: var(--vscode-diffEditor-insertedTextBackground, #9bb95533); border-color: var(--vscode-charts-orange, orange); }
.token.missing { border-style: dashed; opacity: 0.7; }
.sweeps { display: flex; flex-wrap: wrap; gap: 12px; }
.sweeps > .plot { flex: 1 1 420px; min-width: 320px; margin: 0; }
.sweeps figcaption { font-weight: 600; margin: 4px 0; }
`;

function status(text: string, error = false): void {
  setStatus(byId('status'), text, error);
}

function save(): void {
  setState<PatchPanelState>(state);
}

function layout(): void {
  injectStyles(CSS);
  const app = byId('app');
  const header = el('header', { class: 'views-toolbar' });
  header.append(el('h1', {}, 'Patching'), el('span', { id: 'model', class: 'muted' }));

  const clean = el('vscode-textarea', { id: 'clean', rows: '2', placeholder: 'The clean prompt, e.g. When Mary and John went to the store, John gave a drink to' }) as ValueElement;
  clean.addEventListener('change', () => void setClean(clean.value));
  const cf = el('vscode-textarea', { id: 'counterfactual', rows: '2', placeholder: 'The counterfactual (corrupted) prompt: the same length, a name or number changed' }) as ValueElement;
  cf.addEventListener('change', () => void setCounterfactual(cf.value));
  const helper = (id: string, label: string, title: string, make: (text: string) => string | undefined) => {
    const b = el('vscode-button', { id, secondary: '', title }, label);
    b.addEventListener('click', () => {
      const text = pair?.clean?.text ?? clean.value;
      const made = make(text);
      if (made === undefined) return status(`${label}: the clean prompt has nothing to change for this helper.`, true);
      cf.value = made;
      void setCounterfactual(made);
    });
    return b;
  };
  const helpers = el('div', { class: 'helpers' });
  helpers.append(
    helper('swap-names', 'Swap names', 'Swap the two names of the clean prompt everywhere', swapNames),
    helper('move-name', 'Move repeated name', 'The IOI corruption: the last mention of the repeated name becomes the other name', moveLastName),
    helper('next-number', 'Next number', 'Change the last number of the clean prompt to the next one', changeNumber),
  );
  const reference = el('div', { class: 'helpers' });
  const pick = el('vscode-button', { id: 'reference-pick', secondary: '', title: 'A text file of prompts, one per line: mean ablation averages over all their positions' }, 'Reference prompts…');
  pick.addEventListener('click', () => rpc.call('pair/reference', {}).catch((err: unknown) => status(errorText(err), true)));
  const drop = el('vscode-button', { id: 'reference-clear', secondary: '', title: 'Average over the prompt and the counterfactual again' }, 'Clear');
  drop.addEventListener('click', () => rpc.call('pair/reference', { clear: true }).catch((err: unknown) => status(errorText(err), true)));
  reference.append(pick, el('span', { id: 'reference', class: 'muted' }), drop);
  const pairBox = el('section', { class: 'pair', 'aria-label': 'Counterfactual pair' });
  pairBox.append(el('span', {}, 'Clean'), clean, el('span', {}, 'Counterfactual'), cf, el('span'), helpers, el('span', {}, 'Mean over'), reference);

  const align = el('section', { id: 'align', class: 'align', 'aria-label': 'Token alignment' });

  const answers = el('header', { class: 'views-toolbar' });
  const target = el('vscode-textfield', { id: 'target', placeholder: 'e.g. Mary', title: 'The correct answer (one token; a leading space is added, =text uses text exactly)' }) as ValueElement;
  const baseline = el('vscode-textfield', { id: 'baseline', placeholder: 'e.g. John', title: 'The wrong answer of the logit-difference metrics (one token)' }) as ValueElement;
  target.addEventListener('change', () => ((state.target = target.value), save()));
  baseline.addEventListener('change', () => ((state.baseline = baseline.value), save()));
  const kind = select('sweep', 'What to patch, cell by cell', PATCH_SWEEPS.map((s) => [s, s] as const), (v) => ((state.sweep = v), save()));
  const direction = select('direction', 'denoise: clean activations into the corrupted run; noise: corrupted into the clean run', PATCH_DIRECTIONS.map((s) => [s, s] as const), (v) => ((state.direction = v), save()));
  const metric = select('metric', 'Metric of the last position', PATCH_METRICS.map((s) => [s, s] as const), (v) => ((state.metric = v), save()));
  const method = select('method', 'exact: one patched run per cell; attribution: the first-order estimate; both: side by side', PATCH_METHODS.map((s) => [s, s] as const), (v) => ((state.method = v), save()));
  const run = el('vscode-button', { id: 'run-sweep' }, 'Run sweep');
  run.addEventListener('click', () => void runSweep());
  const saveButton = el('vscode-button', { id: 'save-sweep', secondary: '', title: 'Save the last sweep as an experiment file (*.mlexp.json): re-run and diff it later' }, 'Save as Experiment…');
  saveButton.addEventListener('click', () => {
    rpc.call('sweep/save', {}).then(
      (r) => r.path && status(`Saved ${r.path}`),
      (err: unknown) => status(errorText(err), true),
    );
  });
  answers.append(labelled('Answer', target), labelled('Baseline', baseline), labelled('Sweep', kind), labelled('Direction', direction), labelled('Metric', metric), labelled('Method', method), run, saveButton);

  app.append(
    header,
    pairBox,
    align,
    bar.element,
    el('p', { id: 'status', role: 'status', class: 'muted' }),
    el('h2', {}, 'Patching sweep'),
    answers,
    el('p', { id: 'sweep-summary', class: 'muted' }),
    el('div', { id: 'sweeps', class: 'sweeps' }),
  );
  target.value = state.target ?? '';
  baseline.value = state.baseline ?? '';
  requestAnimationFrame(() => {
    kind.value = state.sweep ?? 'resid_pre';
    direction.value = state.direction ?? 'denoise';
    metric.value = state.metric ?? 'logit_diff_norm';
    method.value = state.method ?? 'exact';
  });
}

/** Which prompts mean ablation averages over. */
function showReference(): void {
  const r = bar.state.reference;
  const node = byId('reference');
  node.textContent = r ? `${r.name} (${r.count} prompt${r.count === 1 ? '' : 's'})` : 'the prompt and the counterfactual';
  node.dataset.count = r ? String(r.count) : '0';
  byId('reference-clear').hidden = r === null;
}

function tokenRow(tokens: ReadonlyArray<{ id: number; text: string }>, other: ReadonlyArray<{ id: number }> | undefined, mismatches: ReadonlySet<number>, interactive: boolean): HTMLElement {
  const row = el('div', { class: 'tokens' });
  tokens.forEach((t, i) => {
    const chip = el('button', { class: 'token', 'data-pos': String(i), title: `position ${i} · id ${t.id}${mismatches.has(i) ? ' · differs from the other prompt' : ''}` });
    chip.textContent = displayToken(t.text);
    chip.classList.toggle('mismatch', mismatches.has(i));
    chip.classList.toggle('missing', other !== undefined && i >= other.length);
    if (interactive) {
      chip.addEventListener('click', () => bar.openMenu(i, t.text, chip));
      bar.attachToken(chip, i, t.text);
    }
    row.append(chip);
  });
  return row;
}

function renderPair(p: PairView | null): void {
  pair = p;
  byId('model').textContent = p ? `${p.modelName} · ${p.nLayers} layers × ${p.nHeads} heads` : '';
  const clean = byId<ValueElement>('clean');
  const cf = byId<ValueElement>('counterfactual');
  if (p?.clean && document.activeElement !== clean) clean.value = p.clean.text;
  if (document.activeElement !== cf) cf.value = p?.counterfactual?.text ?? '';
  if (p?.clean && !state.target) {
    const a = ioiAnswers(p.clean.text);
    if (a) {
      state.target = a.target.trim();
      state.baseline = a.baseline.trim();
      byId<ValueElement>('target').value = state.target;
      byId<ValueElement>('baseline').value = state.baseline;
      save();
    }
  }
  const align = byId('align');
  const mism = new Set(p?.alignment?.mismatches ?? []);
  const rows: HTMLElement[] = [];
  if (p?.clean) rows.push(el('span', { class: 'muted' }, 'clean'), tokenRow(p.clean.tokens, p.counterfactual?.tokens, mism, true));
  if (p?.counterfactual) rows.push(el('span', { class: 'muted' }, 'counterfactual'), tokenRow(p.counterfactual.tokens, p.clean?.tokens, mism, false));
  align.replaceChildren(...rows);
  const a = p?.alignment;
  align.dataset.sameLength = a ? String(a.sameLength) : '';
  align.dataset.mismatches = a ? a.mismatches.join(',') : '';
  if (!p?.clean) status('No prompt yet: write the clean prompt above, or run “MechLens: Run Prompt” on an editor.');
  else if (!a) status('Write a counterfactual (or use a helper) to patch from it; right-click a clean token to ablate it.');
  else if (!a.sameLength) status(`The prompts differ in length (${p.clean.tokens.length} vs ${p.counterfactual!.tokens.length} tokens): position-wise patching needs equal lengths. Differing tokens are highlighted.`, true);
  else status(`${p.clean.tokens.length} tokens each; ${a.mismatches.length} differ${a.mismatches.length ? ` (position${a.mismatches.length > 1 ? 's' : ''} ${a.mismatches.join(', ')})` : ''}. Right-click a clean token to ablate or patch it.`);
  byId('app').dataset.pair = String(++request);
}

async function setClean(text: string): Promise<void> {
  status('Running the prompt…');
  try {
    renderPair(await rpc.call('pair/setClean', { text }));
  } catch (err) {
    status(errorText(err), true);
  }
}

async function setCounterfactual(text: string): Promise<void> {
  try {
    renderPair(await rpc.call('pair/setCounterfactual', { text }));
  } catch (err) {
    status(errorText(err), true);
  }
}

function answerText(typed: string | undefined): string | undefined {
  return typed === undefined || typed.trim() === '' ? undefined : parseTargets(typed)[0];
}

async function runSweep(): Promise<void> {
  const target = answerText(byId<ValueElement>('target').value);
  if (!target) return status('Type the answer token first (e.g. Mary).', true);
  const params = {
    sweep: byId<ValueElement>('sweep').value as PatchSweepKind,
    direction: byId<ValueElement>('direction').value as PatchDirection,
    metric: byId<ValueElement>('metric').value as PatchMetric,
    method: byId<ValueElement>('method').value as PatchMethod,
    target,
    baseline: answerText(byId<ValueElement>('baseline').value),
  };
  status(`Running the ${params.sweep} sweep…`);
  try {
    const started = performance.now();
    sweep = await rpc.call('sweep/run', params);
    drawSweep();
    status(`${params.sweep} sweep in ${Math.round(performance.now() - started)} ms. Click a cell to apply that patch (from the counterfactual) in every view.`);
    byId('sweeps').dataset.ready = String(++request);
  } catch (err) {
    status(errorText(err), true);
  }
}

function drawSweep(): void {
  const s = sweep;
  if (!s) return;
  const theme = readTheme();
  const parts: Array<[string, Float32Array]> = [];
  if (s.exact) parts.push([`exact ${s.metric} (${s.direction})`, s.exact]);
  if (s.attribution) parts.push([`attribution patching estimate${s.correlation !== undefined ? ` · r = ${s.correlation.toFixed(3)}` : ''}`, s.attribution]);
  byId('sweep-summary').textContent = `${s.metric}: clean ${s.cleanMetric.toFixed(3)}, corrupted ${s.corruptedMetric.toFixed(3)} · answer “${displayToken(s.targetText)}”${s.baselineText ? ` vs “${displayToken(s.baselineText)}”` : ''} · ${s.dims.join(' × ')} · hook ${s.hook}`;
  const box = byId('sweeps');
  box.replaceChildren(
    ...parts.map(([title], i) => {
      const figure = el('figure', { class: 'plot' });
      figure.append(el('figcaption', {}, title), el('div', { id: `sweep-${i}` }));
      return figure;
    }),
  );
  parts.forEach(([, values], i) => {
    const grid = sweepGrid(s, values);
    const fig = sweepHeatmap(grid, theme);
    const root = byId(`sweep-${i}`) as PlotlyEventTarget;
    void Plotly.react(root, fig.data, fig.layout, { displayModeBar: false, responsive: true }).then(() => {
      root.removeAllListeners?.('plotly_click');
      root.on('plotly_click', (e) => {
        const pt = e.points[0];
        if (typeof pt?.x !== 'number' || typeof pt.y !== 'number') return;
        const spec = sweepCellIntervention(s, grid.indexOf(pt.y, pt.x));
        status(`Applying ${uiLabel(spec, (p) => displayToken(pair?.clean?.tokens[p]?.text ?? ''))}…`);
        void bar.add(spec);
      });
    });
  });
}

async function start(): Promise<void> {
  layout();
  rpc.onNotification({
    'pair/update': renderPair,
    'engine/error': ({ message }) => status(message, true),
    // Said where the heatmaps were: the status line is the pair's, which the new model's tokens rewrite.
    'sweep/clear': ({ message }) => {
      sweep = null;
      byId('sweeps').replaceChildren();
      byId('sweep-summary').textContent = message;
    },
  });
  onThemeChange(drawSweep);
  window.addEventListener('resize', () => {
    for (const node of Array.from(byId('sweeps').querySelectorAll<HTMLElement>('.plot'))) Plotly.Plots.resize(node);
  });
  await bar.load();
  showReference();
  try {
    renderPair(await rpc.call('pair/get', {}));
    const last = await rpc.call('sweep/last', {});
    sweep = last.sweep;
    if (last.note) byId('sweep-summary').textContent = last.note;
    if (sweep) {
      drawSweep();
      byId('sweeps').dataset.ready = String(++request);
    }
  } catch (err) {
    status(errorText(err), true);
  }
}

void start();
