// Click-to-patch in every view: the intervention chips (removable, with undo and clear), the before/after
// comparison of the view's prompt (Δ logit and Δ probability of the top tokens, KL to the clean run), and
// the compact menu a token opens (right-click, or the "Intervene…" button on the focused token): zero /
// mean / resample ablation or a patch from the counterfactual, at a site (residual pre / mid / post,
// attention output, a head's output / q / k / v / pattern, MLP output), at one layer, a range or all; or at a
// transcoder feature (typed, or picked among the features active at the token), off, at its mean, resampled,
// patched, set or scaled.
// The state lives in the host (one for all views); this module only renders it and sends requests.
// Token text goes in through textContent (untrusted model output).
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { Comparison, InterventionHostProtocol, InterventionStateView } from '../../src/shared/interventionProtocol';
import { FEATURE_KINDS, FEATURE_KIND_LABELS, FEATURE_SITE_LABEL, FEATURE_VALUE_PROMPTS, KIND_LABELS, SITE_LABELS, UI_KINDS, UI_SITES, activeFeatureList, featureName, isHeadSite } from '../../src/shared/patchUi';
import type { FeatureKind, UiIntervention, UiKind, UiSite } from '../../src/shared/patchUi';
import type { FeatureSitesView } from '../../src/shared/interventionProtocol';
import { displayToken, formatProb } from '../../src/shared/tokenText';
import { labelled, select } from './controls';
import type { ValueElement } from './controls';
import { el } from './dom';

/** The part of a view's RPC endpoint this module uses. */
export interface InterventionRpc {
  call<K extends keyof InterventionHostProtocol & string>(method: K, params: InterventionHostProtocol[K]['params']): Promise<InterventionHostProtocol[K]['result']>;
  onNotification(handlers: { 'interventions/update'?: (v: InterventionStateView) => void }): { dispose(): void };
}

export interface InterventionBarOptions {
  /** The model's shape, for the layer and head pickers (null before a prompt is shown). */
  dims(): { nLayers: number; nHeads: number } | null;
  /** Called after the state changed (the view re-runs its analysis under it). */
  onChange(state: InterventionStateView): void;
  /** Shows an error in the view's status line. */
  onError(message: string): void;
  /** The caption when no intervention is active (default: how to add one from a token). */
  emptyHint?: string;
}

const CSS = `
.iv-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 6px 0; min-height: 26px; }
.iv-bar .iv-caption { color: var(--vscode-descriptionForeground); }
.iv-chip { display: inline-flex; align-items: center; gap: 4px; padding: 1px 2px 1px 8px; border-radius: 11px; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); font-size: 0.92em; white-space: pre; }
.iv-chip button { border: none; background: transparent; color: inherit; cursor: pointer; padding: 0 6px; border-radius: 9px; font-size: 1.05em; line-height: 1.2; }
.iv-chip button:hover, .iv-chip button:focus-visible { background: var(--vscode-toolbar-hoverBackground, #8884); outline: none; }
.iv-compare { margin: 4px 0 8px; overflow-x: auto; }
.iv-compare table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
.iv-compare th { text-align: right; font-weight: 600; color: var(--vscode-descriptionForeground); padding: 1px 8px; }
.iv-compare th:first-child, .iv-compare td:first-child { text-align: left; font-family: var(--vscode-editor-font-family); white-space: pre; }
.iv-compare td { text-align: right; padding: 1px 8px; white-space: nowrap; }
.iv-compare .up { color: var(--vscode-charts-green, var(--vscode-testing-iconPassed)); }
.iv-compare .down { color: var(--vscode-charts-red, var(--vscode-errorForeground)); }
.iv-compare .kl { margin: 2px 0; }
.iv-menu { position: absolute; z-index: 20; min-width: 260px; padding: 10px 12px; display: flex; flex-direction: column; gap: 8px;
  background: var(--vscode-editorWidget-background, var(--vscode-editor-background)); color: var(--vscode-editorWidget-foreground, var(--vscode-foreground));
  border: 1px solid var(--vscode-editorWidget-border, var(--vscode-widget-border, #8886)); border-radius: 4px; box-shadow: 0 2px 8px var(--vscode-widget-shadow, #0005); }
.iv-menu h3 { margin: 0; font-size: 1em; font-weight: 600; white-space: pre; }
.iv-menu label { display: flex; align-items: center; justify-content: space-between; gap: 8px; color: var(--vscode-descriptionForeground); }
.iv-menu vscode-single-select { width: 170px; }
.iv-menu .iv-layers { display: flex; gap: 6px; }
.iv-menu .iv-layers vscode-single-select { width: 82px; }
.iv-menu [hidden] { display: none !important; }
.iv-menu vscode-textfield { width: 170px; }
.iv-menu .iv-reason { margin: 0; max-width: 330px; white-space: normal; font-size: 0.92em; color: var(--vscode-descriptionForeground); }
.iv-menu .iv-actions { display: flex; gap: 8px; justify-content: flex-end; }
.token.iv-target { text-decoration: underline wavy var(--vscode-charts-orange, orange); text-underline-offset: 3px; }
`;

let styled = false;
function injectStyles(): void {
  if (styled) return;
  styled = true;
  const style = document.createElement('style');
  style.textContent = CSS;
  document.head.append(style);
}

function fmt(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '–';
}

function signed(x: number, digits = 3): string {
  return `${x > 0 ? '+' : x < 0 ? '−' : '±'}${Math.abs(x).toFixed(digits)}`;
}

function deltaProb(d: number): string {
  return `${d > 0 ? '+' : d < 0 ? '−' : '±'}${formatProb(Math.abs(d))}`;
}

/** The comparison table: one row per token, clean → patched, with the deltas. */
export function renderComparison(container: HTMLElement, c: Comparison | null): void {
  if (!c) {
    container.replaceChildren();
    return;
  }
  const table = el('table', { 'aria-label': 'Next-token logits and probabilities, clean and under the interventions' });
  const head = el('tr');
  const columns: Array<[string, string]> = [
    ['Token', 'The top tokens of the clean and the patched run'],
    ['logit clean → patched', 'The token\'s logit without and with the interventions'],
    ['Δ logit', 'patched − clean'],
    ['p clean → patched', 'The token\'s probability without and with the interventions'],
    ['Δ p', 'patched − clean'],
  ];
  for (const [h, title] of columns) head.append(el('th', { title }, h));
  table.append(head);
  for (const r of c.rows) {
    const dl = r.patchedLogit - r.cleanLogit;
    const dp = r.patchedProb - r.cleanProb;
    const row = el('tr', { 'data-token-id': String(r.id) });
    row.append(
      el('td', { title: `id ${r.id}` }, displayToken(r.text)),
      el('td', {}, `${fmt(r.cleanLogit)} → ${fmt(r.patchedLogit)}`),
      el('td', { class: dl > 0 ? 'up' : dl < 0 ? 'down' : '' }, signed(dl)),
      el('td', {}, `${formatProb(r.cleanProb)} → ${formatProb(r.patchedProb)}`),
      el('td', { class: dp > 0 ? 'up' : dp < 0 ? 'down' : '' }, deltaProb(dp)),
    );
    table.append(row);
  }
  const kl = el('p', { class: 'kl muted', 'data-kl': String(c.kl) }, `KL(clean ‖ patched) = ${c.kl.toPrecision(3)} nats at the last position (${c.position}).`);
  container.replaceChildren(kl, table);
}

export class InterventionBar {
  readonly element = el('section', { class: 'iv', 'aria-label': 'Interventions' });
  private readonly chips = el('div', { class: 'iv-bar', id: 'iv-chips' });
  private readonly compare = el('div', { class: 'iv-compare', id: 'iv-compare' });
  private menu: HTMLElement | undefined;
  state: InterventionStateView = { chips: [], canUndo: false, counterfactual: null, randomInit: null, reference: null };
  private compareRequest = 0;
  /** When this page's last Apply was clicked (performance.now()), until its comparison is drawn. */
  private appliedAt: number | undefined;
  /** The last menu's choices, offered again. */
  private last: { kind: UiKind; site: UiSite | 'feature'; from: number; to: number; head?: number; all: boolean; fkind: FeatureKind; feature?: number; value?: number } = {
    kind: 'zero',
    site: 'mlp_out',
    from: 0,
    to: 0,
    all: false,
    fkind: 'zero',
  };

  constructor(
    private readonly rpc: InterventionRpc,
    private readonly options: InterventionBarOptions,
  ) {
    injectStyles();
    this.element.append(this.chips, this.compare);
    rpc.onNotification({ 'interventions/update': (v) => this.update(v) });
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.closeMenu();
    });
    document.addEventListener('mousedown', (e) => {
      if (this.menu && !this.menu.contains(e.target as Node)) this.closeMenu();
    });
    this.renderChips();
  }

  /** Asks the host for the state (on start). */
  async load(): Promise<void> {
    try {
      this.update(await this.rpc.call('interventions/get', {}), false);
    } catch (err) {
      this.options.onError(errorText(err));
    }
  }

  private update(v: InterventionStateView, notify = true): void {
    this.state = v;
    this.renderChips();
    if (notify) this.options.onChange(v);
    else void this.refreshComparison();
  }

  /** Recomputes the before/after comparison of the view's prompt (call after the view re-ran). */
  async refreshComparison(): Promise<void> {
    const mine = ++this.compareRequest;
    if (this.state.chips.length === 0) {
      renderComparison(this.compare, null);
      this.compare.dataset.ready = String(mine);
      return;
    }
    try {
      const c = await this.rpc.call('interventions/compare', {});
      if (mine !== this.compareRequest) return;
      renderComparison(this.compare, c);
      this.compare.dataset.ready = String(mine);
      if (this.appliedAt !== undefined) {
        // Click-to-patch latency as the user sees it: Apply -> host -> chip in every view -> comparison drawn here.
        this.compare.dataset.roundTripMs = (performance.now() - this.appliedAt).toFixed(1);
        this.appliedAt = undefined;
      }
    } catch (err) {
      if (mine === this.compareRequest) {
        renderComparison(this.compare, null);
        this.options.onError(errorText(err));
      }
    }
  }

  private renderChips(): void {
    const items: HTMLElement[] = [el('span', { class: 'iv-caption' }, this.state.chips.length ? 'Interventions:' : (this.options.emptyHint ?? 'No interventions: right-click a token to ablate or patch it.'))];
    for (const c of this.state.chips) {
      const chip = el('span', { class: 'iv-chip', 'data-chip-id': String(c.id) });
      chip.append(el('span', { class: 'iv-label' }, c.label));
      const remove = el('button', { title: 'Remove this intervention', 'aria-label': `Remove ${c.label}`, 'data-remove': String(c.id) }, '×');
      remove.addEventListener('click', () => void this.send(() => this.rpc.call('interventions/remove', { id: c.id })));
      chip.append(remove);
      items.push(chip);
    }
    const undo = el('vscode-button', { secondary: '', id: 'iv-undo', title: 'Undo the last change to the interventions' }, 'Undo');
    undo.toggleAttribute('disabled', !this.state.canUndo);
    undo.addEventListener('click', () => void this.send(() => this.rpc.call('interventions/undo', {})));
    items.push(undo);
    // The host opens the file dialog and reads the subspace: this page sends no path and no numbers.
    const subspace = el('vscode-button', { secondary: '', id: 'iv-subspace', title: 'Add a saved subspace (mechlens das --out, or the Causal panel’s Save subspace…): patch it from the counterfactual, project it out, or steer along it' }, 'Subspace…');
    subspace.addEventListener('click', () => void this.send(async () => (await this.rpc.call('interventions/addSubspace', {})) ?? this.state));
    items.push(subspace);
    if (this.state.chips.length) {
      const clear = el('vscode-button', { secondary: '', id: 'iv-clear', title: 'Remove every intervention' }, 'Clear');
      clear.addEventListener('click', () => void this.send(() => this.rpc.call('interventions/clear', {})));
      items.push(clear);
    }
    const random = el('vscode-checkbox', { id: 'iv-random', label: 'random-init control', title: 'Run every view on this architecture with re-initialised weights (seed 0): what a finding looks like without training' }) as HTMLElement & { checked: boolean };
    random.checked = this.state.randomInit !== null;
    random.addEventListener('change', () => void this.send(() => this.rpc.call('interventions/randomInit', random.checked ? { seed: 0 } : {})));
    items.push(random);
    this.chips.replaceChildren(...items);
    this.chips.dataset.count = String(this.state.chips.length);
    this.chips.dataset.randomInit = this.state.randomInit === null ? '' : String(this.state.randomInit);
  }

  private async send(request: () => Promise<InterventionStateView>): Promise<void> {
    try {
      // The host notifies every view (this one included) of the new state; the reply needs no handling.
      await request();
    } catch (err) {
      this.options.onError(errorText(err));
    }
  }

  /** Adds a spec directly (e.g. a sweep cell). */
  add(spec: UiIntervention): Promise<void> {
    return this.send(() => this.rpc.call('interventions/add', { spec }));
  }

  /** Lets a token element open the menu on right-click. */
  attachToken(node: HTMLElement, position: number, text: string): void {
    node.addEventListener('contextmenu', (e) => {
      e.preventDefault();
      this.openMenu(position, text, node);
    });
    node.classList.toggle('iv-target', this.state.chips.some((c) => c.spec.positions?.includes(position)));
  }

  /** Marks the tokens under `root` that an active intervention targets (after the state changed). */
  markTokens(root: HTMLElement): void {
    for (const node of Array.from(root.querySelectorAll<HTMLElement>('.token[data-pos]'))) {
      const pos = Number(node.dataset.pos);
      node.classList.toggle('iv-target', this.state.chips.some((c) => c.spec.positions?.includes(pos)));
    }
  }

  closeMenu(): void {
    this.menu?.remove();
    this.menu = undefined;
  }

  /** The compact control: kind, site, layers (one, a range or all), head, this token or all positions. */
  openMenu(position: number, tokenText: string, anchor: HTMLElement): void {
    this.closeMenu();
    const dims = this.options.dims();
    if (!dims) return;
    const { nLayers, nHeads } = dims;
    const last = this.last;
    const menu = el('div', { class: 'iv-menu', id: 'iv-menu', role: 'dialog', 'aria-label': 'Intervene on a token' });
    menu.append(el('h3', {}, `Intervene on “${displayToken(tokenText)}” @${position}`));
    const kind = select('iv-kind', 'What replaces the activation', UI_KINDS.map((k) => [k, KIND_LABELS[k]] as const), () => undefined);
    const site = select('iv-site', 'Which activation', [...UI_SITES.map((s) => [s, SITE_LABELS[s]] as const), ['feature', FEATURE_SITE_LABEL] as const], () => syncSite());
    const feature = this.featureControls(position, nLayers, site, menu);
    const layerOptions = Array.from({ length: nLayers }, (_, l) => [String(l), `L${l}`] as const);
    const from = select('iv-from', 'First layer', [['all', 'all'], ...layerOptions], () => syncTo());
    const to = select('iv-to', 'Last layer', layerOptions, () => undefined);
    const head = select('iv-head', 'Head (head sites)', [['all', 'all heads'], ...Array.from({ length: nHeads }, (_, h) => [String(h), `H${h}`] as const)], () => undefined);
    const all = el('vscode-checkbox', { id: 'iv-all', label: 'all positions' }) as HTMLElement & { checked: boolean };
    const headRow = labelled('Head', head);
    const kindRow = labelled('Replace with', kind);
    const syncSite = () => {
      const isFeature = site.value === 'feature';
      headRow.hidden = isFeature || !isHeadSite(site.value as UiSite);
      kindRow.hidden = isFeature;
      layersRow.hidden = isFeature;
      feature.sync(isFeature);
    };
    const toRow = el('span', { class: 'iv-layers' });
    const syncTo = () => {
      to.toggleAttribute('disabled', from.value === 'all');
      if (from.value !== 'all' && Number(to.value) < Number(from.value)) to.value = from.value;
    };
    toRow.append(from, el('span', { class: 'muted' }, 'to'), to);
    const layersRow = el('label', {}, 'Layers');
    layersRow.append(toRow);
    const apply = el('vscode-button', { id: 'iv-apply' }, 'Apply');
    const cancel = el('vscode-button', { secondary: '', id: 'iv-cancel' }, 'Cancel');
    cancel.addEventListener('click', () => this.closeMenu());
    apply.addEventListener('click', () => {
      if (site.value === 'feature') {
        const spec = feature.spec(all.checked ? undefined : [position]);
        if (!spec) return;
        this.last = { ...this.last, site: 'feature', fkind: spec.kind, from: spec.layer, to: spec.layer, feature: spec.feature, value: spec.value, all: all.checked };
        this.closeMenu();
        this.appliedAt = performance.now();
        void this.add(spec);
        return;
      }
      const allLayers = from.value === 'all';
      const spec: UiIntervention = {
        kind: kind.value as UiKind,
        site: site.value as UiSite,
        from: allLayers ? 0 : Number(from.value),
        to: allLayers ? nLayers - 1 : Math.max(Number(from.value), Number(to.value)),
        ...(all.checked ? {} : { positions: [position] }),
        ...(isHeadSite(site.value as UiSite) && head.value !== 'all' ? { head: Number(head.value) } : {}),
      };
      this.last = { ...this.last, kind: spec.kind, site: spec.site, from: spec.from, to: spec.to, head: spec.head, all: all.checked };
      this.closeMenu();
      this.appliedAt = performance.now();
      void this.add(spec);
    });
    const actions = el('div', { class: 'iv-actions' });
    actions.append(cancel, apply);
    menu.append(labelled('Site', site), feature.reason, kindRow, ...feature.rows, layersRow, headRow, all, actions);
    document.body.append(menu);
    const r = anchor.getBoundingClientRect();
    menu.style.left = `${Math.max(4, Math.min(window.scrollX + r.left, window.scrollX + document.documentElement.clientWidth - menu.offsetWidth - 8))}px`;
    menu.style.top = `${window.scrollY + r.bottom + 4}px`;
    this.menu = menu;
    // The elements' values are set once they are in the page (their options are read on connect).
    requestAnimationFrame(() => {
      kind.value = last.kind;
      site.value = last.site;
      from.value = last.from === 0 && last.to === nLayers - 1 && nLayers > 1 ? 'all' : String(Math.min(last.from, nLayers - 1));
      to.value = String(Math.min(last.to, nLayers - 1));
      head.value = last.head === undefined ? 'all' : String(Math.min(last.head, nHeads - 1));
      all.checked = last.all;
      feature.restore(last);
      syncSite();
      syncTo();
    });
  }

  /**
   * The feature site's controls: what the activation becomes, the layer, the index (typed, or picked among the
   * features most active at this token, which the host computes on the view's prompt), and the value for set /
   * scale. A model without transcoders gets the site disabled, with the host's reason (how to get them).
   */
  private featureControls(position: number, nLayers: number, site: ValueElement, menu: HTMLElement) {
    const fkind = select('iv-fkind', 'What the feature\'s activation becomes', FEATURE_KINDS.map((k) => [k, FEATURE_KIND_LABELS[k]] as const), () => syncValue());
    const layer = select('iv-flayer', 'The transcoder layer', Array.from({ length: nLayers }, (_, l) => [String(l), `L${l}`] as const), () => undefined);
    const index = el('vscode-textfield', { id: 'iv-findex', placeholder: 'feature index', title: 'The feature\'s index in its layer: type it, or pick a feature active at this token' }) as ValueElement;
    const active = select('iv-factive', 'Features active at this token, largest activation first (picking one sets the layer and index)', [['', 'loading…']], (v) => {
      const [l, i] = v.split(':');
      if (l === undefined || i === undefined) return;
      layer.value = l;
      index.value = i;
    });
    const value = el('vscode-textfield', { id: 'iv-fvalue', placeholder: 'value', title: 'The activation to set, or the factor to scale by' }) as ValueElement;
    const reason = el('p', { class: 'iv-reason', id: 'iv-feature-reason', hidden: '' });
    const layerRow = el('label', {}, 'Feature');
    const layerPair = el('span', { class: 'iv-layers' });
    layerPair.append(layer, index);
    layerRow.append(layerPair);
    const valueRow = labelled('Value', value);
    const rows = [labelled('Becomes', fkind), labelled('Active here', active), layerRow, valueRow];
    let shown = false;
    const syncValue = () => {
      valueRow.hidden = !shown || (fkind.value !== 'set' && fkind.value !== 'scale');
    };
    const showSites = (v: FeatureSitesView) => {
      if (this.menu !== menu) return;
      if (!v.available) {
        site.querySelector('vscode-option[value="feature"]')?.setAttribute('disabled', '');
        reason.textContent = `Transcoder feature: ${v.reason}`;
        reason.hidden = false;
        if (site.value === 'feature') site.value = 'mlp_out';
        site.dispatchEvent(new Event('change'));
        return;
      }
      const options = activeFeatureList(v.active).map((f) => el('vscode-option', { value: `${f.layer}:${f.index}` }, `${featureName(f.layer, f.index)}  ${f.act.toFixed(2)}`));
      active.replaceChildren(el('vscode-option', { value: '' }, options.length ? `${options.length} active features…` : 'none active here'), ...options);
      active.dataset.count = String(options.length);
    };
    this.rpc.call('interventions/features', { position }).then(showSites, (err: unknown) => showSites({ available: false, reason: errorText(err) }));
    return {
      rows,
      reason,
      sync: (isFeature: boolean) => {
        shown = isFeature;
        for (const r of rows) r.hidden = !isFeature;
        syncValue();
      },
      restore: (last: InterventionBar['last']) => {
        fkind.value = last.fkind;
        layer.value = String(Math.min(last.from, nLayers - 1));
        if (last.feature !== undefined) index.value = String(last.feature);
        if (last.value !== undefined) value.value = String(last.value);
      },
      /** The spec, or undefined (with the problem shown) when the index or value is not a number. */
      spec: (positions: number[] | undefined): (UiIntervention & { site: 'feature' }) | undefined => {
        const i = index.value.trim();
        if (!/^\d+$/.test(i)) {
          this.options.onError('Type the feature\'s index (a non-negative integer), or pick a feature active at this token.');
          return undefined;
        }
        const k = fkind.value as FeatureKind;
        const valued = k === 'set' || k === 'scale';
        const x = Number(value.value.trim());
        if (valued && (value.value.trim() === '' || !Number.isFinite(x))) {
          this.options.onError(`Type ${FEATURE_VALUE_PROMPTS[k]}.`);
          return undefined;
        }
        return { site: 'feature', kind: k, layer: Number(layer.value), feature: Number(i), ...(positions ? { positions } : {}), ...(valued ? { value: x } : {}) };
      },
    };
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
