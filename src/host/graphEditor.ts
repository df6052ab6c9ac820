// The attribution-graph editor: a custom text editor over graph files (`*.graph.json` by default, any
// Neuronpedia-format JSON through "Open With…" or "MechLens: Open as Attribution Graph"). The document is
// the file's text, so the view's state (pinned nodes, supernodes, clicked node, link type, thresholds: the
// file's `qParams`) and label edits (`clerp`) are ordinary document edits: undo, redo, save, hot exit and
// reopen behave as for any file. The webview is untrusted: its messages are checked against
// src/shared/graphProtocol.ts, every node id it names must be a node of the graph, and it never names a path.
// The feature panel's requests (details, search, steering, top inputs and outputs) run the engine's feature
// analyses on the graph's own prompt with the dashboards the host picks (FeatureStore), and only when the
// loaded model is the graph's: otherwise the reply says which model they need.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PromptInput } from '../shared/analyses';
import { labelsInGraph, parseGraphFile, type AttributionGraphFile } from '../shared/graphFile';
import { graphInterventions, graphNeedsOtherModel, validateGraphParams } from '../shared/graphProtocol';
import type { FeatureDashboardView, GraphDocumentView, GraphHostProtocol, GraphNotifications, GraphPromptInfo, GraphViewState, IntervenedGraph } from '../shared/graphProtocol';
import type { Intervention } from '../shared/interventions';
import { compareLogits } from '../shared/patchUi';
import type { Comparison } from '../shared/patchUi';
import type { ModelInfo } from '../shared/modelInfo';
import { RpcError } from '../shared/rpc';
import type { Handlers, RpcEndpoint } from '../shared/rpc';
import { featureSteer } from '../shared/features';
import { badInput, list } from '../shared/schema';
import type { EngineClient } from './engineClient';
import { BUILD_DASHBOARDS_COMMAND } from './featureCommands';
import type { FeatureStore } from './featureStore';
import { errorMessage } from './log';
import type { Log } from './log';
import { saveExport } from './views/analysisPanels';
import { connectWebview, renderShell, webviewOptions } from './views/webviewHost';
import type { InterventionService } from './interventions';

export const GRAPH_EDITOR_VIEW_TYPE = 'mechlens.graphEditor';

export interface GraphEditorDeps {
  extensionUri: vscode.Uri;
  engine: EngineClient;
  log: Log;
  /** Loads the active model (with progress); undefined when the user cancelled. */
  ensureModel: () => Promise<ModelInfo | undefined>;
  features: FeatureStore;
  /** The intervention state every view shares (the graph view shows its chips and the comparison on the graph's prompt). */
  interventions: InterventionService;
}

type Rpc = RpcEndpoint<GraphHostProtocol, Record<string, never>, GraphNotifications, Record<string, never>>;

/** The document's text parsed twice over: checked and typed for the view, and as raw JSON to edit. */
interface Parsed {
  text: string;
  file: AttributionGraphFile;
  raw: Record<string, unknown>;
  ids: Set<string>;
}

/** Top tokens of each run in the graph view's before/after comparison (as in the other views). */
const COMPARE_K = 5;

/** A steering file holds at most the view's 64 interventions: a few KiB; anything far larger is not one. */
const MAX_STEERING_FILE_BYTES = 256 * 1024;
const STEERING_SET = list(featureSteer, 64);

/** One open graph editor. */
class GraphEditor implements vscode.Disposable {
  private rpc: Rpc | undefined;
  private disposables: vscode.Disposable[] = [];
  private parsed: Parsed | undefined;
  /** Text this editor wrote last: its own edits are not sent back to the view. */
  private written: string | undefined;
  /** Edits are applied one after another (each reads the document the previous one left). */
  private queue: Promise<unknown> = Promise.resolve();
  /** The loaded model's name the view was last told. */
  private shownModelName: string | undefined;

  constructor(
    readonly document: vscode.TextDocument,
    readonly panel: vscode.WebviewPanel,
    private readonly deps: GraphEditorDeps,
    onDispose: () => void,
  ) {
    panel.webview.options = webviewOptions(deps.extensionUri);
    this.rpc = connectWebview(panel.webview, this.handlers(), validateGraphParams, this.disposables);
    panel.webview.html = renderShell(panel.webview, deps.extensionUri, 'graph', `MechLens: ${this.name}`);
    this.disposables.push(
      deps.interventions.store.onDidChange((v) => this.rpc?.notify('interventions/update', v)),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document !== document || e.contentChanges.length === 0) return;
        const text = document.getText();
        if (text === this.written) return;
        this.written = undefined;
        try {
          this.rpc?.notify('graph/update', this.view());
        } catch (err) {
          this.rpc?.notify('graph/error', { message: errorMessage(err) });
        }
      }),
      panel.onDidDispose(() => {
        this.rpc = undefined;
        for (const d of this.disposables) d.dispose();
        this.disposables = [];
        onDispose();
      }),
    );
  }

  get name(): string {
    return path.basename(this.document.uri.path) || 'graph';
  }

  /** The document parsed (again only when its text changed). */
  private parse(): Parsed {
    const text = this.document.getText();
    if (this.parsed?.text === text) return this.parsed;
    const file = parseGraphFile(text, this.name);
    const raw = JSON.parse(text) as Record<string, unknown>;
    this.parsed = { text, file, raw, ids: new Set(file.nodes.map((n) => n.id)) };
    return this.parsed;
  }

  private view(): GraphDocumentView {
    const modelName = this.deps.engine.loadedModel?.name;
    this.shownModelName = modelName;
    return { file: this.parse().file, name: this.name, ...(modelName ? { modelName } : {}) };
  }

  /** Rewrites the document's JSON with `change` applied to a copy of it, keeping the file's indentation. */
  private edit(change: (raw: Record<string, unknown>, p: Parsed) => void): Promise<null> {
    const run = async () => {
      const p = this.parse();
      const raw = JSON.parse(p.text) as Record<string, unknown>;
      change(raw, p);
      const indent = /^\{\s*\n([ \t]+)"/.exec(p.text)?.[1];
      const text = JSON.stringify(raw, null, indent) + (p.text.endsWith('\n') ? '\n' : '');
      if (text === p.text) return null;
      const edit = new vscode.WorkspaceEdit();
      edit.replace(this.document.uri, new vscode.Range(this.document.positionAt(0), this.document.positionAt(p.text.length)), text);
      this.written = text;
      if (!(await vscode.workspace.applyEdit(edit))) throw new Error(`${this.name} could not be edited.`);
      return null;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The prompt as the other views run it, once promptMapping found it: the file's prompt text without a leading BOS. */
  private viewPrompt: { file: string; text: string } | undefined;

  /**
   * The graph's prompt text as the views' interventions read it (positions of its tokens), or null when the
   * document is not a graph the view can read.
   */
  private promptText(): string | null {
    try {
      const raw = this.parse().file.metadata.prompt || null;
      return raw !== null && this.viewPrompt?.file === raw ? this.viewPrompt.text : raw;
    } catch {
      return null;
    }
  }

  /**
   * How the graph's tokens map onto its prompt's: the graph attributes `lead` (the BOS it prepended) and
   * then the prompt's tokens. The views' interventions are positions of the prompt, so the token menu and
   * the re-run shift them by lead.length. Needs the graph's model.
   */
  private async promptMapping(what: string, signal?: AbortSignal): Promise<GraphPromptInfo & { ids: number[]; lead: number[]; promptLength: number }> {
    const info = await this.featureModel(what);
    const raw = this.parse().file.metadata.prompt;
    const graph = this.graphPrompt();
    if (!raw || !('tokens' in graph)) badInput(`${what} needs the graph’s prompt and its tokens; this file lacks them.`);
    const ids = graph.tokens;
    const tokenize = async (text: string) => (await this.deps.engine.call('tokenize', { text }, { signal })).ids;
    // A graph written by decoding its tokens has the BOS it prepended in its prompt text ("<|endoftext|>When …",
    // or SentencePiece's "<s> Once …" with the space its decoder writes): the views run the text after it, so
    // positions (and chips) mean the same token in every view. Each reading is checked by re-tokenizing: the
    // graph's tokens must end with the text's tokens (the rest is the lead the graph prepended, e.g. a BOS the
    // tokenizer does not add itself).
    const special = /^(<[^<>\s]+>|\[[A-Z]+\])/.exec(raw)?.[0];
    const readings = special ? [raw.slice(special.length), ...(raw[special.length] === ' ' ? [raw.slice(special.length + 1)] : []), raw] : [raw];
    for (const text of readings) {
      const prompt = await tokenize(text);
      const offset = ids.length - prompt.length;
      if (offset < 0 || prompt.some((id, p) => ids[offset + p] !== id)) continue;
      if (text !== raw && offset > 1) continue; // the special text stands for at most the one BOS token
      if (text !== raw) this.viewPrompt = { file: raw, text };
      return { nLayers: info.nLayers, nHeads: info.nHeads, offset, ids, lead: ids.slice(0, offset), promptLength: prompt.length };
    }
    badInput(`${what}: the graph’s tokens are not ${info.name}’s tokens of its prompt (made with another tokenizer?).`);
  }

  /** The active interventions on the graph's own tokens, or undefined when none are active. */
  private async graphInterventionList(what: string, signal?: AbortSignal): Promise<{ interventions: Intervention[] | undefined; ids: number[] }> {
    const text = this.promptText();
    const compiled = text ? await this.deps.interventions.compile(text, signal) : undefined;
    const m = await this.promptMapping(what, signal);
    return { interventions: compiled && graphInterventions(compiled, m.lead, m.promptLength), ids: m.ids };
  }

  /** The before/after comparison on the graph's own tokens (its BOS included): the run the re-run graph attributes. */
  private async compareOnGraph(signal?: AbortSignal): Promise<Comparison | null> {
    const { interventions, ids } = await this.graphInterventionList('The comparison', signal);
    if (!interventions) return null;
    const prompt = { tokens: ids };
    const clean = await this.deps.engine.call('analysis/run', { prompt, topK: COMPARE_K }, { signal });
    const patched = await this.deps.engine.call('analysis/run', { prompt, topK: COMPARE_K, interventions }, { signal });
    const texts = new Map([...clean.top, ...patched.top].map((t) => [t.id, t.text]));
    return compareLogits(clean.logits.data, patched.logits.data, (id) => texts.get(id) ?? `#${id}`, COMPARE_K, ids.length - 1);
  }

  /** The graph of the same prompt, with the clean file's generation settings, under the active interventions. */
  private async intervene(signal?: AbortSignal): Promise<IntervenedGraph> {
    const what = 'Re-running the graph under interventions';
    const labels = this.deps.interventions.store.view().chips.map((c) => c.label);
    const { interventions, ids } = await this.graphInterventionList(what, signal);
    if (!interventions) badInput('No interventions are active: click a token under the graph (or in another view) to add one.');
    const settings = this.parse().file.metadata.generation_settings;
    const num = (key: string): number | undefined => {
      const v = typeof settings === 'object' && settings !== null ? (settings as Record<string, unknown>)[key] : undefined;
      return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    };
    const maxFeatureNodes = num('max_feature_nodes');
    const maxNLogits = num('max_n_logits');
    const desiredLogitProb = num('desired_logit_prob');
    const job = this.deps.engine.jobs.start(`graph-intervene:${this.document.uri.toString()}`, signal);
    const t0 = Date.now();
    try {
      const r = await this.deps.engine.call(
        'analysis/graph',
        {
          prompt: { tokens: ids },
          slug: `${this.name.replace(/\.graph\.json$|\.json$/i, '')}-intervened`.replace(/[^\w.-]+/g, '-').slice(0, 80),
          interventions,
          ...(maxFeatureNodes !== undefined && Number.isInteger(maxFeatureNodes) && maxFeatureNodes >= 1 ? { maxFeatureNodes } : {}),
          ...(maxNLogits !== undefined && Number.isInteger(maxNLogits) && maxNLogits >= 1 ? { maxNLogits } : {}),
          ...(desiredLogitProb !== undefined && desiredLogitProb > 0 && desiredLogitProb <= 1 ? { desiredLogitProb } : {}),
        },
        { signal: job.signal },
      );
      const file = parseGraphFile(r.graph, `${this.name} (under interventions)`);
      this.deps.log.info(`Attribution graph of ${this.name} under ${interventions.length} intervention(s): ${r.summary.nodes.feature} features, ${r.summary.links} links, ${r.stats.ms.toFixed(0)} ms`);
      return { file, labels, ms: Date.now() - t0 };
    } finally {
      job.done();
    }
  }

  private handlers(): Handlers<GraphHostProtocol, GraphNotifications> {
    const shared = this.deps.interventions.handlers(() => this.promptText());
    return {
      ...shared,
      // With the graph's model loaded, the comparison is of the run the graph attributes (its BOS included).
      'interventions/compare': (p, ctx) => (graphNeedsOtherModel(this.parse().file.metadata.scan, this.deps.engine.loadedModel?.name) ? shared['interventions/compare'](p, ctx) : this.compareOnGraph(ctx.signal)),
      'graph/promptInfo': async (_p, ctx) => {
        const { nLayers, nHeads, offset } = await this.promptMapping('The token menu', ctx.signal);
        return { nLayers, nHeads, offset };
      },
      'graph/intervene': (_p, ctx) => this.intervene(ctx.signal),
      'graph/get': () => this.view(),
      'graph/state': (state) =>
        this.edit((raw, p) => {
          checkIds(state, p.ids);
          const old = typeof raw.qParams === 'object' && raw.qParams !== null && !Array.isArray(raw.qParams) ? (raw.qParams as Record<string, unknown>) : {};
          raw.qParams = { ...old, ...state, sg_pos: typeof old.sg_pos === 'string' ? old.sg_pos : '' };
        }),
      'graph/label': ({ nodeId, clerp }) =>
        this.edit((raw, p) => {
          if (!p.ids.has(nodeId)) badInput(`graph/label: ${nodeId} is not a node of this graph`);
          const node = (raw.nodes as Array<Record<string, unknown>>).find((n) => n.node_id === nodeId);
          if (node) node.clerp = clerp;
        }),
      'graph/exportJson': async ({ name }) => saveExport('json', name, this.document.getText()),
      'export/save': ({ format, name, data }) => saveExport(format, name, data),
      'feature/details': async ({ layer, index }) => {
        const info = await this.featureModel('Feature details');
        const choice = await this.deps.features.choose(info.dir, info.name);
        if (!choice.exists) return { details: null, source: choice.source };
        const details = await this.deps.engine.call('analysis/featureDetails', { layer, index, ...(choice.dir ? { dashboards: choice.dir } : {}) });
        return { details: details as unknown as FeatureDashboardView, source: choice.source };
      },
      'feature/search': async ({ by, query }) => {
        const info = await this.featureModel('Feature search');
        const choice = await this.deps.features.choose(info.dir, info.name);
        const dashboards = choice.dir ? { dashboards: choice.dir } : {};
        if (by === 'label') {
          if (query.trim() === '') badInput('feature/search: type some label text');
          const r = await this.deps.engine.call('analysis/featureSearch', { label: query.trim(), top: 20, ...dashboards });
          // Labels typed in this graph (its nodes' clerps) are found too, first: they are the user's own words.
          const own = labelsInGraph(this.parse().file, query.trim());
          const labels = [...own, ...r.labels.filter((x) => !own.some((o) => o.layer === x.layer && o.index === x.index))].slice(0, 20);
          const notes = own.length > 0 ? r.notes.filter((n) => !n.startsWith('No labels.json')) : r.notes;
          return { ...r, labels, notes, searched: `label containing “${query.trim()}”` };
        }
        const tokens = await this.deps.engine.call('tokenize', { text: query });
        if (tokens.ids.length === 0) badInput(`feature/search: “${query}” is no token of ${info.name}`);
        // A word can be several tokens: search its last one (the one whose features predict what follows).
        const k = tokens.ids.length - 1;
        const r = await this.deps.engine.call('analysis/featureSearch', { token: tokens.ids[k]!, top: 20, ...dashboards });
        const note = tokens.ids.length > 1 ? ` (the last of its ${tokens.ids.length} tokens)` : '';
        return { ...r, searched: `token ${JSON.stringify(tokens.texts[k] ?? '')} (id ${tokens.ids[k]})${note}` };
      },
      'feature/steer': async (params) => {
        await this.featureModel('Steering');
        const job = this.deps.engine.jobs.start(`steer:${this.document.uri.toString()}`);
        try {
          return await this.deps.engine.call('analysis/steer', { prompt: this.graphPrompt(), topK: 10, ...params }, { signal: job.signal });
        } finally {
          job.done();
        }
      },
      'feature/inputs': async ({ layer, index, position }) => {
        await this.featureModel('Top inputs');
        return this.deps.engine.call('analysis/featureInputs', { prompt: this.graphPrompt(), layer, index, top: 20, ...(position !== undefined ? { position } : {}) });
      },
      'feature/outputs': async ({ layer, index }) => {
        await this.featureModel('Top outputs');
        return this.deps.engine.call('analysis/featureOutputs', { layer, index, top: 20 });
      },
      'feature/saveSteering': ({ features }) => saveExport('json', `${this.name.replace(/\.graph\.json$|\.json$/i, '')}.steering`, `${JSON.stringify(features, null, 2)}\n`),
      'feature/loadSteering': async () => {
        const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
        const picked = await vscode.window.showOpenDialog({ defaultUri: folder, canSelectMany: false, filters: { 'Steering set': ['json'] }, openLabel: 'Load steering set' });
        const uri = picked?.[0];
        if (!uri) return null;
        const where = path.basename(uri.fsPath);
        if ((await vscode.workspace.fs.stat(uri)).size > MAX_STEERING_FILE_BYTES) badInput(`${where} is larger than a steering set can be (${MAX_STEERING_FILE_BYTES / 1024} KiB).`);
        let json: unknown;
        try {
          json = JSON.parse(Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8'));
        } catch (e) {
          badInput(`${where} is not JSON (${errorMessage(e)}): a steering set is the list “Save…” writes, as \`mechlens steer --features\` reads.`);
        }
        return { features: STEERING_SET.parse(json, where), path: uri.fsPath };
      },
      'feature/buildDashboards': () => {
        // The command asks for the corpus in VS Code's own dialogs; the view learns of the result by notification.
        void vscode.commands.executeCommand(BUILD_DASHBOARDS_COMMAND);
        return null;
      },
    };
  }

  /** The active model, loaded; refused (naming both) when it is not the model the graph was made with. */
  private async featureModel(what: string): Promise<ModelInfo> {
    const scan = this.parse().file.metadata.scan;
    const info = await this.deps.ensureModel();
    if (!info) throw new RpcError('cancelled', `${what} needs a model; none was loaded.`);
    if (graphNeedsOtherModel(scan, info.name)) badInput(`${what} needs the graph’s model (${scan}); the loaded model is ${info.name}. Choose it with “MechLens: Select Model”.`);
    return info;
  }

  /**
   * The graph's prompt as token ids (its embedding nodes, one per position, BOS included), so that steering
   * positions are the graph's positions; the prompt text when the file lacks a token at some position.
   */
  private graphPrompt(): PromptInput {
    const f = this.parse().file;
    const ids: number[] = new Array<number>(f.metadata.prompt_tokens.length).fill(-1);
    for (const n of f.nodes) if (n.kind === 'embedding' && n.tokenId !== null && n.position < ids.length) ids[n.position] = n.tokenId;
    return ids.length > 0 && ids.every((id) => id >= 0) ? { tokens: ids } : { text: f.metadata.prompt };
  }

  /** The loaded model may have changed: the view's note and feature panel follow it (when the name differs). */
  modelChanged(): void {
    const modelName = this.deps.engine.loadedModel?.name;
    if (!this.rpc || modelName === this.shownModelName) return;
    this.shownModelName = modelName;
    this.rpc.notify('graph/modelChanged', modelName ? { modelName } : {});
  }

  /** New dashboards: the view reads the open feature again. */
  dashboardsChanged(source: string): void {
    this.rpc?.notify('feature/dashboardsChanged', { source });
  }

  dispose(): void {
    this.panel.dispose();
  }
}

/** Every node id the view names must be one of the graph's. */
function checkIds(state: GraphViewState, ids: Set<string>): void {
  const check = (id: string, where: string) => {
    if (!ids.has(id)) badInput(`graph/state: ${where} ${JSON.stringify(id)} is not a node of this graph`);
  };
  state.pinnedIds.forEach((id) => check(id, 'pinned id'));
  state.supernodes.forEach((s) => s.slice(1).forEach((id) => check(id, 'supernode member')));
  if (state.clickedId !== '') check(state.clickedId, 'clicked id');
}

export class GraphEditorProvider implements vscode.CustomTextEditorProvider, vscode.Disposable {
  private readonly editors = new Set<GraphEditor>();

  constructor(private readonly deps: GraphEditorDeps) {}

  resolveCustomTextEditor(document: vscode.TextDocument, panel: vscode.WebviewPanel): void {
    const editor = new GraphEditor(document, panel, this.deps, () => this.editors.delete(editor));
    this.editors.add(editor);
    this.deps.log.info(`Graph editor opened on ${document.uri.fsPath || document.uri.toString()}`);
  }

  /** The loaded model may have changed (the engine's state did): every open view's note on the graph's model follows it. */
  modelChanged(): void {
    for (const e of this.editors) e.modelChanged();
  }

  /** Dashboards were built: every open view reads its feature again. */
  dashboardsChanged(source: string): void {
    for (const e of this.editors) e.dashboardsChanged(source);
  }

  /** Open graph editors (tests). */
  open(): Array<{ uri: string; dirty: boolean }> {
    return [...this.editors].map((e) => ({ uri: e.document.uri.toString(), dirty: e.document.isDirty }));
  }

  dispose(): void {
    for (const e of this.editors) e.dispose();
    this.editors.clear();
  }
}

export function registerGraphEditor(provider: GraphEditorProvider): vscode.Disposable {
  // Graph files can be megabytes; the view rebuilds itself from the document, so hidden editors need no context.
  return vscode.window.registerCustomEditorProvider(GRAPH_EDITOR_VIEW_TYPE, provider, { supportsMultipleEditorsPerDocument: true });
}
