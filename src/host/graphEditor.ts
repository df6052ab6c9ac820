// The attribution-graph editor: a custom text editor over graph files (`*.graph.json` by default, any
// Neuronpedia-format JSON through "Open With…" or "MechLens: Open as Attribution Graph"). The document is
// the file's text, so the view's state (pinned nodes, supernodes, clicked node, link type, thresholds: the
// file's `qParams`) and label edits (`clerp`) are ordinary document edits: undo, redo, save, hot exit and
// reopen behave as for any file. The webview is untrusted: its messages are checked against
// src/shared/graphProtocol.ts, every node id it names must be a node of the graph, and it never names a path.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseGraphFile } from '../shared/graphFile';
import type { AttributionGraphFile } from '../shared/graphFile';
import { validateGraphParams } from '../shared/graphProtocol';
import type { GraphDocumentView, GraphHostProtocol, GraphNotifications, GraphViewState } from '../shared/graphProtocol';
import type { Handlers, RpcEndpoint } from '../shared/rpc';
import { badInput } from '../shared/schema';
import type { EngineClient } from './engineClient';
import { errorMessage } from './log';
import type { Log } from './log';
import { saveExport } from './views/analysisPanels';
import { connectWebview, renderShell, webviewOptions } from './views/webviewHost';

export const GRAPH_EDITOR_VIEW_TYPE = 'mechlens.graphEditor';

export interface GraphEditorDeps {
  extensionUri: vscode.Uri;
  engine: EngineClient;
  log: Log;
}

type Rpc = RpcEndpoint<GraphHostProtocol, Record<string, never>, GraphNotifications, Record<string, never>>;

/** The document's text parsed twice over: checked and typed for the view, and as raw JSON to edit. */
interface Parsed {
  text: string;
  file: AttributionGraphFile;
  raw: Record<string, unknown>;
  ids: Set<string>;
}

/** One open graph editor. */
class GraphEditor implements vscode.Disposable {
  private rpc: Rpc | undefined;
  private disposables: vscode.Disposable[] = [];
  private parsed: Parsed | undefined;
  /** Text this editor wrote last: its own edits are not sent back to the view. */
  private written: string | undefined;
  /** Edits are applied one after another (each reads the document the previous one left). */
  private queue: Promise<unknown> = Promise.resolve();

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

  private handlers(): Handlers<GraphHostProtocol, GraphNotifications> {
    return {
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
    };
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
