// The experiment editor's page: what was run (analysis, model and its hash, random-init seed, note, params)
// and what came out (a patching sweep as heatmaps, other results as JSON), with a Re-run button. A file this
// version cannot parse is shown as its JSON with the reason and a hint. All text goes in through textContent.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { ExperimentDoc, ExperimentEditorNotifications, ExperimentEditorProtocol } from '../../src/shared/experimentEditorProtocol';
import { byId, el } from '../common/dom';
import { errorText } from '../common/interventionBar';
import { connectToHost } from '../common/rpc';
import { onThemeChange, readTheme } from '../common/theme';
import { drawPlot, injectStyles, setStatus } from '../common/viewKit';
import { sweepGrid, sweepHeatmap } from '../patch/plot';
import type { SweepLike } from '../patch/plot';

const rpc = connectToHost<ExperimentEditorProtocol, ExperimentEditorNotifications>();
let doc: ExperimentDoc | null = null;
let renders = 0;
/** Longest JSON shown in full; longer results are cut (the file itself has them all). */
const MAX_JSON = 200_000;

const CSS = `
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 12px; margin: 8px 0; }
.meta dt { color: var(--vscode-descriptionForeground); }
.meta dd { margin: 0; font-family: var(--vscode-editor-font-family); word-break: break-all; }
pre.json { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); background: var(--vscode-textCodeBlock-background); padding: 8px; border-radius: 4px; overflow: auto; max-height: 420px; white-space: pre; }
.hint { border-left: 3px solid var(--vscode-editorWarning-foreground, orange); padding: 4px 10px; margin: 8px 0; }
.sweeps { display: flex; flex-wrap: wrap; gap: 12px; }
.sweeps figure { flex: 1 1 420px; min-width: 320px; margin: 0; }
.sweeps figcaption { font-weight: 600; margin: 4px 0; }
`;

function layout(): void {
  injectStyles(CSS);
  const header = el('header', { class: 'views-toolbar' });
  const rerun = el('vscode-button', { id: 'rerun', title: 'Run the analysis again on the model and write the new results into the file' }, 'Re-run');
  rerun.addEventListener('click', () => void runAgain());
  header.append(el('h1', { id: 'title' }, 'Experiment'), el('span', { class: 'spacer' }), rerun);
  byId('app').append(header, el('p', { id: 'status', role: 'status', class: 'muted' }), el('section', { id: 'body' }));
}

function json(value: unknown): HTMLElement {
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return el('pre', { class: 'json' }, text.length > MAX_JSON ? `${text.slice(0, MAX_JSON)}\n… (${text.length - MAX_JSON} more characters in the file)` : text);
}

function isSweep(results: unknown): results is SweepLike & { exact?: number[]; attribution?: number[]; metric: string; direction: string; correlation?: number; cleanMetric: number; corruptedMetric: number } {
  const r = results as Record<string, unknown> | null;
  return !!r && Array.isArray(r.dims) && Array.isArray(r.shape) && Array.isArray(r.layers) && typeof r.prompt === 'object' && (Array.isArray(r.exact) || Array.isArray(r.attribution));
}

function render(d: ExperimentDoc): void {
  doc = d;
  const body = byId('body');
  const parts: HTMLElement[] = [];
  if (!d.parsed) {
    byId('title').textContent = `Experiment: ${d.file}`;
    byId('rerun').toggleAttribute('disabled', true);
    parts.push(
      el('p', { class: 'hint', id: 'unknown' }, `This MechLens cannot run this file: ${(d.error ?? 'unknown format').replace(/\.+$/, '')}. It may come from a newer MechLens or another tool (an experiment type this version does not know); its JSON is shown below. Reopen it with the text editor to edit it.`),
      json(d.text),
    );
    body.replaceChildren(...parts);
    byId('app').dataset.kind = 'unknown';
    byId('app').dataset.ready = String(++renders);
    return;
  }
  const p = d.parsed;
  byId('title').textContent = `Experiment: ${p.analysis}`;
  byId('rerun').toggleAttribute('disabled', false);
  const meta = el('dl', { class: 'meta' });
  const row = (k: string, v: string) => meta.append(el('dt', {}, k), el('dd', {}, v));
  row('file', d.file);
  row('analysis', p.analysis);
  row('model', `${p.model.name ?? ''} ${p.model.dir}`.trim());
  row('model sha256', p.model.sha256 || '(none yet: re-run to record it)');
  if (p.random_init !== undefined) row('random init', `seed ${p.random_init} (the architecture with re-initialised weights)`);
  if (p.note) row('note', p.note);
  parts.push(meta, el('h2', {}, 'Params'), json(p.params), el('h2', {}, 'Results'));
  const plots: Array<[string, number[], SweepLike]> = [];
  if (p.results === undefined) parts.push(el('p', { class: 'muted' }, 'No results saved yet: Re-run computes them.'));
  else if (isSweep(p.results)) {
    const r = p.results;
    parts.push(el('p', { class: 'muted', id: 'sweep-summary' }, `${r.metric} (${r.direction}): clean ${r.cleanMetric.toFixed(3)}, corrupted ${r.corruptedMetric.toFixed(3)} · ${r.dims.join(' × ')}${r.correlation !== undefined ? ` · exact vs attribution r = ${r.correlation.toFixed(3)}` : ''}`));
    if (r.exact) plots.push(['exact', r.exact, r]);
    if (r.attribution) plots.push(['attribution patching estimate', r.attribution, r]);
    const box = el('div', { class: 'sweeps' });
    plots.forEach(([title], i) => {
      const f = el('figure');
      f.append(el('figcaption', {}, title), el('div', { id: `result-${i}` }));
      box.append(f);
    });
    const details = el('details');
    details.append(el('summary', {}, 'Results as JSON'), json(p.results));
    parts.push(box, details);
  } else parts.push(json(p.results));
  body.replaceChildren(...parts);
  const theme = readTheme();
  for (const [i, [, values, s]] of plots.entries()) {
    const fig = sweepHeatmap(sweepGrid(s, values), theme);
    void drawPlot(byId(`result-${i}`), fig);
  }
  byId('app').dataset.kind = p.analysis;
  byId('app').dataset.ready = String(++renders);
}

async function runAgain(): Promise<void> {
  setStatus(byId('status'), 'Re-running…');
  try {
    const r = await rpc.call('experiment/rerun', {});
    setStatus(byId('status'), r.message, r.modelChanged);
    byId('status').dataset.outcome = r.resultsChanged === undefined ? 'new' : r.resultsChanged ? 'changed' : 'identical';
  } catch (err) {
    setStatus(byId('status'), errorText(err), true);
  }
}

async function start(): Promise<void> {
  layout();
  rpc.onNotification({ 'experiment/update': render });
  onThemeChange(() => doc && render(doc));
  try {
    render(await rpc.call('experiment/get', {}));
  } catch (err) {
    setStatus(byId('status'), errorText(err), true);
  }
}

void start();
