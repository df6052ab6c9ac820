// The attribution-graph view (a custom editor over a Neuronpedia-format graph file): the graph on canvas
// (positions along x, layers along y), hover for a node's links and a card, click to select it (details:
// activation, influence, strongest upstream and downstream nodes, its label), Ctrl/Shift+click or "Pin" to
// pin it into the subgraph, supernodes, node and edge thresholds, exports, and the replacement and
// completeness scores of the graph and of the pinned subgraph. The view state lives in the file's qParams:
// every change is sent to the host, which edits the document (undo, save and reopen work as for any file).
// Below the graph, the feature panel (features.ts): a selected or searched feature's dashboard, its top
// inputs and outputs, and steering.
// Interventions (the state every view shares): a click or right-click on a prompt token under the graph opens
// the same ablate / patch menu as the other views (interventionBar.ts), the chips show above the graph, and
// "Re-run under interventions" computes the graph of the intervened run (view-only: the document keeps
// the clean graph), with what appeared, disappeared or moved most beside the before/after of the logits.
// Hover and click latencies are recorded as performance measures ("graph-hover", "graph-click", and
// "-frame" variants up to the next animation frame), which the end-to-end test reads.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { ExportFormat } from '../../src/shared/analysisProtocol';
import { graphNeedsOtherModel } from '../../src/shared/graphProtocol';
import type { GraphDocumentView, GraphHostProtocol, GraphNotifications, GraphPromptInfo, GraphViewState, IntervenedGraph, LinkType } from '../../src/shared/graphProtocol';
import type { GraphScores } from '../../src/shared/graphScores';
import type { RpcEndpoint } from '../../src/shared/rpc';
import { displayToken } from '../../src/shared/tokenText';
import { byId, el } from '../common/dom';
import { connectToHost } from '../common/rpc';
import { onThemeChange } from '../common/theme';
import type { ValueElement } from '../common/controls';
import { labelled, select, setStatus } from '../common/controls';
import type { GraphModel, Layout } from './model';
import { buildModel, buildSubgraph, graphDiff, linkColor, neighbours, nodeLabel, nodePlace, stateFromFile, subgraphScores, visibleLinks, visibleNodes, layoutGraph } from './model';
import type { DiffEntry } from './model';
import { FeaturePanel } from './features';
import { GraphCanvas, graphColors } from './render';
import { drawSubgraph } from './subgraph';
import { InterventionBar, errorText } from '../common/interventionBar';

type Rpc = RpcEndpoint<Record<string, never>, GraphHostProtocol, Record<string, never>, GraphNotifications>;
const rpc: Rpc = connectToHost<GraphHostProtocol, GraphNotifications>();
// The interventions every view shares: their chips and the before/after comparison on the graph's prompt (the
// host compares the run the graph attributes, its BOS included).
const interventions = new InterventionBar(rpc, {
  dims: () => promptInfo && { nLayers: promptInfo.nLayers, nHeads: promptInfo.nHeads },
  onChange: () => interventionsChanged(),
  onError: (m) => status(m, true),
  emptyHint: 'No interventions: click a prompt token under the graph (or right-click one in the prompt, lens, attention or DLA view).',
});
/** The model's shape and the graph-to-prompt position offset (its BOS), once the host said (null before). */
let promptInfo: GraphPromptInfo | null = null;
/** The graph of the run under the interventions, when re-run; `model` shows it while `showing` says so. */
let intervened: { graph: IntervenedGraph; model: GraphModel } | null = null;
let showing: 'clean' | 'intervened' = 'clean';
let cleanModel: GraphModel | null = null;
/** Re-runs started (a later one supersedes an earlier one's answer). */
let rerunRequest = 0;
/** Re-runs that took longer than this are not repeated by themselves when the chips change (the button is). */
const AUTO_RERUN_MS = 5000;

let doc: GraphDocumentView | null = null;
let model: GraphModel | null = null;
let state: GraphViewState = { pinnedIds: [], supernodes: [], clickedId: '', linkType: 'both', pruningThreshold: 0.8, edgeThreshold: 0 };
let shown: Uint8Array = new Uint8Array(0);
let links: Uint8Array = new Uint8Array(0);
let layout: Layout | null = null;
let hovered = -1;
/** The prompt position whose token label (the band under the graph) the pointer is on, or -1. */
let hoveredToken = -1;
/** Pinned nodes ticked in the subgraph list, to group into a supernode. */
const ticked = new Set<string>();
let canvas: GraphCanvas;
let features: FeaturePanel;
/** The graph node the feature panel shows ('' for none, or a feature found by search). */
let featureNodeId = '';

const CSS = `
body { padding: 0 12px; }
.graph-toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; padding: 8px 0 4px; }
.graph-toolbar h1 { font-size: 1.15em; margin: 0; }
.graph-toolbar label { color: var(--vscode-descriptionForeground); display: inline-flex; align-items: center; gap: 6px; }
.graph-toolbar input[type=range] { width: 96px; accent-color: var(--vscode-focusBorder); }
.graph-toolbar .value { font-variant-numeric: tabular-nums; min-width: 3.2em; color: var(--vscode-foreground); }
.graph-toolbar vscode-single-select { width: 100px; }
.graph-toolbar .spacer { flex: 1; }
#source { max-width: 26em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.muted { color: var(--vscode-descriptionForeground); }
#status.error { color: var(--vscode-errorForeground); }
#scores { font-variant-numeric: tabular-nums; margin: 2px 0 6px; }
#scores b { font-weight: 600; }
.graph-main { display: flex; gap: 12px; align-items: stretch; }
#graph { position: relative; flex: 1 1 auto; min-width: 300px; height: 62vh; min-height: 340px; border: 1px solid var(--vscode-panel-border, var(--vscode-editorWidget-border, transparent)); border-radius: 4px; overflow: hidden; cursor: default; touch-action: none; }
#graph canvas { position: absolute; left: 0; top: 0; }
#graph.hovering { cursor: pointer; }
#graph.panning { cursor: grabbing; }
#card { position: absolute; pointer-events: none; max-width: 320px; padding: 6px 8px; border-radius: 4px; font-size: 12px;
  background: var(--vscode-editorHoverWidget-background, var(--vscode-editor-background)); color: var(--vscode-editorHoverWidget-foreground, var(--vscode-foreground));
  border: 1px solid var(--vscode-editorHoverWidget-border, var(--vscode-widget-border, #8884)); box-shadow: 0 2px 8px var(--vscode-widget-shadow, #0004); z-index: 2; }
#token-anchor { position: absolute; pointer-events: none; }
.graph-toolbar vscode-single-select#graph-shown { width: 170px; }
#graph-shown-row[hidden] { display: none; }
#graph-diff:empty { display: none; }
#graph-diff { margin: 4px 0 8px; padding: 6px 10px; border: 1px solid var(--vscode-charts-orange, #d18616); border-radius: 4px; }
#graph-diff h2 { font-size: 1em; margin: 0 0 4px; }
#graph-diff .diff-cols { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 4px 16px; }
#graph-diff h3 { font-size: 0.92em; margin: 4px 0 2px; color: var(--vscode-descriptionForeground); font-weight: 600; }
#graph-diff ol { margin: 0; padding-left: 1.4em; font-variant-numeric: tabular-nums; }
#graph-diff li button { all: unset; cursor: pointer; overflow-wrap: anywhere; white-space: pre-wrap; }
#graph-diff li button:hover, #graph-diff li button:focus-visible { text-decoration: underline; color: var(--vscode-textLink-foreground); }
#graph-diff .num { color: var(--vscode-descriptionForeground); margin-left: 6px; }
#graph-diff .stale { color: var(--vscode-editorWarning-foreground, var(--vscode-descriptionForeground)); }
#card .title { font-weight: 600; margin-bottom: 2px; white-space: pre-wrap; overflow-wrap: anywhere; }
#details { flex: 0 0 300px; max-height: calc(62vh + 2px); min-height: 340px; overflow: auto; border: 1px solid var(--vscode-panel-border, var(--vscode-editorWidget-border, transparent)); border-radius: 4px; padding: 8px 10px; box-sizing: border-box; }
/* A narrow panel: the details go under the graph instead of beside it (where they were cut off and the canvas squeezed). */
@media (max-width: 760px) { .graph-main { flex-direction: column; } #details { flex: 0 0 auto; max-height: 50vh; min-height: 0; } }
#details h2, #subgraph h2 { font-size: 1.05em; margin: 0 0 4px; overflow-wrap: anywhere; white-space: pre-wrap; }
#details h3 { font-size: 0.95em; margin: 10px 0 4px; color: var(--vscode-descriptionForeground); font-weight: 600; }
#details dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 6px 0; font-variant-numeric: tabular-nums; }
#details dt { color: var(--vscode-descriptionForeground); }
#details dd { margin: 0; }
#details vscode-textfield { width: 100%; }
.nb { display: grid; grid-template-columns: 4.6em 1fr; gap: 1px 8px; font-variant-numeric: tabular-nums; }
.nb button { all: unset; cursor: pointer; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.nb button:hover, .nb button:focus-visible { text-decoration: underline; color: var(--vscode-textLink-foreground); }
.nb .w { text-align: right; font-weight: 600; }
.row-buttons { display: flex; gap: 6px; flex-wrap: wrap; margin: 6px 0; }
#subgraph { margin: 12px 0 20px; }
#subgraph .sg-bar { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; margin: 4px 0 6px; }
#subgraph vscode-textfield { width: 200px; }
#sg-svg { width: 100%; height: 280px; border: 1px solid var(--vscode-panel-border, var(--vscode-editorWidget-border, transparent)); border-radius: 4px; display: block; }
#sg-svg text { font-family: var(--vscode-font-family); font-size: 11px; fill: var(--vscode-foreground); }
#sg-svg .group { cursor: pointer; }
#pinned { display: flex; flex-wrap: wrap; gap: 4px 10px; margin: 6px 0; padding: 0; list-style: none; }
#pinned li { display: inline-flex; align-items: center; gap: 4px; }
#pinned li.super { font-weight: 600; }
#feature { margin: 12px 0; border: 1px solid var(--vscode-panel-border, var(--vscode-editorWidget-border, transparent)); border-radius: 4px; padding: 8px 10px; }
#feature h2 { font-size: 1.05em; margin: 0; }
#feature h3 { font-size: 1em; margin: 4px 0; overflow-wrap: anywhere; white-space: pre-wrap; }
#feature h4 { font-size: 0.92em; margin: 8px 0 4px; color: var(--vscode-descriptionForeground); font-weight: 600; }
#feature .feature-bar { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; }
#feature .feature-bar .spacer { flex: 1; }
#feature-search { width: 300px; }
#feature .feature-bar vscode-single-select { width: 110px; }
#feature .warn { color: var(--vscode-editorWarning-foreground, var(--vscode-descriptionForeground)); }
#feature .error { color: var(--vscode-errorForeground); }
.search-results { margin: 6px 0; }
.search-row { display: flex; flex-wrap: wrap; gap: 4px 6px; align-items: center; margin: 3px 0; }
.chip { all: unset; cursor: pointer; padding: 1px 6px; border-radius: 9px; font-size: 12px; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); white-space: pre; }
.chip:hover, .chip:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
.feature-grid { display: grid; grid-template-columns: minmax(240px, 300px) minmax(0, 1fr); gap: 8px 18px; }
.feature-stats dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 4px 0; font-variant-numeric: tabular-nums; }
.feature-stats dt { color: var(--vscode-descriptionForeground); }
.feature-stats dd { margin: 0; }
svg.hist { width: 100%; max-width: 300px; height: auto; display: block; }
svg.hist rect { fill: var(--vscode-charts-orange, #d18616); }
svg.hist text { font-size: 9px; fill: var(--vscode-descriptionForeground); font-family: var(--vscode-font-family); }
.logit-cols { display: grid; grid-template-columns: 1fr 1fr; gap: 0 12px; }
.logit-cols ol, .top-next { margin: 0; padding-left: 1.6em; font-variant-numeric: tabular-nums; }
.logit-cols li, .top-next li { display: list-item; }
.logit-cols .num, .top-next .num { float: right; color: var(--vscode-descriptionForeground); margin-left: 6px; }
.logits.pos h4 { color: var(--vscode-charts-green, #388a34); }
.logits.neg h4 { color: var(--vscode-charts-purple, #8a3ca5); }
.tokchip { font-family: var(--vscode-editor-font-family, monospace); white-space: pre; background: var(--vscode-textCodeBlock-background, #8882); padding: 0 3px; border-radius: 3px; }
.ctx-list { display: flex; flex-direction: column; gap: 2px; }
.ctx { display: flex; gap: 8px; align-items: baseline; font-family: var(--vscode-editor-font-family, monospace); font-size: 12px; line-height: 1.6; }
.ctx-act { flex: 0 0 3.4em; text-align: right; color: var(--vscode-descriptionForeground); font-variant-numeric: tabular-nums; }
.ctx-text { overflow-wrap: anywhere; }
.tok { white-space: pre; border-radius: 2px; }
.tok.centre { text-decoration: underline; text-decoration-thickness: 2px; font-weight: 600; }
details.quantile { margin: 4px 0; }
details.quantile summary { cursor: pointer; color: var(--vscode-descriptionForeground); }
#feature-io { margin: 6px 0; }
#feature-io .nb { grid-template-columns: 4.6em 1fr; }
.w.pos { color: var(--vscode-charts-green, #388a34); }
.w.neg { color: var(--vscode-charts-purple, #8a3ca5); }
.steer { border-top: 1px solid var(--vscode-panel-border, #8884); margin-top: 10px; padding-top: 6px; }
.steer-form { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; margin: 4px 0; }
.steer-form vscode-single-select { width: 100px; }
#steer-value { width: 90px; }
#steer-positions { width: 180px; }
.steer-form input[type=number] { width: 4.5em; background: var(--vscode-input-background); color: var(--vscode-input-foreground); border: 1px solid var(--vscode-input-border, #8884); border-radius: 2px; }
label.inline { display: inline-flex; align-items: center; gap: 4px; color: var(--vscode-descriptionForeground); }
#steer-list { margin: 4px 0; padding-left: 1.2em; }
.steer-grid { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.steer-side { border: 1px solid var(--vscode-panel-border, #8884); border-radius: 4px; padding: 6px 8px; }
.steer-side.after { border-color: var(--vscode-charts-orange, #d18616); }
.continuation { font-family: var(--vscode-editor-font-family, monospace); white-space: pre-wrap; overflow-wrap: anywhere; margin: 2px 0 6px; }
.continuation .new { background: var(--vscode-editor-findMatchHighlightBackground, #ea5c0055); }
`;

function layoutPage(): void {
  const style = document.createElement('style');
  style.textContent = CSS;
  document.head.append(style);
  const bar = el('header', { class: 'graph-toolbar' });
  const slider = (id: string, min: number, max: number, step: number, title: string, apply: (v: number) => void) => {
    const input = el('input', { id, type: 'range', min: String(min), max: String(max), step: String(step), title });
    const value = el('span', { class: 'value', id: `${id}-value` });
    input.addEventListener('input', () => {
      value.textContent = Number(input.value).toFixed(2);
      apply(Number(input.value));
    });
    const label = labelled(title.split(':')[0]!, input);
    label.append(value);
    return label;
  };
  const linkType = select('link-type', 'Which links of the hovered or clicked node to show', [['both', 'both'], ['input', 'inputs'], ['output', 'outputs']], (v) => {
    state.linkType = v as LinkType;
    canvas.drawOverlay(hovered >= 0 ? hovered : clickedIndex(), clickedIndex(), state.linkType);
    saveState();
  });
  const shownSelect = labelled('Show', select('graph-shown', 'Which graph the canvas shows', [['clean', 'clean run'], ['intervened', 'under interventions']], (v) => display(v as 'clean' | 'intervened')));
  shownSelect.id = 'graph-shown-row';
  shownSelect.hidden = true;
  const button = (id: string, label: string, title: string, onClick: () => void) => {
    const b = el('vscode-button', { id, secondary: '', title }, label);
    b.addEventListener('click', onClick);
    return b;
  };
  bar.append(
    el('h1', {}, 'Attribution graph'),
    el('span', { id: 'source', class: 'muted' }),
    slider('node-threshold', 0, 1, 0.01, 'Nodes: show features up to this cumulative influence', (v) => {
      state.pruningThreshold = v;
      refilter();
    }),
    slider('edge-threshold', 0, 0.5, 0.01, 'Links: hide links carrying less than this share of their target’s input', (v) => {
      state.edgeThreshold = v;
      refilter();
    }),
    labelled('Links', linkType),
    button('rerun', 'Re-run under interventions', 'Compute the attribution graph of the run under the active interventions (the chips above)', () => void rerun()),
    shownSelect,
    el('span', { class: 'spacer' }),
    button('fit', 'Fit', 'Reset zoom and pan (or double-click the graph)', () => {
      canvas.transform = { k: 1, tx: 0, ty: 0 };
      redraw();
    }),
    button('export-png', 'PNG', 'Export the graph as PNG', () => void exportImage('png')),
    button('export-svg', 'SVG', 'Export the graph as SVG', () => void exportImage('svg')),
    button('export-json', 'JSON', 'Export the graph file with its saved state (qParams) and labels', () => void exportJson()),
  );
  const main = el('div', { class: 'graph-main' });
  const graph = el('div', { id: 'graph', role: 'img', 'aria-label': 'Attribution graph: prompt positions along x, layers along y. Hover a node for its links, click to select it.' });
  const card = el('div', { id: 'card', role: 'tooltip' });
  card.hidden = true;
  graph.append(card);
  main.append(graph, el('aside', { id: 'details', 'aria-label': 'Selected node' }));
  const sub = el('section', { id: 'subgraph', 'aria-label': 'Pinned subgraph' });
  const groupName = el('vscode-textfield', { id: 'group-name', placeholder: 'supernode label' }) as ValueElement;
  const sgBar = el('div', { class: 'sg-bar' });
  sgBar.append(
    groupName,
    button('group', 'Group ticked', 'Group the ticked pinned nodes into a labelled supernode', () => groupTicked(groupName)),
    button('clear-pins', 'Clear pins', 'Unpin every node and remove the supernodes', () => {
      state.pinnedIds = [];
      state.supernodes = [];
      ticked.clear();
      refilter();
      saveState();
    }),
    el('span', { id: 'sg-scores', class: 'muted' }),
  );
  sub.append(el('h2', {}, 'Pinned subgraph'), sgBar, el('ul', { id: 'pinned' }), document.createElementNS('http://www.w3.org/2000/svg', 'svg'));
  sub.lastElementChild!.id = 'sg-svg';
  const featureSection = el('section', { id: 'feature', 'aria-label': 'Feature panel' });
  const anchor = el('div', { id: 'token-anchor', 'aria-hidden': 'true' });
  graph.append(anchor);
  byId('app').append(bar, el('p', { id: 'status', role: 'status', class: 'muted' }), interventions.element, el('section', { id: 'graph-diff', 'aria-label': 'The graph under the interventions, against the clean graph' }), el('div', { id: 'scores' }), main, featureSection, sub);
  canvas = new GraphCanvas(graph);
  features = new FeaturePanel(featureSection, {
    rpc,
    promptTokens: () => doc?.file.metadata.prompt_tokens ?? [],
    modelNote,
    selectFeature: (layer, index) => {
      // The graph's node of that feature with the largest activation (a feature can fire at several positions).
      let best = -1;
      model?.nodes.forEach((n, i) => {
        if (n.kind === 'feature' && n.layer === layer && n.featureIndex === index && (best < 0 || (n.activation ?? 0) > (model!.nodes[best]!.activation ?? 0))) best = i;
      });
      if (best < 0) return false;
      select_(best);
      return true;
    },
  });
  wirePointer(graph, card);
}

function clickedIndex(): number {
  return model?.index.get(state.clickedId) ?? -1;
}

function status(text: string, error = false): void {
  setStatus(byId('status'), text, error);
}

/** Shows a (new) document: model, state from its qParams, every part of the page. */
function show(view: GraphDocumentView): void {
  doc = view;
  cleanModel = buildModel(view.file);
  model = showing === 'intervened' && intervened ? intervened.model : cleanModel;
  promptInfo = null;
  scoreCache = undefined;
  state = stateFromFile(cleanModel);
  hovered = -1;
  ticked.clear();
  const md = view.file.metadata;
  byId('source').textContent = `${view.name} · ${md.scan}`;
  const setSlider = (id: string, v: number) => {
    (byId<HTMLInputElement>(id)).value = String(v);
    byId(`${id}-value`).textContent = v.toFixed(2);
  };
  setSlider('node-threshold', state.pruningThreshold ?? 0.8);
  setSlider('edge-threshold', state.edgeThreshold ?? 0);
  (byId<ValueElement>('link-type')).value = state.linkType;
  const note = showSummary();
  canvas.transform = { k: 1, tx: 0, ty: 0 };
  refilter();
  syncFeature(true);
  byId('app').dataset.ready = String(Date.now());
  byId('app').dataset.nodes = String(model.nodes.length);
  byId('app').dataset.links = String(model.file.links.length);
  if (!note) void loadPromptInfo();
}

/** The status line's summary of the graph, with the note on the graph's model; returns that note. */
function showSummary(): string | null {
  if (!doc || !model) return null;
  const counts = { feature: 0, error: 0, embedding: 0, logit: 0, other: 0 };
  for (const n of model.nodes) counts[n.kind]++;
  // A graph made by MechLens names its transcoder set after the model (e.g. mechlens-tiny-transcoders-…).
  const note = modelNote();
  status(`“${doc.file.metadata.prompt}” · ${counts.feature} features, ${counts.error} errors, ${counts.embedding} tokens, ${counts.logit} logits, ${model.file.links.length} links. Hover a node for its links; click to select; Ctrl/Shift+click pins; wheel zooms, drag pans.${note ? ` ${note}` : ''}`);
  return note;
}

/** Another model is loaded: the note, the prompt's shape and the open feature follow it; the layout stays. */
function modelChanged(modelName: string | undefined): void {
  if (!doc) return;
  doc = { ...doc, modelName };
  promptInfo = null;
  const note = showSummary();
  features.reopen();
  if (!note) void loadPromptInfo();
}

/** Asks the host for the model's shape and the position offset (the token menu needs them); null on failure (said in the status line). */
async function loadPromptInfo(): Promise<GraphPromptInfo | null> {
  const mine = doc;
  try {
    const info = await rpc.call('graph/promptInfo', {});
    if (doc !== mine) return null;
    promptInfo = info;
    // The tokens an intervention targets can be marked now.
    redraw();
    return info;
  } catch (err) {
    status(errorText(err), true);
    return null;
  }
}

/** A prompt token under the graph was clicked: the intervention menu, for the prompt's position. */
async function openTokenMenu(p: number): Promise<void> {
  if (!model) return;
  const info = promptInfo ?? (await loadPromptInfo());
  if (!info || !model) return;
  const pos = p - info.offset;
  if (pos < 0) {
    status('That token is the BOS the graph prepended, not part of the prompt the views run: interventions go on the prompt’s own tokens.', true);
    return;
  }
  const r = canvas.tokenRect(p);
  const anchor = byId('token-anchor');
  Object.assign(anchor.style, { left: `${r.left}px`, top: `${r.top}px`, width: `${r.width}px`, height: `${r.height}px` });
  interventions.openMenu(pos, model.tokens[p] ?? '', anchor);
  // The token band is the graph's bottom edge, often the window's too: the menu then opens above it, over the canvas.
  const menu = document.getElementById('iv-menu');
  const band = anchor.getBoundingClientRect();
  if (menu && band.bottom + 4 + menu.offsetHeight > window.innerHeight && band.top - menu.offsetHeight - 4 >= 0) menu.style.top = `${window.scrollY + band.top - menu.offsetHeight - 4}px`;
}

/** Graph positions of the tokens an active intervention names (the prompt's positions + the offset). */
function targetPositions(): Set<number> {
  const off = promptInfo?.offset;
  if (off === undefined) return new Set();
  return new Set(interventions.state.chips.flatMap((c) => (c.spec.positions ?? []).map((p) => p + off)));
}

/** The chips changed: the comparison, the marked tokens, and the intervened graph (re-run, dropped or stale). */
function interventionsChanged(): void {
  void interventions.refreshComparison();
  // A redraw of a big graph costs tens of milliseconds: only when the underlined tokens change.
  const targets = targetPositions();
  if (targets.size !== canvas.targets.size || [...targets].some((p) => !canvas.targets.has(p))) redraw();
  syncRerun();
  if (!intervened) return;
  if (interventions.state.chips.length === 0) {
    intervened = null;
    display('clean');
    renderDiff();
  } else if (intervened.graph.ms <= AUTO_RERUN_MS) {
    void rerun();
  } else {
    renderDiff();
  }
}

function syncRerun(): void {
  byId('rerun').toggleAttribute('disabled', interventions.state.chips.length === 0);
  byId('graph-shown-row').hidden = intervened === null;
}

/** Computes the graph under the active interventions and shows it. */
async function rerun(): Promise<void> {
  const mine = ++rerunRequest;
  const app = byId('app');
  app.dataset.rerun = 'running';
  status('Computing the attribution graph under the interventions…');
  try {
    const graph = await rpc.call('graph/intervene', {});
    if (mine !== rerunRequest) return;
    intervened = { graph, model: buildModel(graph.file) };
    display('intervened');
    renderDiff();
    status(`Under ${graph.labels.length} intervention${graph.labels.length === 1 ? '' : 's'}: ${intervened.model.nodes.filter((n) => n.kind === 'feature').length} features, ${graph.file.links.length} links (${(graph.ms / 1000).toFixed(1)} s). This graph is not saved; “Show: clean run” goes back.`);
    app.dataset.rerun = String(mine);
  } catch (err) {
    if (mine !== rerunRequest) return;
    app.dataset.rerun = 'failed';
    status(`The graph was not re-run: ${errorText(err)}`, true);
  }
}

/** Shows the clean or the intervened graph on the canvas (the state's thresholds apply to both). */
function display(which: 'clean' | 'intervened'): void {
  showing = which === 'intervened' && intervened ? 'intervened' : 'clean';
  const next = showing === 'intervened' ? intervened!.model : cleanModel;
  if (!next) return;
  if (showing === 'clean' && model !== next) {
    // Nodes picked in the other graph that this one lacks are dropped (the document keeps only its own).
    if (!next.index.has(state.clickedId)) state.clickedId = '';
    state.pinnedIds = state.pinnedIds.filter((id) => next.index.has(id));
  }
  model = next;
  scoreCache = undefined;
  hovered = -1;
  (byId<ValueElement>('graph-shown')).value = showing;
  syncRerun();
  refilter();
  syncFeature(true);
  const app = byId('app');
  app.dataset.shown = showing;
  app.dataset.nodes = String(model.nodes.length);
  app.dataset.links = String(model.file.links.length);
}

/** What the interventions changed in the graph: nodes appeared, disappeared, and the largest influence moves. */
function renderDiff(): void {
  const box = byId('graph-diff');
  if (!intervened || !cleanModel) {
    box.replaceChildren();
    box.dataset.appeared = '';
    return;
  }
  const diff = graphDiff(cleanModel, intervened.model);
  const current = interventions.state.chips.map((c) => c.label).join('\n') === intervened.graph.labels.join('\n');
  const features = (m: GraphModel) => m.nodes.filter((n) => n.kind === 'feature').length;
  const head = el('h2', {}, `Graph under the interventions: ${features(intervened.model)} features, ${intervened.model.file.links.length} links (clean: ${features(cleanModel)}, ${cleanModel.file.links.length}); ${diff.nAppeared} feature nodes appeared, ${diff.nDisappeared} disappeared.`);
  const list = (title: string, id: string, entries: DiffEntry[], value: (e: DiffEntry) => string, where: 'clean' | 'intervened') => {
    const wrap = el('div', { id });
    wrap.append(el('h3', {}, `${title}${entries.length ? '' : ': none'}`));
    const ol = el('ol');
    for (const e of entries) {
      const b = el('button', { 'data-node': e.id, title: `Show it in the ${where === 'clean' ? 'clean' : 'intervened'} graph` }, e.label);
      b.addEventListener('click', () => {
        if (showing !== where) display(where);
        const i = model?.index.get(e.id);
        if (i !== undefined) select_(i);
      });
      const li = el('li');
      li.append(b, el('span', { class: 'num' }, value(e)));
      ol.append(li);
    }
    wrap.append(ol);
    return wrap;
  };
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const cols = el('div', { class: 'diff-cols' });
  cols.append(
    list('Appeared (influence share)', 'diff-appeared', diff.appeared, (e) => pct(e.after), 'intervened'),
    list('Disappeared (influence share before)', 'diff-disappeared', diff.disappeared, (e) => pct(e.before), 'clean'),
    list('Influence changed most (before → after)', 'diff-changed', diff.changed, (e) => `${pct(e.before)} → ${pct(e.after)}`, 'intervened'),
  );
  const parts: HTMLElement[] = [head];
  if (!current) parts.push(el('p', { class: 'stale' }, 'The interventions changed since this graph was computed: press “Re-run under interventions”.'));
  parts.push(cols);
  box.replaceChildren(...parts);
  box.dataset.appeared = String(diff.nAppeared);
  box.dataset.disappeared = String(diff.nDisappeared);
  box.dataset.current = String(current);
}

/** Thresholds, pins or the clicked node changed: which nodes and links show, the layout, every drawing. */
function refilter(): void {
  if (!model) return;
  shown = visibleNodes(model, state);
  links = visibleLinks(model, shown, state.edgeThreshold ?? 0);
  layout = layoutGraph(model, shown);
  redraw();
  renderDetails();
  renderSubgraph();
  renderScores();
  let nShown = 0;
  for (const v of shown) nShown += v;
  let nLinks = 0;
  for (const v of links) nLinks += v;
  byId('app').dataset.shownNodes = String(nShown);
  byId('app').dataset.shownLinks = String(nLinks);
}

function pinnedSet(): Set<number> {
  const s = new Set<number>();
  for (const id of state.pinnedIds) {
    const i = model?.index.get(id);
    if (i !== undefined) s.add(i);
  }
  return s;
}

function redraw(): void {
  if (!model || !layout) return;
  canvas.resize();
  canvas.setData(model, layout, links, pinnedSet());
  canvas.targets = targetPositions();
  canvas.drawBase(graphColors());
  canvas.drawOverlay(hovered, clickedIndex(), state.linkType);
}

function renderScores(): void {
  if (!model) return;
  const s = byId('scores');
  const part = (label: string, sc: GraphScores) => [document.createTextNode(`${label}: replacement `), el('b', {}, score(sc.replacement)), document.createTextNode(' · completeness '), el('b', {}, score(sc.completeness))];
  const sub = pinnedScores();
  s.replaceChildren(...part('Graph', model.scores), document.createTextNode('   |   '), ...(sub ? part('Pinned subgraph', sub) : [document.createTextNode('Pinned subgraph: pin features to score it')]));
  s.dataset.replacement = String(model.scores.replacement);
  s.dataset.completeness = String(model.scores.completeness);
  s.dataset.subReplacement = sub ? String(sub.replacement) : '';
  s.dataset.subCompleteness = sub ? String(sub.completeness) : '';
}

/** A score, or "–" where it is undefined (no influence reaches a logit through the pinned nodes). */
function score(v: number): string {
  return Number.isFinite(v) ? v.toFixed(3) : '–';
}

let scoreCache: { key: string; scores: GraphScores | null } | undefined;
/** The pinned subgraph's scores, recomputed only when the pins change. */
function pinnedScores(): GraphScores | null {
  const key = state.pinnedIds.join('\n');
  if (scoreCache?.key !== key) scoreCache = { key, scores: subgraphScores(model!, state.pinnedIds) };
  return scoreCache.scores;
}

let saveTimer: ReturnType<typeof setTimeout> | undefined;
/** Sends the state to the host (debounced: a burst of clicks is one edit). */
function saveState(): void {
  // The intervened graph is a view of another run: its pins and clicks are not the document's state.
  if (showing === 'intervened') return;
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    rpc.call('graph/state', { ...state }).then(
      () => (byId('app').dataset.saved = String(Date.now())),
      (err: unknown) => status(`The state was not saved: ${errorText(err)}`, true),
    );
  }, 250);
}

function togglePin(i: number): void {
  const id = model!.nodes[i]!.id;
  if (state.pinnedIds.includes(id)) {
    state.pinnedIds = state.pinnedIds.filter((x) => x !== id);
    state.supernodes = state.supernodes.map((s) => s.filter((x, k) => k === 0 || x !== id)).filter((s) => s.length > 1);
    ticked.delete(id);
  } else {
    state.pinnedIds = [...state.pinnedIds, id];
  }
  refilter();
  saveState();
}

function select_(i: number): void {
  state.clickedId = i >= 0 ? model!.nodes[i]!.id : '';
  // A node selected from the details panel may be hidden by the threshold: clicked nodes always show.
  if (i >= 0 && !shown[i]) refilter();
  else {
    canvas.drawOverlay(hovered, i, state.linkType);
    renderDetails();
  }
  syncFeature(false);
  saveState();
}

/** What feature requests need that this view lacks (the graph's model loaded), or null. */
function modelNote(): string | null {
  if (!doc) return null;
  const scan = doc.file.metadata.scan;
  if (!graphNeedsOtherModel(scan, doc.modelName)) return null;
  return `Feature details, search, steering and top inputs/outputs need the graph’s model (${scan}); ${doc.modelName ? `the loaded model is ${doc.modelName}` : 'no model is loaded yet'}.`;
}

/** The feature panel follows the clicked node when it is a feature (other clicks leave it as it is). */
function syncFeature(force: boolean): void {
  const i = clickedIndex();
  const node = i >= 0 ? model!.nodes[i]! : undefined;
  if (!node || node.kind !== 'feature' || node.layer === null || node.featureIndex === null) {
    if (force) {
      featureNodeId = '';
      features.open(null);
    }
    return;
  }
  if (!force && node.id === featureNodeId) return;
  featureNodeId = node.id;
  features.open({ layer: node.layer, index: node.featureIndex, node: { id: node.id, position: node.position, activation: node.activation, label: node.clerp } });
}

function wirePointer(graph: HTMLElement, card: HTMLElement): void {
  let drag: { x: number; y: number; moved: boolean } | null = null;
  const local = (e: PointerEvent | WheelEvent | MouseEvent) => {
    const r = graph.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top] as const;
  };
  graph.addEventListener('pointerdown', (e) => {
    drag = { x: e.clientX, y: e.clientY, moved: false };
    graph.setPointerCapture(e.pointerId);
  });
  graph.addEventListener('pointermove', (e) => {
    const start = e.timeStamp;
    if (drag && (drag.moved || Math.hypot(e.clientX - drag.x, e.clientY - drag.y) > 4)) {
      canvas.pan(e.clientX - drag.x, e.clientY - drag.y);
      drag = { x: e.clientX, y: e.clientY, moved: true };
      graph.classList.add('panning');
      card.hidden = true;
      redraw();
      return;
    }
    if (!model) return;
    const [x, y] = local(e);
    const i = canvas.nodeAt(x, y);
    const token = i < 0 ? canvas.tokenAt(x, y) : -1;
    if (i === hovered && token === hoveredToken) {
      if (i >= 0 || token >= 0) placeCard(card, x, y);
      return;
    }
    const nodeChanged = i !== hovered;
    hovered = i;
    hoveredToken = token;
    graph.classList.toggle('hovering', i >= 0 || token >= 0);
    if (nodeChanged) canvas.drawOverlay(i >= 0 ? i : clickedIndex(), clickedIndex(), state.linkType);
    if (i >= 0) {
      fillCard(card, i);
      placeCard(card, x, y);
    } else if (token >= 0) {
      // A token label may be slanted, cut or left out at this width: the card names the whole token.
      fillTokenCard(card, token);
      placeCard(card, x, y);
    } else {
      card.hidden = true;
    }
    measure('graph-hover', start);
  });
  graph.addEventListener('pointerup', (e) => {
    const start = e.timeStamp;
    graph.classList.remove('panning');
    const wasDrag = drag?.moved ?? false;
    drag = null;
    if (wasDrag || !model || e.button !== 0) return;
    const [x, y] = local(e);
    const i = canvas.nodeAt(x, y);
    const token = i < 0 ? canvas.tokenAt(x, y) : -1;
    if (token >= 0) void openTokenMenu(token);
    else if (i >= 0 && (e.ctrlKey || e.metaKey || e.shiftKey)) togglePin(i);
    else select_(i);
    measure('graph-click', start);
  });
  graph.addEventListener('contextmenu', (e) => {
    const [x, y] = local(e);
    const token = canvas.tokenAt(x, y);
    if (token < 0) return;
    e.preventDefault();
    void openTokenMenu(token);
  });
  graph.addEventListener('pointerleave', () => {
    if (drag) return;
    hovered = -1;
    hoveredToken = -1;
    card.hidden = true;
    canvas.drawOverlay(clickedIndex(), clickedIndex(), state.linkType);
  });
  graph.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault();
      const [x, y] = local(e);
      canvas.zoomAt(x, y, Math.exp(-e.deltaY * 0.0015));
      redraw();
    },
    { passive: false },
  );
  graph.addEventListener('dblclick', () => {
    canvas.transform = { k: 1, tx: 0, ty: 0 };
    redraw();
  });
}

/** Records a latency from an input event to now, and to the next animation frame. */
function measure(name: string, start: number): void {
  performance.measure(name, { start, end: performance.now() });
  requestAnimationFrame(() => performance.measure(`${name}-frame`, { start, end: performance.now() }));
}

function fillCard(card: HTMLElement, i: number): void {
  const m = model!;
  const node = m.nodes[i]!;
  const lines: string[] = [nodePlace(m, i)];
  if (node.activation !== null) lines.push(`activation ${node.activation.toFixed(3)}`);
  if (node.influence !== null) lines.push(`influence ${node.influence.toFixed(3)} (cumulative)`);
  lines.push(`${m.inStart[i + 1]! - m.inStart[i]!} inputs · ${m.outStart[i + 1]! - m.outStart[i]!} outputs${m.errorShare[i]! > 0 ? ` · ${(m.errorShare[i]! * 100).toFixed(0)}% of input from errors` : ''}`);
  card.replaceChildren(el('div', { class: 'title' }, nodeLabel(m, i)), ...lines.map((l) => el('div', { class: 'muted' }, l)));
  delete card.dataset.token;
  card.hidden = false;
}

/** The hover card of a token label under the graph: the whole token (labels are cut or left out when narrow). */
function fillTokenCard(card: HTMLElement, p: number): void {
  const m = model!;
  const off = promptInfo?.offset;
  const text = displayToken(m.tokens[p] ?? '');
  const hint = off !== undefined && p < off ? 'the BOS the graph prepended (takes no intervention)' : 'click: ablate or patch it';
  const title = el('div', { class: 'title' }, `“${text}”`);
  card.replaceChildren(title, el('div', { class: 'muted' }, `position ${p} · ${hint}`));
  card.dataset.token = String(p);
  card.hidden = false;
}

function placeCard(card: HTMLElement, x: number, y: number): void {
  const w = card.offsetWidth;
  const h = card.offsetHeight;
  const W = canvas.width;
  const H = canvas.height;
  card.style.left = `${Math.min(W - w - 4, x + 14)}px`;
  card.style.top = `${y + 14 + h > H ? Math.max(4, y - h - 10) : y + 14}px`;
}

/** The selected node: where it is, its numbers, its label field, its strongest inputs and outputs. */
function renderDetails(): void {
  const box = byId('details');
  const m = model;
  const i = clickedIndex();
  if (!m || i < 0) {
    box.replaceChildren(el('h2', {}, 'No node selected'), el('p', { class: 'muted' }, 'Click a node to see its activation, its strongest upstream and downstream nodes and its label. Ctrl/Shift+click pins a node into the subgraph.'));
    box.dataset.node = '';
    return;
  }
  const node = m.nodes[i]!;
  const dl = el('dl');
  const row = (k: string, v: string) => dl.append(el('dt', {}, k), el('dd', {}, v));
  row('place', nodePlace(m, i));
  row('activation', node.activation === null ? '–' : node.activation.toFixed(4));
  row('influence', node.influence === null ? '–' : node.influence.toFixed(4));
  row('input |Σ|', m.inputAbsSum[i]!.toFixed(3));
  row('from errors', `${(m.errorShare[i]! * 100).toFixed(1)}%`);
  row('id', node.id);
  const pinned = state.pinnedIds.includes(node.id);
  const pin = el('vscode-button', { id: 'pin', secondary: '' }, pinned ? 'Unpin' : 'Pin to subgraph');
  pin.addEventListener('click', () => togglePin(i));
  const label = el('vscode-textfield', { id: 'label', placeholder: 'label (clerp)', title: 'The node’s label, saved in the file (clerp)' }) as ValueElement;
  label.value = node.clerp;
  const saveLabel = el('vscode-button', { id: 'save-label' }, 'Set label');
  const apply = () => {
    const clerp = label.value;
    rpc.call('graph/label', { nodeId: node.id, clerp }).then(
      () => {
        node.clerp = clerp;
        byId('app').dataset.labelled = node.id;
        renderDetails();
        renderSubgraph();
      },
      (err: unknown) => status(`The label was not set: ${errorText(err)}`, true),
    );
  };
  saveLabel.addEventListener('click', apply);
  label.addEventListener('keydown', (e) => {
    if ((e as KeyboardEvent).key === 'Enter') apply();
  });
  const buttons = el('div', { class: 'row-buttons' });
  buttons.append(pin);
  if (node.kind === 'feature') {
    const more = el('vscode-button', { id: 'to-feature', secondary: '', title: 'Its dashboard, top inputs and outputs, and steering (below the graph)' }, 'Feature panel ↓');
    more.addEventListener('click', () => byId('feature').scrollIntoView({ behavior: 'smooth', block: 'start' }));
    buttons.append(more);
  }
  const labelRow = el('div', { class: 'row-buttons' });
  labelRow.append(saveLabel);
  box.replaceChildren(el('h2', {}, nodeLabel(m, i)), dl, buttons, el('h3', {}, 'Label'), label, labelRow, neighbourList('Upstream (strongest inputs)', 'up', i), neighbourList('Downstream (strongest outputs)', 'down', i));
  box.dataset.node = node.id;
}

function neighbourList(title: string, direction: 'up' | 'down', i: number): HTMLElement {
  const m = model!;
  const wrap = el('div', { 'data-direction': direction });
  const list = neighbours(m, i, direction, 12);
  wrap.append(el('h3', {}, `${title}${list.length ? '' : ': none'}`));
  const grid = el('div', { class: 'nb' });
  const dark = graphColors().dark;
  for (const nb of list) {
    const w = el('span', { class: 'w', title: `weight ${nb.weight.toPrecision(4)} · ${(nb.pct * 100).toFixed(1)}% of the target’s input` }, nb.weight.toPrecision(3));
    // The sign's full colour: weak links' pale colours would not be readable as text on a light theme.
    w.style.color = linkColor(Math.sign(nb.pct) * 0.4, dark);
    const b = el('button', { 'data-node': m.nodes[nb.node]!.id, title: nodePlace(m, nb.node) }, nodeLabel(m, nb.node));
    b.addEventListener('click', () => select_(nb.node));
    grid.append(w, b);
  }
  wrap.append(grid);
  return wrap;
}

function groupTicked(nameField: ValueElement): void {
  const ids = state.pinnedIds.filter((id) => ticked.has(id));
  if (ids.length === 0) {
    status('Tick pinned nodes in the subgraph list to group them.', true);
    return;
  }
  const name = nameField.value.trim() || `group ${state.supernodes.length + 1}`;
  // A node belongs to one supernode at most: grouping it again moves it.
  state.supernodes = [...state.supernodes.map((s) => s.filter((x, k) => k === 0 || !ids.includes(x))).filter((s) => s.length > 1), [name, ...ids]];
  ticked.clear();
  nameField.value = '';
  renderSubgraph();
  renderScores();
  saveState();
}

function renderSubgraph(): void {
  const m = model;
  if (!m) return;
  const list = byId('pinned');
  const items: HTMLElement[] = [];
  const inSuper = new Set<string>();
  state.supernodes.forEach((s, k) => {
    const [name, ...ids] = s;
    ids.forEach((id) => inSuper.add(id));
    const li = el('li', { class: 'super', 'data-supernode': name ?? '' });
    const ungroup = el('vscode-button', { secondary: '', title: 'Ungroup', 'data-ungroup': String(k) }, '✕');
    ungroup.addEventListener('click', () => {
      state.supernodes = state.supernodes.filter((_, j) => j !== k);
      renderSubgraph();
      renderScores();
      saveState();
    });
    li.append(document.createTextNode(`${name ?? ''} (${ids.length})`), ungroup);
    items.push(li);
  });
  for (const id of state.pinnedIds) {
    const i = m.index.get(id);
    if (i === undefined || inSuper.has(id)) continue;
    const box = el('input', { type: 'checkbox', 'data-tick': id, title: 'Tick to group' });
    box.checked = ticked.has(id);
    box.addEventListener('change', () => (box.checked ? ticked.add(id) : ticked.delete(id)));
    const li = el('li', { 'data-pinned': id });
    const name = el('span', {}, nodeLabel(m, i));
    li.append(box, name);
    items.push(li);
  }
  if (items.length === 0) items.push(el('li', { class: 'muted' }, 'No pinned nodes: Ctrl/Shift+click a node, or select it and press “Pin to subgraph”.'));
  list.replaceChildren(...items);
  const sub = buildSubgraph(m, state);
  const svg = document.getElementById('sg-svg') as unknown as SVGSVGElement;
  drawSubgraph(svg, m, sub, graphColors(), (i) => select_(i));
  const sc = pinnedScores();
  byId('sg-scores').textContent = sc ? `replacement ${score(sc.replacement)} · completeness ${score(sc.completeness)}` : '';
}

async function exportImage(format: 'png' | 'svg'): Promise<void> {
  if (!doc) return;
  const data = format === 'png' ? canvas.composite(2).toDataURL('image/png') : canvas.toSvg();
  await save(format, exportName(), data);
}

async function save(format: ExportFormat, name: string, data: string): Promise<void> {
  try {
    const r = await rpc.call('export/save', { format, name, data });
    if (r.path) status(`Saved ${r.path}`);
  } catch (err) {
    status(`Export failed: ${errorText(err)}`, true);
  }
}

async function exportJson(): Promise<void> {
  try {
    const r = await rpc.call('graph/exportJson', { name: exportName() });
    if (r.path) status(`Saved ${r.path}`);
  } catch (err) {
    status(`Export failed: ${errorText(err)}`, true);
  }
}

function exportName(): string {
  const base = (doc?.name ?? 'graph').replace(/\.json$/i, '').replace(/\.graph$/i, '');
  return (base.replace(/[^\w .-]/g, '_').slice(0, 60) || 'graph') + '-graph';
}


async function start(): Promise<void> {
  layoutPage();
  rpc.onNotification({
    'graph/update': (view) => show(view),
    'graph/error': ({ message }) => status(message, true),
    'feature/dashboardsChanged': ({ source }) => features.refresh(source),
    'graph/modelChanged': ({ modelName }) => modelChanged(modelName),
  });
  onThemeChange(() => {
    redraw();
    renderSubgraph();
  });
  let resizeTimer: ReturnType<typeof setTimeout> | undefined;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(redraw, 60);
  });
  try {
    show(await rpc.call('graph/get', {}));
  } catch (err) {
    status(errorText(err), true);
  }
  await interventions.load();
  syncRerun();
}

// The end-to-end test reads node positions from here to point at nodes (screen pixels inside #graph).
(window as unknown as { mechlensGraph: unknown }).mechlensGraph = {
  positions: () => (model ? model.nodes.map((n, i) => ({ id: n.id, kind: n.kind, x: canvas.sx[i]!, y: canvas.sy[i]! })).filter((p) => Number.isFinite(p.x)) : []),
  /** Token labels under the graph: graph position, text and the centre of its band. */
  tokens: () => (model ? model.tokens.map((text, pos) => {
    const r = canvas.tokenRect(pos);
    return { pos, text, x: r.left + r.width / 2, y: r.top + 14 };
  }) : []),
  /** The token labels as drawn: position, the text drawn (maybe cut with …), its box's corners; left-out positions are absent. */
  labels: () => canvas.labels.map((l) => ({ pos: l.pos, text: l.text, full: displayToken(model?.tokens[l.pos] ?? ''), angle: l.angle, corners: l.corners })),
};

void start();
