// The direct logit attribution panel: for a target token (or the difference of two) at a position, each
// head's direct contribution as a layers x heads heatmap, the MLPs and other parts as bars, and the sum
// of the parts beside the model's own logit.
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { DlaView } from '../../src/shared/analysisProtocol';
import { displayToken } from '../../src/shared/tokenText';
import { AnalysisPage } from '../common/analysisPage';
import { byId, el } from '../common/dom';
import { readTheme } from '../common/theme';
import { parseTargets } from '../common/tokenInput';
import type { ValueElement } from '../common/viewKit';
import { drawPlot, injectStyles, labelled } from '../common/viewKit';
import { dlaCsv, dlaJson, dlaParts, headHeatmap, otherPartsBars, partsSum, targetLabel } from './plot';

const page = new AnalysisPage({
  run,
  redraw: draw,
  emptyHint: 'No prompt: open a prompt file and use the “DLA” CodeLens or the command “MechLens: Show Direct Logit Attribution”.',
  plots: ['heads', 'parts'],
});
const { rpc, state } = page;
let view: DlaView | null = null;

function layout(): void {
  injectStyles();
  const bar = el('header', { class: 'views-toolbar' });
  const target = el('vscode-textfield', { id: 'target', placeholder: 'target token (default: the top prediction)', title: 'A word gets a leading space; =text uses text exactly' }) as ValueElement;
  const baseline = el('vscode-textfield', { id: 'baseline', placeholder: 'minus token (optional)', title: 'Attribute the logit difference target − this token' }) as ValueElement;
  const apply = el('vscode-button', { id: 'apply' }, 'Attribute');
  const go = () => {
    state.target = target.value;
    state.baseline = baseline.value;
    page.save();
    void run();
  };
  target.addEventListener('change', go);
  baseline.addEventListener('change', go);
  apply.addEventListener('click', go);
  bar.append(
    el('h1', {}, 'Direct logit attribution'),
    el('span', { id: 'source', class: 'muted' }),
    labelled('Target', target),
    labelled('minus', baseline),
    apply,
    el('span', { class: 'spacer' }),
    page.exportButtons(
      'dla',
      () => byId('heads'),
      () => (view ? { json: dlaJson(view), csv: dlaCsv(view) } : undefined),
    ),
  );
  const row = el('div', { class: 'views-row' });
  const left = el('div', { class: 'plot', id: 'heads-box' });
  left.append(el('h2', {}, 'Heads'), el('div', { id: 'heads', class: 'plot' }));
  const right = el('div', { class: 'plot' });
  right.append(el('h2', {}, 'MLPs and other parts'), el('div', { id: 'parts', class: 'plot' }));
  row.append(left, right);
  byId('app').append(
    bar,
    el('p', { id: 'status', role: 'status', class: 'muted' }),
    el('section', { id: 'tokens', class: 'tokens', 'aria-label': 'Prompt tokens: click one to explain the prediction after it' }),
    el('p', { id: 'sum', class: 'sum' }),
    row,
  );
  target.value = state.target ?? '';
  baseline.value = state.baseline ?? '';
}

/** The first token of the first word typed in a target field. */
async function typedToken(field: string | undefined): Promise<{ id: number; note?: string } | undefined> {
  const word = parseTargets(field ?? '')[0];
  return word === undefined ? undefined : page.firstToken(word);
}

async function run(): Promise<void> {
  const subject = page.subject;
  if (!subject) return;
  await page.latest('Attributing…', async (isCurrent) => {
    let target = await typedToken(state.target);
    const baseline = await typedToken(state.baseline);
    if (!target) {
      // No target typed: explain the model's own top prediction (the last row of the lens is the model's output).
      const lens = await rpc.call('lens/run', { stream: 'post', targets: [] });
      const pos = state.position ?? lens.tokens.length - 1;
      const top = lens.top[lens.top.length - 1]?.[Math.min(pos, lens.tokens.length - 1)]?.[0];
      if (!top) throw new Error('The prompt has no tokens.');
      await rpc.call('tokenize', { text: top.text });
      target = { id: top.id };
    }
    const v = await rpc.call('dla/run', { target: target.id, baseline: baseline?.id, position: state.position });
    if (!isCurrent()) return;
    view = v;
    draw();
    const notes = [target.note, baseline?.note].filter(Boolean).join('; ');
    page.status(`${targetLabel(v)} at position ${v.position} (after “${displayToken(v.tokens[v.position]?.text ?? '')}”) · ${subject.modelName}. Click a token to explain the prediction after it. ${notes}`);
  });
}

function draw(): void {
  if (!view) return;
  const v = view;
  const theme = readTheme();
  page.tokenStrip(byId('tokens'), v.tokens, v.position, (pos) => {
    state.position = pos;
    page.save();
    void run();
  });
  const sum = byId('sum');
  const b = (s: string) => el('b', {}, s);
  sum.replaceChildren(
    document.createTextNode('Sum of parts: '),
    b(partsSum(v).toFixed(4)),
    document.createTextNode(' · model '),
    document.createTextNode(targetLabel(v)),
    document.createTextNode(': '),
    b(v.logit.toFixed(4)),
    document.createTextNode(` · difference ${Math.abs(partsSum(v) - v.logit).toExponential(1)}`),
  );
  sum.dataset.sum = String(partsSum(v));
  sum.dataset.logit = String(v.logit);
  const heat = headHeatmap(v, theme);
  const heads = byId('heads');
  const ranked = dlaParts(v).filter((p) => p.group === 'head' && p.value > 0).sort((a, b) => b.value - a.value);
  heads.dataset.positive = ranked.map((p) => p.label).join(',');
  // A model without per-head parts (its attention output is one part per layer, in the bars): no Heads section.
  byId('heads-box').hidden = !heat;
  if (heat) void drawPlot(heads, heat);
  void drawPlot(byId('parts'), otherPartsBars(v, theme));
}

layout();
void page.start();
