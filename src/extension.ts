// MechLens extension entry point: builds the services, registers them, and returns a small API
// (used by the end-to-end tests). Nothing heavy happens during activation: the engine worker starts on first
// use, or just after activation when a prompt file is about to be inspected (warmEngine).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { EngineClient } from './host/engineClient';
import type { EngineState } from './host/engineClient';
import { Log, errorMessage } from './host/log';
import { ModelManager } from './host/models/modelManager';
import { ModelsTreeProvider } from './host/models/modelsTree';
import { registerModelCommands } from './host/commands/modelCommands';
import { registerDownloadCommand } from './host/commands/downloadCommand';
import { registerPromptCommands } from './host/commands/promptCommands';
import { PromptSession } from './host/promptSession';
import { EngineStatusBar } from './host/statusBar';
import { INSPECTOR_VIEW_ID, InspectorViewProvider } from './host/views/inspectorView';
import { PromptPanel } from './host/views/promptPanel';
import type { ModelInfo } from './shared/modelInfo';
import type { PromptView } from './shared/panelProtocol';
import { InlineInspector } from './host/editor/inlineInspection';
import { registerViewCommands } from './host/editor/viewCommands';
import { AnalysisPanels } from './host/views/analysisPanels';
import { CausalPanels } from './host/views/causalPanel';
import type { AnalysisViewKind } from './shared/analysisProtocol';
import type { InlineStats } from './host/editor/inlineInspection';
import type { InspectResult } from './shared/protocol';
import { GraphEditorProvider, registerGraphEditor } from './host/graphEditor';
import { registerGraphCommands } from './host/graphCommands';
import { registerFeatureCommands } from './host/featureCommands';
import { FeatureStore } from './host/featureStore';
import { bundledModels } from './engine/bundledModels';
import type { BundledModel } from './engine/bundledModels';
import { InterventionService } from './host/interventions';
import { PatchPanel } from './host/views/patchPanel';
import { registerPatchCommands } from './host/commands/patchCommands';
import { ExperimentEditorProvider, registerExperimentEditor } from './host/experimentEditor';
import { SaliencyDecorations } from './host/editor/saliency';
import type { InterventionStateView } from './shared/interventionProtocol';
import { StartupTimes } from './host/startupTimes';
import type { StartupReport } from './host/startupTimes';

export interface MechLensApi {
  /** activate() itself (ms); `startup()` has the code loading before it and the first inline decorations. */
  readonly activationMs: number;
  startup(): StartupReport;
  engineState(): EngineState;
  engineStarts(): number;
  loadedModel(): ModelInfo | undefined;
  defaultModelDir: string;
  /** The models shipped in the extension's models/ folder, default first. */
  bundledModels: BundledModel[];
  currentPrompt(): PromptView | null;
  statusBarText(): string;
  inspectorResolved(): boolean;
  promptPanelOpen(): boolean;
  /** Inline inspection and the analysis panels (tests). */
  views: {
    inlineStats(): InlineStats;
    inspection(uri: string): { text: string; base: number; result: InspectResult } | undefined;
    openPanels(): Array<{ kind: AnalysisViewKind; text: string; results: number; model?: string }>;
    /** Open attribution-graph editors. */
    openGraphs(): Array<{ uri: string; dirty: boolean }>;
    /** The causal-abstraction panel: open, results delivered, the last result of each kind (tests). */
    causal(): ReturnType<CausalPanels['state']>;
    /** The intervention state every view shares. */
    interventions(): InterventionStateView;
    /** Before/after comparisons answered and patching sweeps run (tests). */
    patchStats(): { compares: number; sweeps: number };
    /** Token ranges tinted by input saliency in a document (tests). */
    saliencyRanges(uri: string): number;
  };
}

const startupTimes = new StartupTimes();

export function activate(context: vscode.ExtensionContext): MechLensApi {
  startupTimes.activating();
  const log = new Log();
  context.subscriptions.push(log);

  const ui: { statusBar?: EngineStatusBar; graphEditors?: GraphEditorProvider } = {};
  const engine = new EngineClient({
    workerPath: vscode.Uri.joinPath(context.extensionUri, 'dist', 'worker.js').fsPath,
    log: (level, message) => log[level](message),
    onState: (state) => {
      ui.statusBar?.setState(state);
      // A load, a crash or a restart changes the loaded model: open graphs say whether it is the graph's.
      ui.graphEditors?.modelChanged();
    },
    onCrash: (message) => {
      void vscode.window.showWarningMessage(message, 'Reload Model', 'Show Logs').then((action) => {
        if (action === 'Show Logs') log.show();
        if (action === 'Reload Model') void models.loadActive().catch(() => undefined);
      });
    },
  });
  context.subscriptions.push({ dispose: () => void engine.dispose() });

  const models = new ModelManager(bundledModels(vscode.Uri.joinPath(context.extensionUri, 'models').fsPath), engine, log);
  const statusBar = new EngineStatusBar(models);
  ui.statusBar = statusBar;
  const session = new PromptSession(engine, log);
  const interventions = new InterventionService(engine, () => models.loadActive(), async (seed) => {
    const info = await models.setRandomInit(seed);
    // The prompt panel's own run follows the model; the other views re-run when told the state changed.
    if (info && session.current) await session.run(session.current.text);
    return info;
  });
  const panel = new PromptPanel(context.extensionUri, session, log, interventions);
  const tree = new ModelsTreeProvider(models);
  const inspector = new InspectorViewProvider(context.extensionUri, session);
  context.subscriptions.push(
    models,
    statusBar,
    session,
    panel,
    tree,
    inspector,
    vscode.window.createTreeView('mechlens.models', { treeDataProvider: tree, showCollapseAll: false }),
    vscode.window.registerWebviewViewProvider(INSPECTOR_VIEW_ID, inspector),
    ...registerModelCommands(models, engine, log),
    ...registerDownloadCommand(models, log),
    ...registerPromptCommands({ models, session, panel, log }),
  );
  const inline = new InlineInspector(engine, log, startupTimes);
  const analysisPanels = new AnalysisPanels({ extensionUri: context.extensionUri, engine, log, ensureModel: () => models.loadActive(), interventions });
  const patchPanel = new PatchPanel({ extensionUri: context.extensionUri, engine, session, interventions, ensureModel: () => models.loadActive(), log });
  const experiments = new ExperimentEditorProvider({ extensionUri: context.extensionUri, engine, log, ensureModel: () => models.loadActive(), selectModel: (dir) => models.select(dir) });
  const saliency = new SaliencyDecorations(engine, () => models.loadActive(), log);
  context.subscriptions.push(patchPanel, experiments, saliency, registerExperimentEditor(experiments), ...registerPatchCommands({ engine, session, promptPanel: panel, patchPanel, interventions, ensureModel: () => models.loadActive(), log }));
  context.subscriptions.push(inline, analysisPanels, ...registerViewCommands(analysisPanels, inline, log));
  const causal = new CausalPanels({ extensionUri: context.extensionUri, engine, log, ensureModel: () => models.loadActive(), interventions });
  context.subscriptions.push(causal);
  // Another model: the prompt panel and the analysis panels run again on it; the Patching and causal panels drop the
  // old one's results.
  context.subscriptions.push(
    models.onDidChangeActiveModel(() => {
      analysisPanels.modelChanged();
      patchPanel.modelChanged();
      causal.modelChanged();
      const current = session.current;
      if (!current) return;
      void (async () => {
        try {
          if (await models.loadActive()) await session.run(current.text);
        } catch (err) {
          log.error('Running the prompt on the new model failed', err);
        }
      })();
    }),
  );
  const features = new FeatureStore(context.globalStorageUri.fsPath);
  const graphEditors = new GraphEditorProvider({ extensionUri: context.extensionUri, engine, log, ensureModel: () => models.loadActive(), features, interventions });
  ui.graphEditors = graphEditors;
  context.subscriptions.push(
    graphEditors,
    registerGraphEditor(graphEditors),
    ...registerFeatureCommands({ engine, log, store: features, ensureModel: () => models.loadActive(), onBuilt: (source) => graphEditors.dashboardsChanged(source) }),
    ...registerGraphCommands({ engine, log, storageUri: context.globalStorageUri, ensureModel: () => models.loadActive(), isPromptDocument: (doc) => inline.isPromptDocument(doc) }),
  );

  const warmUp = setTimeout(() => warmEngine(engine, models, inline, log), 0);
  context.subscriptions.push({ dispose: () => clearTimeout(warmUp) });

  startupTimes.activated();
  const times = startupTimes.report();
  const activationMs = times.activateMs;
  const codeLoad = times.codeLoadMs === undefined ? '' : ` after ${times.codeLoadMs.toFixed(1)} ms loading its code and ${times.waitMs?.toFixed(1)} ms waiting for VS Code to call activate()`;
  log.info(`MechLens ${String(context.extension.packageJSON.version)} activated in ${activationMs.toFixed(1)} ms${codeLoad} (${vscode.env.uiKind === vscode.UIKind.Web ? 'web' : 'desktop'} UI${vscode.env.remoteName ? `, remote ${vscode.env.remoteName}` : ''}).`);
  return {
    activationMs,
    startup: () => startupTimes.report(),
    engineState: () => engine.state,
    engineStarts: () => engine.startCount,
    loadedModel: () => engine.loadedModel,
    defaultModelDir: models.defaultModelDir,
    bundledModels: models.bundled,
    currentPrompt: () => session.current,
    statusBarText: () => statusBar.text,
    inspectorResolved: () => inspector.resolved,
    promptPanelOpen: () => panel.visible,
    views: {
      inlineStats: () => ({ ...inline.stats }),
      inspection: (uri) => inline.inspection(uri),
      openPanels: () => analysisPanels.openPanels(),
      openGraphs: () => graphEditors.open(),
      causal: () => causal.state(),
      interventions: () => interventions.store.view(),
      patchStats: () => ({ compares: interventions.compares, sweeps: patchPanel.sweeps }),
      saliencyRanges: (uri) => saliency.decorated(uri),
    },
  };
}

/**
 * Starts the worker and loads the active model right after activation when a prompt file will probably be
 * inspected soon (one is open, or the workspace holds prompt files): otherwise the first inline decorations wait
 * for both (most of their time at start-up, issue #13). Only for a bundled model (a few MB); a model the user
 * picked may be large, and loads on first use as before.
 */
function warmEngine(engine: EngineClient, models: ModelManager, inline: InlineInspector, log: Log): void {
  const active = path.resolve(models.activeDir);
  if (!models.bundled.some((m) => path.resolve(m.dir) === active)) return;
  void inline
    .promptFilesLikely()
    .then(async (likely) => {
      if (!likely) return;
      startupTimes.warming();
      await engine.load();
      startupTimes.warmed();
    })
    // The inspection that follows reports a failure to load; the warm-up only notes it.
    .catch((err: unknown) => log.info(`Engine warm-up stopped: ${errorMessage(err)}`));
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
