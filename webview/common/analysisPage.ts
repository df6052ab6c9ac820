// The scaffold every analysis panel (logit lens, attention, DLA) stands on, so a new view writes only its
// layout, its run (one request to the host) and its draw: the RPC to the host, UI state kept across
// reloads, the panel's prompt ("subject") and its source line, a guard that drops replies to superseded
// requests, the focused position, export buttons saved through the host, typed-token lookup, and redraws
// on theme changes and resizes.
import Plotly from 'plotly.js-strict-dist-min';
import type { AnalysisHostProtocol, AnalysisNotifications, AnalysisState, ExportFormat, Subject } from '../../src/shared/analysisProtocol';
import type { RpcEndpoint } from '../../src/shared/rpc';
import { displayToken } from '../../src/shared/tokenText';
import { byId, el } from './dom';
import { InterventionBar, errorText } from './interventionBar';
import { connectToHost } from './rpc';
import { onThemeChange } from './theme';
import { exportButtons, renderTokenStrip, setStatus } from './viewKit';
import { getState, setState } from './vscodeApi';

export type AnalysisRpc = RpcEndpoint<Record<string, never>, AnalysisHostProtocol, Record<string, never>, AnalysisNotifications>;

export interface AnalysisPageOptions {
  /** Asks the host for the analysis of the current subject (call it inside `latest`). */
  run(): Promise<void>;
  /** Draws the last result again (theme change, focus change). */
  redraw(): void;
  /** The status line when there is no prompt yet: how to open one. */
  emptyHint: string;
  /** Ids of plot elements to resize with the window. */
  plots: string[];
}

export class AnalysisPage<S extends AnalysisState = AnalysisState> {
  readonly rpc: AnalysisRpc = connectToHost<AnalysisHostProtocol, AnalysisNotifications>();
  /** UI state kept across reloads (small, never tensors); `save()` stores it with the prompt text. */
  readonly state: S = getState<S>() ?? ({} as S);
  subject: Subject | null = null;
  private request = 0;
  /** Chips of the interventions every view shares, the before/after comparison and the token menu. */
  readonly interventions: InterventionBar;

  constructor(private readonly options: AnalysisPageOptions) {
    this.interventions = new InterventionBar(this.rpc, {
      dims: () => (this.subject ? { nLayers: this.subject.nLayers, nHeads: this.subject.nHeads } : null),
      onChange: () => {
        if (this.subject) void this.options.run();
      },
      onError: (message) => this.status(message, true),
    });
  }

  /** The prompt's tokens as chips: a click focuses a position, a right-click opens the intervention menu. */
  tokenStrip(container: HTMLElement, tokens: ReadonlyArray<{ id: number; text: string }>, focus: number | undefined, onFocus: (pos: number) => void): void {
    renderTokenStrip(container, tokens, focus, onFocus, (chip, pos, text) => this.interventions.attachToken(chip, pos, text));
  }

  status(text: string, error = false): void {
    setStatus(byId('status'), text, error);
  }

  save(): void {
    setState<S>({ ...this.state, text: this.subject?.text });
  }

  /** Focuses a token position in every plot of the view. */
  focus(position: number): void {
    this.state.focus = position;
    this.save();
    this.options.redraw();
  }

  /**
   * Runs `work` as the newest request: once a later request starts, `isCurrent()` turns false and this
   * one's result or error is dropped. A completed newest request marks `#app[data-ready]` (tests wait on it).
   */
  async latest(busy: string, work: (isCurrent: () => boolean) => Promise<void>): Promise<void> {
    const mine = ++this.request;
    const isCurrent = () => mine === this.request;
    this.status(busy);
    try {
      await work(isCurrent);
      if (isCurrent()) {
        byId('app').dataset.ready = String(mine);
        void this.interventions.refreshComparison();
      }
    } catch (err) {
      if (isCurrent()) this.status(errorText(err), true);
    }
  }

  /** The first token of a typed word, with a note when the word is several tokens. */
  async firstToken(word: string): Promise<{ id: number; text: string; note?: string } | undefined> {
    const tokens = await this.rpc.call('tokenize', { text: word });
    const first = tokens[0];
    if (!first) return undefined;
    const note = tokens.length > 1 ? `“${displayToken(word)}” is ${tokens.length} tokens; using the first, “${displayToken(first.text)}”` : undefined;
    return { id: first.id, text: first.text, note };
  }

  /** PNG/SVG of `plot()` and JSON/CSV of `data()`, saved through the host's save dialog. */
  exportButtons(name: string, plot: () => HTMLElement | undefined, data: () => { json: string; csv: string } | undefined): HTMLElement {
    const save = async (format: ExportFormat, file: string, text: string) => {
      const r = await this.rpc.call('export/save', { format, name: file, data: text });
      if (r.path) this.status(`Saved ${r.path}`);
    };
    const group = exportButtons(name, plot, data, save, (message) => this.status(message, true));
    const experiment = el('vscode-button', { secondary: '', id: 'save-experiment', title: 'Save this analysis (prompt, settings, active interventions and result) as an experiment file: re-run and diff it later' }, 'Save as Experiment…');
    experiment.addEventListener('click', () => {
      this.rpc.call('experiment/save', {}).then(
        (r) => r.path && this.status(`Saved ${r.path}`),
        (err: unknown) => this.status(errorText(err), true),
      );
    });
    group.append(experiment);
    return group;
  }

  /** Wires the page to the host (subject updates, engine errors), the theme and the window; asks for the subject. */
  async start(): Promise<void> {
    this.rpc.onNotification({
      'subject/update': (subject) => this.showSubject(subject),
      'engine/error': ({ message }) => this.status(message, true),
    });
    onThemeChange(() => this.options.redraw());
    document.getElementById('tokens')?.after(this.interventions.element);
    await this.interventions.load();
    window.addEventListener('resize', () => {
      for (const id of this.options.plots) {
        const node = document.getElementById(id);
        if (node) Plotly.Plots.resize(node);
      }
    });
    try {
      this.showSubject(await this.rpc.call('subject/get', {}));
    } catch (err) {
      this.status(errorText(err), true);
    }
  }

  private showSubject(subject: Subject | null): void {
    this.subject = subject;
    this.save();
    byId('source').textContent = subject ? `${subject.source} · ${subject.modelName}` : '';
    if (subject) void this.options.run();
    else this.status(this.options.emptyHint);
  }
}

export { errorText };
