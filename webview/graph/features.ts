// The feature panel under the graph: for a selected feature (a node of the graph, or one found by the search
// box) its activation here, its dashboard (top activating contexts with tokens shaded by activation,
// examples per activation quantile, density and histogram, top and bottom logits), its top inputs and
// outputs on demand, and steering (Neuronpedia's Steer): a list of feature interventions on the graph's
// prompt, run by the host's `steer`, with the top next tokens and continuations before and after side by
// side. Everything comes from the host; nothing here names a path, and every text from a dashboard or the
// model goes in through textContent.
import type { FeatureDashboardView, FeatureDetailsReply, FeatureExampleView, GraphHostProtocol, GraphNotifications } from '../../src/shared/graphProtocol';
import { MAX_STEER_TOKENS } from '../../src/shared/graphProtocol';
import type { FeatureInputsResult, FeatureOutputsResult, FeatureSteer, SteerResult, SteerSide } from '../../src/shared/features';
import type { RpcEndpoint } from '../../src/shared/rpc';
import { byId, el } from '../common/dom';
import type { ValueElement } from '../common/controls';
import { select } from '../common/controls';

type Rpc = RpcEndpoint<Record<string, never>, GraphHostProtocol, Record<string, never>, GraphNotifications>;

/** A feature the panel shows: its address, and where it sits in this graph when it is a node of it. */
export interface FeatureTarget {
  layer: number;
  index: number;
  /** The graph node (position, activation, label) when the feature is in the graph. */
  node?: { id: string; position: number; activation: number | null; label: string };
}

export interface FeatureHost {
  rpc: Rpc;
  /** The graph's prompt tokens (positions for steering). */
  promptTokens(): string[];
  /** Why feature requests cannot run here (the graph's model is not loaded), or null. */
  modelNote(): string | null;
  /** Selects the graph node of a feature, if the graph has one (a click on a search result or an input). */
  selectFeature(layer: number, index: number): boolean;
}

const SHADE = 'rgba(255, 140, 0, ALPHA)';

/** One token of an example, shown with its whitespace visible and its activation as a background. */
function tokenSpan(text: string, act: number, max: number, centre: boolean): HTMLElement {
  const shown = text.replace(/\n/g, '↵').replace(/\t/g, '⇥') || '∅';
  const s = el('span', { class: centre ? 'tok centre' : 'tok', title: `${JSON.stringify(text)} · activation ${act.toFixed(3)}` }, shown);
  const a = max > 0 ? Math.max(0, Math.min(1, act / max)) : 0;
  if (a > 0) s.style.background = SHADE.replace('ALPHA', (0.12 + 0.78 * a).toFixed(3));
  return s;
}

function exampleRow(ex: FeatureExampleView, max: number): HTMLElement {
  const row = el('div', { class: 'ctx' });
  const top = Math.max(...ex.tokens_acts_list, 0);
  row.append(el('span', { class: 'ctx-act' }, top.toFixed(2)));
  const text = el('span', { class: 'ctx-text' });
  ex.tokens.forEach((t, k) => text.append(tokenSpan(t, ex.tokens_acts_list[k] ?? 0, max, k === ex.train_token_ind)));
  row.append(text);
  return row;
}

/** The histogram of active values as an SVG bar chart (the bars' heights on a square-root scale: counts span decades). */
function histogram(d: FeatureDashboardView): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const W = 240;
  const H = 64;
  svg.setAttribute('viewBox', `0 0 ${W} ${H + 14}`);
  svg.setAttribute('class', 'hist');
  svg.setAttribute('role', 'img');
  const counts = d.histogram.counts;
  const edges = d.histogram.bin_edges;
  svg.setAttribute('aria-label', `Histogram of active values from ${edges[0] ?? 0} to ${edges.at(-1) ?? 0}`);
  const top = Math.sqrt(Math.max(1, ...counts));
  const bw = W / Math.max(1, counts.length);
  counts.forEach((c, k) => {
    const h = (Math.sqrt(c) / top) * H;
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', String(k * bw + 0.5));
    r.setAttribute('y', String(H - h));
    r.setAttribute('width', String(Math.max(0.5, bw - 1)));
    r.setAttribute('height', String(h));
    const t = document.createElementNS(ns, 'title');
    t.textContent = `${(edges[k] ?? 0).toFixed(3)}–${(edges[k + 1] ?? 0).toFixed(3)}: ${c}`;
    r.append(t);
    svg.append(r);
  });
  for (const [x, v, anchor] of [[0, edges[0] ?? 0, 'start'], [W, edges.at(-1) ?? 0, 'end']] as const) {
    const t = document.createElementNS(ns, 'text');
    t.setAttribute('x', String(x));
    t.setAttribute('y', String(H + 12));
    t.setAttribute('text-anchor', anchor);
    t.textContent = v.toFixed(2);
    svg.append(t);
  }
  return svg;
}

function logitList(title: string, texts: string[], values: number[], cls: string): HTMLElement {
  const wrap = el('div', { class: `logits ${cls}` });
  wrap.append(el('h4', {}, title));
  const ol = el('ol');
  texts.forEach((t, k) => {
    const li = el('li');
    li.append(el('span', { class: 'tokchip' }, t.replace(/\n/g, '↵') || '∅'), el('span', { class: 'num' }, (values[k] ?? 0).toFixed(3)));
    ol.append(li);
  });
  wrap.append(ol);
  return wrap;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class FeaturePanel {
  private target: FeatureTarget | null = null;
  /** Interventions to run together (Neuronpedia's steering set). */
  private steering: FeatureSteer[] = [];
  private readonly body: HTMLElement;
  private readonly io: HTMLElement;
  private readonly results: HTMLElement;
  /** Each request bumps it: a late reply for an earlier feature is dropped. */
  private ticket = 0;
  /** The host answered a feature request: the loaded model is the graph's, whatever the view was told. */
  private confirmed = false;

  constructor(
    private readonly root: HTMLElement,
    private readonly host: FeatureHost,
  ) {
    root.append(this.searchBar());
    this.results = el('div', { id: 'feature-search-results', class: 'search-results' });
    this.body = el('div', { id: 'feature-body' });
    this.io = el('div', { id: 'feature-io', class: 'io' });
    root.append(this.results, this.body, this.steerSection());
    this.renderEmpty();
    this.renderSteering();
  }

  private searchBar(): HTMLElement {
    const bar = el('div', { class: 'feature-bar' });
    const field = el('vscode-textfield', { id: 'feature-search', placeholder: 'search features: a token ( Mary) or label text', title: 'Features that fire on a token or promote it, or whose label contains the text' }) as ValueElement;
    const by = select('feature-search-by', 'Search by', [['token', 'by token'], ['label', 'by label']], () => undefined);
    const go = el('vscode-button', { id: 'feature-search-go', secondary: '' }, 'Search');
    const run = () => void this.search(by.value as 'token' | 'label', field.value);
    go.addEventListener('click', run);
    field.addEventListener('keydown', (e) => {
      if ((e as KeyboardEvent).key === 'Enter') run();
    });
    const build = el('vscode-button', { id: 'build-dashboards', secondary: '', title: 'Run “MechLens: Build Feature Dashboards” (pick a corpus in VS Code)' }, 'Build dashboards…');
    build.addEventListener('click', () => void this.host.rpc.call('feature/buildDashboards', {}).catch((err: unknown) => this.note(errorText(err), true)));
    bar.append(el('h2', {}, 'Feature'), field, by, go, el('span', { class: 'spacer' }), build);
    return bar;
  }

  private note(text: string, error = false): void {
    const n = this.root.querySelector<HTMLElement>('#feature-note');
    if (!n) return;
    n.textContent = text;
    n.classList.toggle('error', error);
  }

  private renderEmpty(): void {
    const note = this.host.modelNote();
    this.body.replaceChildren(
      el('p', { id: 'feature-note', class: note ? 'muted warn' : 'muted' }, note ?? 'Select a feature node in the graph, or search for a feature, to see where it fires and what it writes.'),
    );
    this.root.dataset.feature = '';
  }

  /** Shows a feature: its place here at once, its dashboard when the host answers. */
  open(target: FeatureTarget | null): void {
    this.target = target;
    this.io.replaceChildren();
    if (!target) {
      this.renderEmpty();
      return;
    }
    this.root.dataset.feature = `${target.layer}/${target.index}`;
    delete this.root.dataset.details;
    const head = el('div', { class: 'feature-head' });
    const title = el('h3', { id: 'feature-title' }, `Layer ${target.layer} · feature ${target.index}${target.node?.label ? ` — ${target.node.label}` : ''}`);
    const here = target.node
      ? `In this graph at position ${target.node.position} (${JSON.stringify(this.host.promptTokens()[target.node.position] ?? '')}): activation ${target.node.activation === null ? '–' : target.node.activation.toFixed(3)}`
      : 'Not a node of this graph.';
    const actions = el('div', { class: 'row-buttons' });
    const button = (id: string, label: string, title: string, fn: () => void) => {
      const b = el('vscode-button', { id, secondary: '', title }, label);
      b.addEventListener('click', fn);
      actions.append(b);
    };
    button('feature-inputs', 'Top inputs', 'Direct effects on this feature at its position (the prompt’s last when it is not in the graph): one backward run', () => void this.loadInputs());
    button('feature-outputs', 'Top outputs', 'Virtual weights to later features, and the logits its decoder promotes', () => void this.loadOutputs());
    button('feature-steer-add', 'Add to steering', 'Add this feature to the steering set below', () => this.addToSteering());
    head.append(title, el('p', { class: 'muted' }, here), actions);
    const note = this.confirmed ? null : this.host.modelNote();
    // Top inputs and outputs go right under the header, above the (long) dashboard.
    this.body.replaceChildren(head, this.io, el('p', { id: 'feature-note', class: note ? 'muted warn' : 'muted' }, note ?? 'Loading the dashboard…'));
    if (!note) {
      void this.loadDetails();
      return;
    }
    // The graph's model is not (known to be) loaded: ask before loading one, and let the host say what is missing.
    const retry = el('vscode-button', { id: 'feature-retry', secondary: '', title: 'Load the active model and ask it for this feature' }, 'Try with the active model');
    retry.addEventListener('click', () => {
      this.note('Loading the dashboard…');
      void this.loadDetails();
    });
    this.body.append(retry);
  }

  /** New dashboards were built: read the open feature again. */
  refresh(source: string): void {
    if (this.target) this.reopen();
    else this.note(`Dashboards built on ${source}.`);
  }

  /** The open feature again (another model is loaded, or its dashboards changed). */
  reopen(): void {
    if (this.target) this.open(this.target);
  }

  private async loadDetails(): Promise<void> {
    const t = this.target;
    if (!t) return;
    const ticket = ++this.ticket;
    let reply: FeatureDetailsReply;
    try {
      reply = await this.host.rpc.call('feature/details', { layer: t.layer, index: t.index });
    } catch (err) {
      if (ticket === this.ticket) this.note(errorText(err), true);
      return;
    }
    if (ticket !== this.ticket) return;
    this.confirmed = true;
    this.root.dataset.source = reply.source;
    if (!reply.details) {
      this.note(`No dashboards: ${reply.source}. Build them with “Build dashboards…” (MechLens: Build Feature Dashboards).`, true);
      return;
    }
    this.renderDetails(reply.details, reply.source);
  }

  private renderDetails(d: FeatureDashboardView, source: string): void {
    const stats = el('div', { class: 'feature-stats' });
    const dl = el('dl');
    const row = (k: string, v: string) => dl.append(el('dt', {}, k), el('dd', {}, v));
    row('density', `${(d.activation_frequency * 100).toPrecision(3)}% of ${d.n_tokens.toLocaleString('en-US')} tokens`);
    row('active range', `${d.act_min.toFixed(3)} – ${d.act_max.toFixed(3)}`);
    row('active mean', d.act_mean.toFixed(3));
    stats.append(dl, el('h4', {}, 'Histogram of active values'), histogram(d));
    const logits = el('div', { class: 'logit-cols' });
    logits.append(logitList('Top logits', d.top_logits, d.top_logits_values, 'pos'), logitList('Bottom logits', d.bottom_logits, d.bottom_logits_values, 'neg'));
    stats.append(logits);
    const examples = el('div', { class: 'feature-examples' });
    const [top, ...quantiles] = d.examples_quantiles;
    examples.append(el('h4', {}, `${top?.quantile_name ?? 'Top activations'} (tokens shaded by activation; the chosen token underlined)`));
    const list = el('div', { id: 'feature-contexts', class: 'ctx-list' });
    for (const ex of top?.examples ?? []) if (!ex.is_repeated_datapoint) list.append(exampleRow(ex, d.act_max));
    if (list.childElementCount === 0) list.append(el('p', { class: 'muted' }, 'The feature never fired on the corpus.'));
    examples.append(list);
    for (const q of quantiles) {
      const box = el('details', { class: 'quantile' });
      box.append(el('summary', {}, `${q.quantile_name} · ${q.examples.length} example${q.examples.length === 1 ? '' : 's'}`));
      for (const ex of q.examples) box.append(exampleRow(ex, d.act_max));
      examples.append(box);
    }
    const grid = el('div', { class: 'feature-grid' });
    grid.append(stats, examples);
    const head = this.body.querySelector('.feature-head');
    this.body.replaceChildren(...(head ? [head, this.io] : []), el('p', { id: 'feature-note', class: 'muted' }, `Dashboard ${source}.`), grid);
    this.root.dataset.details = `${d.layer}/${d.index}`;
  }

  private async search(by: 'token' | 'label', query: string): Promise<void> {
    const note = this.host.modelNote();
    this.results.replaceChildren(el('span', { class: 'muted' }, 'Searching…'));
    try {
      const r = await this.host.rpc.call('feature/search', { by, query });
      const row = (title: string, items: Array<{ layer: number; index: number; text: string }>) => {
        if (items.length === 0) return null;
        const wrap = el('div', { class: 'search-row' });
        wrap.append(el('span', { class: 'muted' }, `${title}:`));
        for (const it of items.slice(0, 12)) {
          const b = el('button', { class: 'chip', 'data-feature': `${it.layer}/${it.index}`, title: it.text }, `L${it.layer} #${it.index} ${it.text}`);
          b.addEventListener('click', () => {
            if (!this.host.selectFeature(it.layer, it.index)) this.open({ layer: it.layer, index: it.index });
          });
          wrap.append(b);
        }
        return wrap;
      };
      const rows = [
        row('fire on it', r.firing.map((f) => ({ ...f, text: f.act.toFixed(2) }))),
        row('promote it', r.promoting.map((f) => ({ ...f, text: f.weight.toFixed(2) }))),
        row('label', r.labels.map((f) => ({ ...f, text: f.label }))),
      ].filter((x): x is HTMLDivElement => x !== null);
      this.results.replaceChildren(el('div', { class: 'muted' }, `Features for ${r.searched}${rows.length ? '' : ': none'}${r.notes.length ? ` (${r.notes.join('; ')})` : ''}`), ...rows);
      this.results.dataset.count = String(r.firing.length + r.promoting.length + r.labels.length);
    } catch (err) {
      this.results.replaceChildren(el('span', { class: 'error' }, note ?? errorText(err)));
      this.results.dataset.count = '0';
    }
  }

  private async loadInputs(): Promise<void> {
    const t = this.target;
    if (!t) return;
    this.io.replaceChildren(el('span', { class: 'muted' }, 'Top inputs: one backward run…'));
    let r: FeatureInputsResult;
    try {
      r = await this.host.rpc.call('feature/inputs', { layer: t.layer, index: t.index, ...(t.node ? { position: t.node.position } : {}) });
    } catch (err) {
      this.io.replaceChildren(el('span', { class: 'error' }, errorText(err)));
      return;
    }
    const tokens = r.prompt.texts;
    const grid = el('div', { class: 'nb', id: 'inputs-list' });
    for (const inp of r.inputs.slice(0, 20)) {
      const label =
        inp.kind === 'feature'
          ? `L${inp.layer} #${inp.index} at ${inp.position} (act ${inp.act.toFixed(2)})`
          : inp.kind === 'error'
            ? `error L${inp.layer} at ${inp.position}`
            : `embedding ${JSON.stringify(inp.token)} at ${inp.position}`;
      const w = el('span', { class: inp.weight >= 0 ? 'w pos' : 'w neg' }, inp.weight.toPrecision(3));
      const b = el('button', { title: label }, label);
      if (inp.kind === 'feature') b.addEventListener('click', () => this.host.selectFeature(inp.layer, inp.index) || this.open({ layer: inp.layer, index: inp.index }));
      grid.append(w, b);
    }
    this.io.replaceChildren(el('h4', {}, `Top inputs at position ${r.position} (${JSON.stringify(tokens[r.position] ?? '')}): pre-activation ${r.preActivation.toFixed(3)}, activation ${r.activation.toFixed(3)}`), grid);
    this.io.dataset.kind = 'inputs';
  }

  private async loadOutputs(): Promise<void> {
    const t = this.target;
    if (!t) return;
    this.io.replaceChildren(el('span', { class: 'muted' }, 'Top outputs…'));
    let r: FeatureOutputsResult;
    try {
      r = await this.host.rpc.call('feature/outputs', { layer: t.layer, index: t.index });
    } catch (err) {
      this.io.replaceChildren(el('span', { class: 'error' }, errorText(err)));
      return;
    }
    const grid = el('div', { class: 'nb', id: 'outputs-list' });
    for (const f of r.features.slice(0, 20)) {
      const b = el('button', {}, `L${f.layer} #${f.index}`);
      b.addEventListener('click', () => this.host.selectFeature(f.layer, f.index) || this.open({ layer: f.layer, index: f.index }));
      grid.append(el('span', { class: f.weight >= 0 ? 'w pos' : 'w neg' }, f.weight.toPrecision(3)), b);
    }
    const logits = el('div', { class: 'logit-cols' });
    logits.append(
      logitList('Top logits', r.topLogits.map((x) => x.text), r.topLogits.map((x) => x.weight), 'pos'),
      logitList('Bottom logits', r.bottomLogits.map((x) => x.text), r.bottomLogits.map((x) => x.weight), 'neg'),
    );
    const cols = el('div', { class: 'feature-grid' });
    const left = el('div');
    left.append(el('h4', {}, 'Later features it writes to (virtual weights)'), grid);
    cols.append(left, logits);
    this.io.replaceChildren(cols);
    this.io.dataset.kind = 'outputs';
  }

  // ------------------------------------------------------------------ steering

  private steerSection(): HTMLElement {
    const sec = el('div', { id: 'steer', class: 'steer' });
    const mode = select('steer-mode', 'How the feature is changed', [['value', 'set to'], ['scale', 'scale by'], ['ablate', 'ablate']], (v) => {
      (byId('steer-value') as HTMLElement).hidden = v === 'ablate';
    });
    const value = el('vscode-textfield', { id: 'steer-value', placeholder: 'value', value: '10', title: 'The value to set, or the factor to scale by' }) as ValueElement;
    const positions = el('vscode-textfield', { id: 'steer-positions', placeholder: 'positions: all, or 3, 5-7', title: 'Prompt positions to change (all when empty)' }) as ValueElement;
    const generated = el('input', { type: 'checkbox', id: 'steer-generated', checked: '' });
    const freeze = el('input', { type: 'checkbox', id: 'steer-freeze' });
    const tokens = el('input', { type: 'number', id: 'steer-tokens', min: '1', max: String(MAX_STEER_TOKENS), value: '12', title: 'Tokens to generate' });
    const seed = el('input', { type: 'number', id: 'steer-seed', min: '0', placeholder: 'greedy', title: 'Empty: greedy; a number: sampled at temperature 1 with this seed' });
    const run = el('vscode-button', { id: 'steer-run' }, 'Steer');
    run.addEventListener('click', () => void this.runSteer());
    const clear = el('vscode-button', { id: 'steer-clear', secondary: '' }, 'Clear');
    clear.addEventListener('click', () => {
      this.steering = [];
      this.renderSteering();
    });
    const lab = (text: string, control: HTMLElement) => {
      const l = el('label', { class: 'inline' });
      l.append(control, document.createTextNode(text));
      return l;
    };
    const form = el('div', { class: 'steer-form' });
    form.append(mode, value, positions, lab(' on generated tokens', generated));
    const opts = el('div', { class: 'steer-form' });
    const n = el('label', { class: 'inline' });
    n.append(document.createTextNode('tokens '), tokens);
    const s = el('label', { class: 'inline' });
    s.append(document.createTextNode('seed '), seed);
    // Saved as the list `mechlens steer --features FILE` replays: the same validated intervention objects.
    const save = el('vscode-button', { id: 'steer-save', secondary: '', title: 'Save the steering set to a JSON file (mechlens steer --features reads it)' }, 'Save…');
    save.addEventListener('click', () => void this.saveSteering());
    const load = el('vscode-button', { id: 'steer-load', secondary: '', title: 'Load a saved steering set' }, 'Load…');
    load.addEventListener('click', () => void this.loadSteering());
    opts.append(lab(' freeze attention', freeze), n, s, run, clear, save, load);
    sec.append(el('h3', {}, 'Steering'), el('p', { class: 'muted' }, 'Pick how to change a feature, then “Add to steering” on it (several features run together); Steer generates from the graph’s prompt before and after.'), form, el('ul', { id: 'steer-list' }), opts, el('div', { id: 'steer-result' }));
    return sec;
  }

  /** "3, 5-7" → [3, 5, 6, 7]; empty or "all" → every position. */
  private parsePositions(text: string): number[] | undefined | string {
    const t = text.trim().toLowerCase();
    if (t === '' || t === 'all') return undefined;
    const n = this.host.promptTokens().length;
    const out = new Set<number>();
    for (const part of t.split(/[\s,]+/).filter(Boolean)) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (!m) return `“${part}” is not a position or range`;
      const a = Number(m[1]);
      const b = m[2] === undefined ? a : Number(m[2]);
      if (a > b || b >= n) return `positions run from 0 to ${n - 1}`;
      for (let p = a; p <= b; p++) out.add(p);
    }
    return [...out].sort((x, y) => x - y);
  }

  private addToSteering(): void {
    const t = this.target;
    if (!t) return;
    const mode = (byId('steer-mode') as ValueElement).value as 'value' | 'scale' | 'ablate';
    const raw = (byId('steer-value') as ValueElement).value.trim();
    const v = Number(raw);
    if (mode !== 'ablate' && (raw === '' || !Number.isFinite(v))) {
      this.steerNote('Give a number to set the feature to, or to scale it by.', true);
      return;
    }
    const positions = this.parsePositions((byId('steer-positions') as ValueElement).value);
    if (typeof positions === 'string') {
      this.steerNote(positions, true);
      return;
    }
    const generated = byId<HTMLInputElement>('steer-generated').checked;
    const entry: FeatureSteer = { layer: t.layer, index: t.index, ...(positions ? { positions } : {}), ...(generated ? { generated: true } : {}), ...(mode === 'ablate' ? { ablate: true } : mode === 'scale' ? { scale: v } : { value: v }) };
    // One entry per feature: adding it again replaces its settings.
    this.steering = [...this.steering.filter((s) => s.layer !== t.layer || s.index !== t.index), entry];
    this.renderSteering();
  }

  private async saveSteering(): Promise<void> {
    if (this.steering.length === 0) {
      this.steerNote('The steering set is empty: nothing to save.', true);
      return;
    }
    try {
      const r = await this.host.rpc.call('feature/saveSteering', { features: this.steering });
      if (r.path) this.steerNote(`Saved ${this.steering.length} intervention${this.steering.length === 1 ? '' : 's'} to ${r.path}.`);
    } catch (err) {
      this.steerNote(errorText(err), true);
    }
  }

  private async loadSteering(): Promise<void> {
    try {
      const r = await this.host.rpc.call('feature/loadSteering', {});
      if (!r) return;
      this.steering = r.features;
      this.renderSteering();
      this.steerNote(`Loaded ${r.features.length} intervention${r.features.length === 1 ? '' : 's'} from ${r.path}.`);
    } catch (err) {
      this.steerNote(errorText(err), true);
    }
  }

  private renderSteering(): void {
    const list = byId('steer-list');
    if (this.steering.length === 0) {
      list.replaceChildren(el('li', { class: 'muted' }, 'No feature in the steering set.'));
    } else {
      list.replaceChildren(
        ...this.steering.map((s, k) => {
          const what = s.ablate ? 'ablate' : s.scale !== undefined ? `× ${s.scale}` : `= ${s.value}`;
          const where = `${s.positions ? `positions ${s.positions.join(', ')}` : 'every prompt position'}${s.generated ? ' and generated tokens' : ''}`;
          const li = el('li', { 'data-steer': `${s.layer}/${s.index}` }, `L${s.layer} #${s.index} ${what} at ${where} `);
          const rm = el('button', { class: 'chip', title: 'Remove' }, '✕');
          rm.addEventListener('click', () => {
            this.steering = this.steering.filter((_, j) => j !== k);
            this.renderSteering();
          });
          li.append(rm);
          return li;
        }),
      );
    }
    byId('steer').dataset.count = String(this.steering.length);
  }

  private steerNote(text: string, error = false): void {
    const r = byId('steer-result');
    r.replaceChildren(el('p', { class: error ? 'error' : 'muted' }, text));
    delete r.dataset.changed;
  }

  private async runSteer(): Promise<void> {
    if (this.steering.length === 0) {
      this.steerNote('Add a feature to the steering set first (“Add to steering” on a selected feature).', true);
      return;
    }
    const n = Math.round(Number(byId<HTMLInputElement>('steer-tokens').value) || 12);
    const seedText = byId<HTMLInputElement>('steer-seed').value.trim();
    const seed = seedText === '' ? undefined : Math.round(Number(seedText));
    if (seed !== undefined && !(seed >= 0)) {
      this.steerNote('The seed is a non-negative whole number (or empty for greedy).', true);
      return;
    }
    this.steerNote('Steering…');
    let r: SteerResult;
    try {
      r = await this.host.rpc.call('feature/steer', {
        features: this.steering,
        freezeAttention: byId<HTMLInputElement>('steer-freeze').checked,
        maxNewTokens: Math.max(1, Math.min(MAX_STEER_TOKENS, n)),
        ...(seed !== undefined ? { seed, temperature: 1 } : {}),
      });
    } catch (err) {
      this.steerNote(errorText(err), true);
      return;
    }
    const side = (title: string, s: SteerSide, cls: string) => {
      const col = el('div', { class: `steer-side ${cls}` });
      const cont = el('p', { class: 'continuation' });
      cont.append(el('span', { class: 'muted' }, `…${r.prompt.texts.slice(-6).join('')}`), el('span', { class: 'new' }, s.newText));
      const ol = el('ol', { class: 'top-next' });
      for (const t of s.top.slice(0, 8)) {
        const li = el('li');
        li.append(el('span', { class: 'tokchip' }, t.text.replace(/\n/g, '↵') || '∅'), el('span', { class: 'num' }, `${(t.prob * 100).toFixed(1)}%`));
        ol.append(li);
      }
      col.append(el('h4', {}, title), el('div', { class: 'muted' }, 'Continuation'), cont, el('div', { class: 'muted' }, 'Top next tokens'), ol);
      return col;
    };
    const changed = r.before.newText !== r.after.newText;
    const box = byId('steer-result');
    const grid = el('div', { class: 'steer-grid' });
    grid.append(side('Before', r.before, 'before'), side('After (steered)', r.after, 'after'));
    box.replaceChildren(el('p', { class: 'muted' }, `${r.interventions.length} engine intervention${r.interventions.length === 1 ? '' : 's'}; the continuation ${changed ? 'changed' : 'did not change'}.`), grid);
    box.dataset.changed = String(changed);
    box.dataset.before = r.before.newText;
    box.dataset.after = r.after.newText;
  }
}
