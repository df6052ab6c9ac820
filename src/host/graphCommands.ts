// Commands that make and open attribution graphs: "MechLens: Attribution Graph" (on a selection, a prompt
// file, or a CodeLens argument) runs the engine's `analysis/graph` with progress and cancel, writes the
// graph next to the prompt (`<name>.graph.json`; the workspace folder or the extension's storage when the
// prompt has no file) and opens it in the graph editor; "MechLens: Open as Attribution Graph" opens any
// Neuronpedia-format JSON in it. Prompt files get an "Attribution graph" CodeLens.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { RpcError } from '../shared/rpc';
import type { ModelInfo } from '../shared/modelInfo';
import type { EngineClient } from './engineClient';
import { resolveSubject } from './editor/viewCommands';
import type { SubjectSource } from './views/analysisPanels';
import { GRAPH_EDITOR_VIEW_TYPE } from './graphEditor';
import { errorMessage } from './log';
import type { Log } from './log';
import { tokenToSignal } from './progress';

export interface GraphCommandDeps {
  engine: EngineClient;
  log: Log;
  storageUri: vscode.Uri;
  /** Loads the active model (with progress); undefined when the user cancelled. */
  ensureModel: () => Promise<ModelInfo | undefined>;
  /** Whether a document is a prompt file (the inline inspector's rule), for the CodeLens. */
  isPromptDocument: (doc: vscode.TextDocument) => boolean;
}

/** Where a graph of `subject` is written: beside its file, else in the workspace folder, else in storage. */
async function graphTarget(subject: SubjectSource, storage: vscode.Uri): Promise<vscode.Uri> {
  const source = subject.uri ? vscode.Uri.parse(subject.uri) : undefined;
  let dir: vscode.Uri;
  let base: string;
  if (source && source.scheme === 'file') {
    dir = vscode.Uri.joinPath(source, '..');
    base = path.basename(source.path).replace(/\.[^.]+$/, '');
  } else {
    dir = vscode.workspace.workspaceFolders?.[0]?.uri ?? storage;
    base = 'mechlens';
  }
  if (subject.source.endsWith('(selection)')) base += '-selection';
  await vscode.workspace.fs.createDirectory(dir);
  // Never overwrite an earlier graph (it may hold pins and labels): number the new one.
  for (let k = 1; ; k++) {
    const uri = vscode.Uri.joinPath(dir, `${base}${k === 1 ? '' : `-${k}`}.graph.json`);
    try {
      await vscode.workspace.fs.stat(uri);
    } catch {
      return uri;
    }
  }
}

/** Builds the graph of the subject's prompt with progress; the written file's URI, or undefined. */
export async function buildGraph(deps: GraphCommandDeps, subject: SubjectSource): Promise<vscode.Uri | undefined> {
  const info = await deps.ensureModel();
  if (!info) return undefined;
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `MechLens: attribution graph of ${subject.source}`, cancellable: true },
      async (progress, token) => {
        let reported = 0;
        // A new graph supersedes one still being built.
        const job = deps.engine.jobs.start('graph', tokenToSignal(token));
        return deps.engine.call(
          'analysis/graph',
          { prompt: { text: subject.text }, slug: path.basename(subject.source).replace(/[^\w.-]+/g, '-').slice(0, 80) || 'graph' },
          {
            signal: job.signal,
            onProgress: (message, fraction) => {
              const pct = fraction === undefined ? reported : Math.round(fraction * 100);
              progress.report({ message: `${message} (${pct}%)`, increment: Math.max(0, pct - reported) });
              reported = Math.max(reported, pct);
            },
          },
        ).finally(() => job.done());
      },
    );
    const uri = await graphTarget(subject, deps.storageUri);
    await vscode.workspace.fs.writeFile(uri, Buffer.from(result.graph, 'utf8'));
    const s = result.summary;
    deps.log.info(`Attribution graph of ${subject.source} (${info.name}): ${s.nodes.feature} features, ${s.links} links, ${result.stats.ms.toFixed(0)} ms -> ${uri.fsPath}`);
    return uri;
  } catch (err) {
    if (err instanceof RpcError && err.code === 'cancelled') {
      void vscode.window.showInformationMessage('MechLens: the attribution graph was cancelled; nothing was written.');
      return undefined;
    }
    deps.log.error('The attribution graph failed', err);
    const message = errorMessage(err);
    // A transcoder set whose hf:// files are not in the cache yet: offer to fetch them (with the plan first).
    const set = /`mechlens download --transcoders (.+?)`/.exec(message)?.[1];
    void vscode.window.showErrorMessage(`MechLens: ${message}`, ...(set ? ['Download Transcoder Files…'] : [])).then((a) => {
      if (a && set) void vscode.commands.executeCommand('mechlens.downloadTranscoders', set);
    });
    return undefined;
  }
}

export function openGraph(uri: vscode.Uri): Thenable<unknown> {
  return vscode.commands.executeCommand('vscode.openWith', uri, GRAPH_EDITOR_VIEW_TYPE, { viewColumn: vscode.ViewColumn.Active, preview: false });
}

export function registerGraphCommands(deps: GraphCommandDeps): vscode.Disposable[] {
  const lensChanged = new vscode.EventEmitter<void>();
  return [
    lensChanged,
    vscode.commands.registerCommand('mechlens.attributionGraph', async (arg?: unknown) => {
      const subject = await resolveSubject(arg);
      if (!subject || subject.text.trim().length === 0) {
        void vscode.window.showInformationMessage('MechLens: open a file with a prompt (or select some text) first.');
        return undefined;
      }
      const uri = await buildGraph(deps, subject);
      if (!uri) return undefined;
      await openGraph(uri);
      return uri.toString();
    }),
    vscode.commands.registerCommand('mechlens.openGraph', async (arg?: unknown) => {
      const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
      if (!uri) {
        void vscode.window.showInformationMessage('MechLens: open an attribution-graph JSON file first.');
        return false;
      }
      await openGraph(uri);
      return true;
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('mechlens.inlineInspection')) lensChanged.fire();
    }),
    vscode.languages.registerCodeLensProvider('*', {
      onDidChangeCodeLenses: lensChanged.event,
      provideCodeLenses: (doc) =>
        deps.isPromptDocument(doc)
          ? [new vscode.CodeLens(new vscode.Range(0, 0, 0, 0), { title: 'Attribution graph', command: 'mechlens.attributionGraph', arguments: [{ uri: doc.uri.toString() }], tooltip: 'Build the attribution graph of this prompt and open it' })]
          : [],
    }),
  ];
}
