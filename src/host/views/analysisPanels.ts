// The analysis panels: logit lens, attention and direct logit attribution. One editor panel per kind,
// each showing one prompt (its "subject"); the webview asks for analyses through the RPC below, the host
// validates the params and runs them in the engine, superseding stale requests of the same kind.
// A panel whose prompt comes from a document follows that document's edits. Restored after a reload by
// a serializer that reads the prompt text kept in the webview's state.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type {
  AnalysisHostProtocol,
  AnalysisNotifications,
  AnalysisState,
  AnalysisViewKind,
  AttentionLayerView,
  AttentionView,
  DlaView,
  ExportFormat,
  LensView,
  Subject,
  TokenView,
} from '../../shared/analysisProtocol';
import type { ModelInfo } from '../../shared/protocol';
import { RpcError } from '../../shared/rpc';
import type { RpcEndpoint } from '../../shared/rpc';
import type { EngineClient } from '../engineClient';
import type { InterventionService } from '../interventions';
import { saveExperimentAs } from '../experimentEditor';
import type { AnalysisParams, AnalysisResults } from '../../shared/analyses';
import { errorMessage } from '../log';
import type { Log } from '../log';
import { validateAnalysisParams } from '../../shared/analysisProtocol';
import { connectWebview, renderShell, webviewOptions } from './webviewHost';
import { lensWindow, mergeLensParts } from '../../shared/lensPositions';
import type { Handlers } from '../../shared/rpc';

export const ANALYSIS_PANEL_TYPES: Record<AnalysisViewKind, string> = {
  lens: 'mechlens.lensPanel',
  attention: 'mechlens.attentionPanel',
  dla: 'mechlens.dlaPanel',
};

const TITLES: Record<AnalysisViewKind, string> = { lens: 'Logit lens', attention: 'Attention', dla: 'DLA' };

/** Where a panel's prompt comes from: a document (followed as it changes) or fixed text. */
export interface SubjectSource {
  text: string;
  source: string;
  uri?: string;
}

export interface AnalysisPanelDeps {
  extensionUri: vscode.Uri;
  engine: EngineClient;
  log: Log;
  /** Loads the active model (with progress); undefined when the user cancelled. */
  ensureModel: () => Promise<ModelInfo | undefined>;
  /** The intervention state every view shares; each analysis runs under it. */
  interventions: InterventionService;
}

type Rpc = RpcEndpoint<AnalysisHostProtocol, Record<string, never>, AnalysisNotifications, Record<string, never>>;

/** One panel of one kind. */
class AnalysisPanel implements vscode.Disposable {
  private rpc: Rpc | undefined;
  private disposables: vscode.Disposable[] = [];
  /** Texts of tokens this panel tokenized, to label target tokens. */
  private readonly tokenTexts = new Map<number, string>();
  /** Number of analysis results delivered, and the model of the last one (tests). */
  results = 0;
  resultModel: string | undefined;
  /** Saves the last analysis this panel showed (params with their interventions, and its result) as an experiment file. */
  private lastRun: { save: (info: ModelInfo) => Promise<string | null> } | undefined;
  /** The attention panel's last run (its params, the layer on screen, the prompt's length): layer switches and saving use it. */
  private attention: { params: AnalysisParams<'attention'>; layer: number; T: number } | undefined;

  constructor(
    readonly kind: AnalysisViewKind,
    readonly panel: vscode.WebviewPanel,
    public subject: SubjectSource,
    private readonly deps: AnalysisPanelDeps,
    onDispose: () => void,
  ) {
    const { extensionUri } = deps;
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'mechlens.svg');
    panel.webview.options = webviewOptions(extensionUri);
    panel.title = this.title();
    this.rpc = connectWebview(panel.webview, this.handlers(), validateAnalysisParams, this.disposables);
    panel.webview.html = renderShell(panel.webview, extensionUri, kind, `MechLens: ${TITLES[kind]}`);
    this.disposables.push(
      deps.interventions.store.onDidChange((v) => this.rpc?.notify('interventions/update', v)),
      panel.onDidDispose(() => {
        this.rpc = undefined;
        for (const d of this.disposables) d.dispose();
        this.disposables = [];
        onDispose();
      }),
    );
  }

  private title(): string {
    return `${TITLES[this.kind]}: ${this.subject.source}`;
  }

  setSubject(subject: SubjectSource): void {
    this.subject = subject;
    this.panel.title = this.title();
    void this.currentSubject().then(
      (s) => s && this.rpc?.notify('subject/update', s),
      (err: unknown) => this.rpc?.notify('engine/error', { message: errorMessage(err) }),
    );
  }

  /**
   * The active model changed: what this panel knows of the old one (token texts, the attention run a layer
   * switch reuses, the analysis Save as Experiment would write) is dropped, and the page runs again on the new one.
   */
  modelChanged(): void {
    this.tokenTexts.clear();
    this.attention = undefined;
    this.lastRun = undefined;
    this.setSubject(this.subject);
  }

  private async model(): Promise<ModelInfo> {
    const info = await this.deps.ensureModel();
    if (!info) throw new RpcError('cancelled', 'No model is loaded.');
    return info;
  }

  /** Counts a delivered result (tests read `results` and `resultModel`). */
  private delivered(info: ModelInfo): void {
    this.results++;
    this.resultModel = info.name;
  }

  private async currentSubject(): Promise<Subject | null> {
    if (this.subject.text.trim().length === 0) return null;
    const info = await this.model();
    return { text: this.subject.text, source: this.subject.source, modelName: info.name, nLayers: info.nLayers, nHeads: info.nHeads };
  }

  private job<T>(name: string, signal: AbortSignal, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const job = this.deps.engine.jobs.start(`panel:${this.kind}:${name}`, signal);
    return run(job.signal).finally(() => job.done());
  }

  private handlers(): Handlers<AnalysisHostProtocol, AnalysisNotifications> {
    const engine = this.deps.engine;
    const tokensOf = (ids: number[], texts: string[]): TokenView[] => ids.map((id, i) => ({ id, text: texts[i] ?? '' }));
    const under = (signal: AbortSignal) => this.deps.interventions.compile(this.subject.text, signal);
    return {
      ...this.deps.interventions.handlers(() => (this.subject.text.trim() ? this.subject.text : null)),
      'subject/get': () => this.currentSubject(),
      tokenize: async ({ text }, ctx) => {
        await this.model();
        const t = await engine.call('tokenize', { text }, { signal: ctx.signal });
        t.ids.forEach((id, i) => this.tokenTexts.set(id, t.texts[i] ?? ''));
        return tokensOf(t.ids, t.texts);
      },
      'lens/run': ({ stream = 'pre', targets = [], visible }, ctx) =>
        this.job('lens', ctx.signal, async (signal): Promise<LensView> => {
          const info = await this.model();
          const params: AnalysisParams<'lens'> = { prompt: { text: this.subject.text }, stream, topK: 5, targets: targets.length ? targets : undefined, interventions: await under(signal) };
          const view = (r: AnalysisResults['lens'], partial?: boolean): LensView => ({
            labels: r.labels,
            tokens: tokensOf(r.prompt.ids, r.prompt.texts),
            top: r.top,
            targets: targets.map((id) => ({ id, text: this.tokenTexts.get(id) ?? `#${id}` })),
            targetStats: (r.targets ?? []).map((layer) => layer.map((pos) => pos.map(({ prob, rank }) => ({ prob, rank })))),
            stream,
            ...(partial ? { partial } : {}),
          });
          let r: AnalysisResults['lens'];
          const T = visible ? (await engine.call('tokenize', { text: this.subject.text }, { signal })).ids.length : 0;
          if (visible && visible.count < T) {
            // The positions on screen first (issue #13: the first paint waits for them only), then the others;
            // the engine keeps the residual streams between the two calls, so the forward runs once.
            const { start, end } = lensWindow(T, visible.count, visible.focus);
            const shown = Array.from({ length: end - start + 1 }, (_, i) => start + i);
            const first = await engine.call('analysis/lens', { ...params, positions: shown }, { signal });
            ctx.notify('lens/partial', view({ ...first, ...mergeLensParts([first], T) }, true));
            const rest = await engine.call('analysis/lens', { ...params, positions: Array.from({ length: T }, (_, p) => p).filter((p) => p < start || p > end) }, { signal });
            r = { ...first, ...mergeLensParts([first, rest], T) };
            delete r.positions;
          } else {
            r = await engine.call('analysis/lens', params, { signal });
          }
          if (this.kind === 'lens') this.lastRun = { save: (info) => saveExperimentAs(info, 'lens', params, r, 'logit-lens.mlexp.json', this.deps.log) };
          if (this.kind === 'lens') this.delivered(info); // the DLA panel also asks for the lens (its default target)
          return view(r);
        }),
      'attention/run': ({ layer = 0 }, ctx) =>
        this.job('attention', ctx.signal, async (signal): Promise<AttentionView> => {
          const info = await this.model();
          if (layer >= info.nLayers) throw new RpcError('bad-input', `layer ${layer} is out of range (the model has layers 0..${info.nLayers - 1})`);
          const params: AnalysisParams<'attention'> = { prompt: { text: this.subject.text }, interventions: await under(signal) };
          // Issue #13: never every layer's pattern at once (576 MiB at T = 1024 on GPT-2 small). The layer on screen
          // first (the first paint), then every layer's head scores without patterns; the engine keeps the prompt's
          // residual streams, so the forward runs once and a layer switch (`attention/layer`) runs one layer's attention.
          const first = await engine.call('analysis/attention', { ...params, layers: [layer], allScores: false }, { signal });
          const tokens = tokensOf(first.prompt.ids, first.prompt.texts);
          this.attention = { params, layer, T: first.prompt.ids.length };
          ctx.notify('attention/partial', { tokens, nLayers: info.nLayers, nHeads: first.nHeads, scores: first.scores, first: layerView(first, 0) });
          const all = await engine.call('analysis/attention', { ...params, layers: [], allScores: true }, { signal, onProgress: (message, fraction) => ctx.notify('attention/progress', { message, fraction }) });
          this.lastRun = { save: (info) => this.saveAttention(info) };
          this.delivered(info);
          return { tokens, nLayers: info.nLayers, nHeads: all.nHeads, scores: all.scores };
        }),
      'attention/layer': ({ layer }, ctx) =>
        this.job('attention-layer', ctx.signal, async (signal): Promise<AttentionLayerView> => {
          const info = await this.model();
          const run = this.attention;
          if (!run) throw new RpcError('bad-input', 'No attention run yet: wait for the first one.');
          if (layer >= info.nLayers) throw new RpcError('bad-input', `layer ${layer} is out of range (the model has layers 0..${info.nLayers - 1})`);
          const r = await engine.call('analysis/attention', { ...run.params, layers: [layer], allScores: false }, { signal });
          run.layer = layer;
          return layerView(r, 0);
        }),
      'heads/detect': (_p, ctx) =>
        this.job('heads', ctx.signal, async (signal) => {
          await this.model();
          return engine.call('analysis/heads', {}, { signal });
        }),
      'dla/run': ({ target, baseline, position }, ctx) =>
        this.job('dla', ctx.signal, async (signal): Promise<DlaView> => {
          const info = await this.model();
          const params: AnalysisParams<'dla'> = { prompt: { text: this.subject.text }, target, baseline, position, interventions: await under(signal) };
          const r = await engine.call('analysis/dla', params, { signal });
          this.lastRun = { save: (info) => saveExperimentAs(info, 'dla', params, r, 'dla.mlexp.json', this.deps.log) };
          this.delivered(info);
          const { prompt, ...rest } = r;
          return {
            ...rest,
            tokens: tokensOf(prompt.ids, prompt.texts),
            targetText: this.tokenTexts.get(target) ?? `#${target}`,
            baselineText: baseline === undefined ? undefined : (this.tokenTexts.get(baseline) ?? `#${baseline}`),
          };
        }),
      'export/save': ({ format, name, data }) => saveExport(format, name, data),
      'experiment/save': async () => {
        const last = this.lastRun;
        if (!last) throw new RpcError('bad-input', 'Nothing to save yet: wait for the analysis to finish.');
        return { path: await last.save(await this.model()) };
      },
    };
  }

  /**
   * Saves the attention run as an experiment: every layer's pattern while they are small (at most
   * ATTENTION_SAVE_ALL_VALUES numbers in all: a file of tens of MB), else the layer on screen only (`layers`),
   * with every layer's head scores either way. The engine computes the result again from the saved params
   * (its residual streams are kept, so no forward runs), so the file re-runs to the same numbers.
   */
  private async saveAttention(info: ModelInfo): Promise<string | null> {
    const run = this.attention;
    if (!run) return null;
    const all = info.nLayers * info.nHeads * run.T * run.T <= ATTENTION_SAVE_ALL_VALUES;
    const params: AnalysisParams<'attention'> = all ? run.params : { ...run.params, layers: [run.layer] };
    const r = await this.job('attention-save', new AbortController().signal, (signal) => this.deps.engine.call('analysis/attention', params, { signal }));
    return saveExperimentAs(info, 'attention', params, r, 'attention.mlexp.json', this.deps.log);
  }

  dispose(): void {
    this.panel.dispose();
  }
}

/** Most pattern values an attention experiment saves for every layer (12 layers x 12 heads at T = 170); longer prompts save the layer on screen. */
export const ATTENTION_SAVE_ALL_VALUES = 4 * 2 ** 20;

/** Entry `i` of an attention result (its `layers[i]`) as a panel's layer. */
function layerView(r: AnalysisResults['attention'], i: number): AttentionLayerView {
  const layer = r.layers?.[i] ?? i;
  return {
    layer,
    pattern: r.patterns[i]!,
    scores: { previous_token: r.scores.previous_token[layer]!, duplicate_token: r.scores.duplicate_token[layer]!, induction: r.scores.induction[layer]! },
  };
}

export async function saveExport(format: ExportFormat, name: string, data: string): Promise<{ path: string | null }> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const file = `${name.replace(/\.[a-z]+$/i, '')}.${format}`;
  const target = await vscode.window.showSaveDialog({
    defaultUri: folder ? vscode.Uri.joinPath(folder, file) : undefined,
    filters: { [format.toUpperCase()]: [format] },
    saveLabel: 'Export',
  });
  if (!target) return { path: null };
  const bytes = format === 'png' ? Buffer.from(data.slice(data.indexOf(',') + 1), 'base64') : Buffer.from(data, 'utf8');
  await vscode.workspace.fs.writeFile(target, bytes);
  return { path: target.fsPath };
}

/** Opens, reveals and restores the three analysis panels. */
export class AnalysisPanels implements vscode.Disposable {
  private readonly panels = new Map<AnalysisViewKind, AnalysisPanel>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly deps: AnalysisPanelDeps) {
    for (const kind of Object.keys(ANALYSIS_PANEL_TYPES) as AnalysisViewKind[]) {
      this.disposables.push(
        vscode.window.registerWebviewPanelSerializer(ANALYSIS_PANEL_TYPES[kind], {
          deserializeWebviewPanel: async (panel, state: unknown) => {
            const text = isState(state) && typeof state.text === 'string' ? state.text : '';
            this.attach(kind, panel, { text, source: 'restored' });
          },
        }),
      );
    }
  }

  /** Opens (or reveals) the panel of `kind` on `subject`. */
  show(kind: AnalysisViewKind, subject: SubjectSource): void {
    const existing = this.panels.get(kind);
    if (existing) {
      existing.setSubject(subject);
      existing.panel.reveal(undefined, true);
      return;
    }
    const panel = vscode.window.createWebviewPanel(ANALYSIS_PANEL_TYPES[kind], TITLES[kind], { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, webviewOptions(this.deps.extensionUri));
    this.attach(kind, panel, subject);
  }

  /** A document that a panel follows changed. */
  documentChanged(uri: string, text: string): void {
    for (const p of this.panels.values()) {
      if (p.subject.uri === uri && p.subject.text !== text) p.setSubject({ ...p.subject, text });
    }
  }

  /** The active model changed: every open panel runs again on the new one. */
  modelChanged(): void {
    for (const p of this.panels.values()) p.modelChanged();
  }

  /** Kinds of the open panels, their subjects, and their results so far with the last one's model (tests, Inspector). */
  openPanels(): Array<{ kind: AnalysisViewKind; text: string; results: number; model?: string }> {
    return [...this.panels.values()].map((p) => ({ kind: p.kind, text: p.subject.text, results: p.results, model: p.resultModel }));
  }

  private attach(kind: AnalysisViewKind, panel: vscode.WebviewPanel, subject: SubjectSource): void {
    this.panels.get(kind)?.dispose();
    const p = new AnalysisPanel(kind, panel, subject, this.deps, () => {
      if (this.panels.get(kind) === p) this.panels.delete(kind);
    });
    this.panels.set(kind, p);
  }

  dispose(): void {
    for (const p of this.panels.values()) p.dispose();
    this.panels.clear();
    for (const d of this.disposables) d.dispose();
  }
}

function isState(s: unknown): s is AnalysisState {
  return typeof s === 'object' && s !== null;
}

/** A short label for a document: its file name. */
export function sourceLabel(uri: vscode.Uri): string {
  return path.basename(uri.path) || uri.toString();
}
