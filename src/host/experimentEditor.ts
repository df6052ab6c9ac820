// The experiment editor: a custom editor for `*.mlexp.json` that shows an experiment's definition (model,
// analysis, params, random-init seed, note) and its saved results (a patching sweep as heatmaps, others as
// JSON), and re-runs it: on the file's model (offering to switch to it when another is active; warning
// when its content hash differs from the file's), writing the new results and hash back into the file in
// its diff-friendly form. A file this MechLens cannot parse (a newer schema, another analysis type, e.g.
// one a later version adds) is shown as its JSON with the reason, never refused. Also: saving a finished
// analysis as an experiment file (used by the Patching panel).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { experimentRecord, modelHash } from '../engine/experimentRecord';
import type { AnalysisName, AnalysisParams, AnalysisResults } from '../shared/analyses';
import { EXPERIMENT_SUFFIX, compareResults, parseExperiment, serializeExperiment, toJsonData } from '../shared/experiment';
import { validateExperimentEditorParams } from '../shared/experimentEditorProtocol';
import type { ExperimentDoc, ExperimentEditorNotifications, ExperimentEditorProtocol, RerunOutcome } from '../shared/experimentEditorProtocol';
import type { ModelInfo } from '../shared/modelInfo';
import type { Handlers } from '../shared/rpc';
import { RpcError } from '../shared/rpc';
import type { EngineClient } from './engineClient';
import { errorMessage } from './log';
import type { Log } from './log';
import { connectWebview, renderShell, webviewOptions } from './views/webviewHost';

export const EXPERIMENT_EDITOR_VIEW_TYPE = 'mechlens.experimentEditor';

export interface ExperimentEditorDeps {
  extensionUri: vscode.Uri;
  engine: EngineClient;
  log: Log;
  ensureModel: () => Promise<ModelInfo | undefined>;
  /** Makes `dir` the active model and loads it. */
  selectModel: (dir: string) => Promise<ModelInfo | undefined>;
}

/** The document as the editor shows it. */
export function experimentDoc(text: string, file: string): ExperimentDoc {
  try {
    const e = parseExperiment(text, file);
    return { file, text, parsed: { analysis: e.analysis, model: e.model, params: e.params, random_init: e.random_init, note: e.note, results: e.results }, error: null };
  } catch (err) {
    return { file, text, parsed: null, error: errorMessage(err) };
  }
}

/** Asks where to save a finished analysis as an experiment file, writes it and opens it in the experiment editor. */
export async function saveExperimentAs<K extends AnalysisName>(info: ModelInfo, analysis: K, params: AnalysisParams<K>, results: AnalysisResults[K], defaultName: string, log: Log): Promise<string | null> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const target = await vscode.window.showSaveDialog({ defaultUri: folder ? vscode.Uri.joinPath(folder, defaultName) : undefined, filters: { 'MechLens experiment': ['json'] }, saveLabel: 'Save Experiment' });
  if (!target) return null;
  const file = target.fsPath.endsWith(EXPERIMENT_SUFFIX) ? target.fsPath : `${target.fsPath.replace(/\.json$/, '')}${EXPERIMENT_SUFFIX}`;
  await vscode.workspace.fs.writeFile(vscode.Uri.file(file), Buffer.from(serializeExperiment(experimentRecord(info, analysis, params, results, { file })), 'utf8'));
  log.info(`Saved the ${analysis} result as ${file}`);
  await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(file), EXPERIMENT_EDITOR_VIEW_TYPE);
  return file;
}

class ExperimentEditor {
  private disposables: vscode.Disposable[] = [];

  constructor(
    private readonly document: vscode.TextDocument,
    panel: vscode.WebviewPanel,
    private readonly deps: ExperimentEditorDeps,
    onDispose: () => void,
  ) {
    panel.webview.options = webviewOptions(deps.extensionUri);
    const rpc = connectWebview(panel.webview, this.handlers(), validateExperimentEditorParams, this.disposables);
    panel.webview.html = renderShell(panel.webview, deps.extensionUri, 'experiment', 'MechLens: Experiment');
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document === document && e.contentChanges.length) rpc.notify('experiment/update', this.doc());
      }),
      panel.onDidDispose(() => {
        for (const d of this.disposables) d.dispose();
        this.disposables = [];
        onDispose();
      }),
    );
  }

  private doc(): ExperimentDoc {
    return experimentDoc(this.document.getText(), path.basename(this.document.uri.path));
  }

  private handlers(): Handlers<ExperimentEditorProtocol, ExperimentEditorNotifications> {
    return {
      'experiment/get': () => this.doc(),
      'experiment/rerun': (_p, ctx) => this.rerun(ctx.signal),
    };
  }

  private async rerun(signal: AbortSignal): Promise<RerunOutcome> {
    const started = Date.now();
    const name = path.basename(this.document.uri.path);
    const e = parseExperiment(this.document.getText(), name);
    if (e.random_init !== undefined) {
      throw new RpcError('bad-input', `${name} runs on re-initialised weights (seed ${e.random_init}); re-run it from a terminal: mechlens experiment ${this.document.uri.fsPath} --update`);
    }
    const fileDir = path.dirname(this.document.uri.fsPath);
    const wanted = path.isAbsolute(e.model.dir) ? e.model.dir : path.resolve(fileDir, e.model.dir);
    let info = await this.deps.ensureModel();
    if (!info) throw new RpcError('cancelled', 'No model is loaded.');
    if (path.resolve(info.dir) !== path.resolve(wanted)) {
      const choice = await vscode.window.showWarningMessage(
        `${name} was saved with the model in ${e.model.dir}; the active model is ${info.name}.`,
        { modal: true },
        'Switch Model and Re-run',
        'Re-run on the Active Model',
      );
      if (!choice) throw new RpcError('cancelled', 'Re-run cancelled.');
      if (choice === 'Switch Model and Re-run') {
        info = await this.deps.selectModel(wanted);
        if (!info) throw new RpcError('cancelled', 'The model was not loaded.');
      }
    }
    const sha256 = modelHash(info.dir);
    const job = this.deps.engine.jobs.start(`experiment:${e.analysis}`, signal);
    let result: unknown;
    try {
      // The file's params were checked against the analysis' own schema by parseExperiment; the worker checks them again.
      result = await this.deps.engine.call(`analysis/${e.analysis}` as 'analysis/run', e.params as never, { signal: job.signal });
    } finally {
      job.done();
    }
    const results = toJsonData(result);
    const modelChanged = sha256 !== e.model.sha256;
    const outcome: RerunOutcome = { message: '', modelChanged, ms: Date.now() - started };
    if (e.results !== undefined) {
      const d = compareResults(e.results, results);
      outcome.maxAbsDiff = d.maxAbsDiff;
      outcome.resultsChanged = !d.sameShape || d.maxAbsDiff > 0;
    }
    const text = serializeExperiment({ ...e, model: { ...e.model, sha256 }, results });
    if (text !== this.document.getText()) {
      const edit = new vscode.WorkspaceEdit();
      edit.replace(this.document.uri, new vscode.Range(this.document.positionAt(0), this.document.positionAt(this.document.getText().length)), text);
      await vscode.workspace.applyEdit(edit);
      await this.document.save();
    }
    const same = outcome.resultsChanged === undefined ? 'results saved (the file had none)' : outcome.resultsChanged ? `results changed (largest difference ${outcome.maxAbsDiff!.toPrecision(3)}); the file now holds the new ones` : 'results identical to the saved ones';
    const warn = modelChanged ? ` Warning: the model's content hash (${sha256.slice(0, 12)}) differs from the one saved (${e.model.sha256.slice(0, 12) || 'none'}), so the results may differ for that reason.` : '';
    outcome.message = `Re-ran ${e.analysis} on ${info.name} in ${outcome.ms} ms: ${same}.${warn}`;
    this.deps.log.info(`${name}: ${outcome.message}`);
    return outcome;
  }
}

export class ExperimentEditorProvider implements vscode.CustomTextEditorProvider, vscode.Disposable {
  private readonly editors = new Set<ExperimentEditor>();

  constructor(private readonly deps: ExperimentEditorDeps) {}

  resolveCustomTextEditor(document: vscode.TextDocument, panel: vscode.WebviewPanel): void {
    const editor = new ExperimentEditor(document, panel, this.deps, () => this.editors.delete(editor));
    this.editors.add(editor);
  }

  get openCount(): number {
    return this.editors.size;
  }

  dispose(): void {
    this.editors.clear();
  }
}

export function registerExperimentEditor(provider: ExperimentEditorProvider): vscode.Disposable {
  return vscode.window.registerCustomEditorProvider(EXPERIMENT_EDITOR_VIEW_TYPE, provider, { supportsMultipleEditorsPerDocument: true });
}
