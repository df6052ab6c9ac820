// The prompt panel: tokens as chips; a click asks the host (which asks the engine) for the top next tokens
// after that position and shows them as a plotly bar chart and a table.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import Plotly from 'plotly.js-strict-dist-min';
import { topTokensChart } from '../common/chart';
import { byId, el } from '../common/dom';
import type { PanelState, PromptPanelNotifications, PromptPanelProtocol, PromptView, TopToken } from '../../src/shared/panelProtocol';
import { InterventionBar } from '../common/interventionBar';
import { connectToHost } from '../common/rpc';
import { onThemeChange, readTheme } from '../common/theme';
import { renderTopList } from '../common/topList';
import { displayToken } from '../../src/shared/tokenText';
import { getState, setState } from '../common/vscodeApi';

const rpc = connectToHost<PromptPanelProtocol, PromptPanelNotifications>();
const interventions = new InterventionBar(rpc, {
  dims: () => (view?.nLayers && view.nHeads ? { nLayers: view.nLayers, nHeads: view.nHeads } : null),
  // The host re-runs the prompt itself when the random-init control swaps the model (a prompt/update follows);
  // interventions change the token marks and the comparison only.
  onChange: () => {
    interventions.markTokens(byId('tokens'));
    void interventions.refreshComparison();
  },
  onError: (message) => setStatus(message, true),
});
let view: PromptView | null = null;
let shown: { position: number; top: TopToken[] } | null = null;
let request = 0;

function layout(): void {
  const app = byId('app');
  const header = el('header', { class: 'toolbar' });
  const model = el('span', { id: 'model', class: 'muted' });
  const rerun = el('vscode-button', { id: 'rerun', secondary: '', title: 'Run the prompt again with the active model' }, 'Re-run');
  rerun.addEventListener('click', () => void rerunPrompt());
  header.append(el('h1', {}, 'Prompt'), model, rerun);
  const hint = el('p', { class: 'muted hint' }, 'Click a token to see what the model predicts after it; right-click it to ablate or patch it.');
  const tokens = el('section', { id: 'tokens', class: 'tokens', 'aria-label': 'Prompt tokens', role: 'listbox' });
  const status = el('p', { id: 'status', role: 'status', class: 'muted' });
  const title = el('h2', { id: 'chart-title' });
  const chart = el('div', { id: 'chart', class: 'chart' });
  const list = el('div', { id: 'top' });
  app.append(header, hint, tokens, interventions.element, status, title, chart, list);
}

function setStatus(text: string, error = false): void {
  const s = byId('status');
  s.textContent = text;
  s.classList.toggle('error', error);
}

function renderView(v: PromptView | null): void {
  view = v;
  const tokens = byId('tokens');
  if (!v) {
    byId('model').textContent = '';
    tokens.replaceChildren();
    setStatus('No prompt yet: run "MechLens: Run Prompt" on an editor.');
    return;
  }
  byId('model').textContent = v.modelName ? `model: ${v.modelName}` : '';
  const chips = v.tokens.map((t, i) => {
    const chip = el('button', {
      class: 'token',
      role: 'option',
      'data-pos': String(i),
      title: `position ${i} · id ${t.id}`,
      'aria-selected': 'false',
    });
    chip.textContent = displayToken(t.text);
    chip.addEventListener('click', () => void select(i));
    interventions.attachToken(chip, i, t.text);
    return chip;
  });
  tokens.replaceChildren(...chips);
  setStatus(`${v.tokens.length} tokens.`);
  showTop(v.position, v.top);
  void interventions.refreshComparison();
}

function showTop(position: number, top: TopToken[]): void {
  shown = { position, top };
  for (const chip of Array.from(byId('tokens').querySelectorAll<HTMLElement>('.token'))) {
    const selected = chip.dataset.pos === String(position);
    chip.classList.toggle('selected', selected);
    chip.setAttribute('aria-selected', String(selected));
  }
  const token = view?.tokens[position];
  byId('chart-title').textContent = token ? `Next token after position ${position} (“${displayToken(token.text)}”)` : '';
  const chart = topTokensChart(top, readTheme());
  void Plotly.react(byId('chart'), chart.data, chart.layout, { displayModeBar: false, responsive: true });
  renderTopList(byId('top'), top);
  byId('app').dataset.position = String(position);
  if (view) setState<PanelState>({ text: view.text, position });
}

async function select(position: number): Promise<void> {
  const mine = ++request;
  setStatus(`Asking the engine about position ${position}…`);
  try {
    const r = await rpc.call('prompt/topAt', { position });
    if (mine !== request) return;
    showTop(r.position, r.top);
    setStatus(`Top ${r.top.length} next tokens after position ${r.position}.`);
  } catch (err) {
    if (mine === request) setStatus(err instanceof Error ? err.message : String(err), true);
  }
}

async function rerunPrompt(): Promise<void> {
  setStatus('Running…');
  try {
    renderView(await rpc.call('prompt/rerun', {}));
  } catch (err) {
    setStatus(err instanceof Error ? err.message : String(err), true);
  }
}

async function start(): Promise<void> {
  layout();
  rpc.onNotification({
    'prompt/update': renderView,
    'engine/error': ({ message }) => setStatus(message, true),
  });
  onThemeChange(() => {
    if (shown) showTop(shown.position, shown.top);
  });
  window.addEventListener('resize', () => Plotly.Plots.resize(byId('chart')));
  await interventions.load();
  const saved = getState<PanelState>();
  try {
    const v = await rpc.call('prompt/get', {});
    renderView(v);
    if (v && saved?.position !== undefined && saved.position !== v.position && saved.position < v.tokens.length) await select(saved.position);
  } catch (err) {
    setStatus(err instanceof Error ? err.message : String(err), true);
  }
}

void start();
