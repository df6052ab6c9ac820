// The "MechLens: Patching" panel: a counterfactual pair beside the prompt (the clean prompt is the prompt
// session's; the counterfactual is the shared intervention state's, so every view's patches read it),
// the token alignment check, patching sweeps (TransformerLens' coverage, exact and attribution) shown as
// heatmaps whose cells the webview turns into interventions, and the shared chips and comparison.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { MiB, readTextFile } from '../../engine/files';
import type { EngineClient } from '../engineClient';
import { saveExperimentAs } from '../experimentEditor';
import type { Log } from '../log';
import type { AnalysisParams } from '../../shared/analyses';
import type { PatchSweepOutput } from '../../shared/patching';
import type { InterventionService } from '../interventions';
import { errorMessage } from '../log';
import type { PromptSession } from '../promptSession';
import type { ModelInfo } from '../../shared/modelInfo';
import { alignPair } from '../../shared/pairs';
import { validatePatchPanelParams } from '../../shared/patchPanelProtocol';
import type { PairView, PatchPanelNotifications, PatchPanelProtocol, SweepView } from '../../shared/patchPanelProtocol';
import type { Handlers, RpcEndpoint } from '../../shared/rpc';
import { RpcError } from '../../shared/rpc';
import type { WebviewServes } from '../../shared/panelProtocol';
import { displayToken } from '../../shared/tokenText';
import { connectWebview, disposeWithPanel, renderShell, webviewOptions } from './webviewHost';

export const PATCH_PANEL_TYPE = 'mechlens.patchPanel';

export interface PatchPanelDeps {
  extensionUri: vscode.Uri;
  engine: EngineClient;
  session: PromptSession;
  interventions: InterventionService;
  ensureModel: () => Promise<ModelInfo | undefined>;
  log: Log;
}

type Rpc = RpcEndpoint<PatchPanelProtocol, WebviewServes, PatchPanelNotifications, Record<string, never>>;

export class PatchPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private rpc: Rpc | undefined;
  private readonly panelDisposables: vscode.Disposable[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  /** Sweeps answered (tests). */
  sweeps = 0;
  private lastSweep: SweepView | null = null;
  /** Why there is no sweep to show, when a model switch dropped one (a hidden page learns it when it reloads). */
  private sweepNote: string | null = null;
  /** The last sweep's analysis params and result, for Save as Experiment. */
  private lastRun: { params: AnalysisParams<'patchSweep'>; result: PatchSweepOutput } | null = null;

  constructor(private readonly deps: PatchPanelDeps) {
    const push = () => {
      if (this.rpc) void this.pair().then((p) => this.rpc?.notify('pair/update', p), (err: unknown) => this.rpc?.notify('engine/error', { message: errorMessage(err) }));
    };
    this.disposables.push(
      deps.session.onDidChange(push),
      deps.interventions.store.onDidChange((v) => {
        this.rpc?.notify('interventions/update', v);
        push();
      }),
      vscode.window.registerWebviewPanelSerializer(PATCH_PANEL_TYPE, { deserializeWebviewPanel: async (panel) => this.attach(panel) }),
    );
  }

  get visible(): boolean {
    return this.panel !== undefined;
  }

  show(): void {
    if (this.panel) {
      this.panel.reveal(undefined, true);
      return;
    }
    const panel = vscode.window.createWebviewPanel(PATCH_PANEL_TYPE, 'MechLens: Patching', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, webviewOptions(this.deps.extensionUri));
    this.attach(panel);
  }

  /**
   * The active model changed: the last sweep was the old model's, so it is dropped (the page removes its heatmaps,
   * and Save as Experiment no longer offers it) and the pair is shown as the new model tokenizes it.
   */
  modelChanged(): void {
    if (this.lastSweep) this.sweepNote = 'The active model changed, so the sweep shown was the previous model\'s: run it again to see this one\'s.';
    this.lastSweep = null;
    this.lastRun = null;
    if (!this.rpc) return;
    if (this.sweepNote) this.rpc.notify('sweep/clear', { message: this.sweepNote });
    void this.pair().then((p) => this.rpc?.notify('pair/update', p), (err: unknown) => this.rpc?.notify('engine/error', { message: errorMessage(err) }));
  }

  private async model(): Promise<ModelInfo> {
    const info = await this.deps.ensureModel();
    if (!info) throw new RpcError('cancelled', 'No model is loaded.');
    return info;
  }

  private async tokens(text: string, signal?: AbortSignal): Promise<Array<{ id: number; text: string }>> {
    const t = await this.deps.engine.call('tokenize', { text }, { signal });
    return t.ids.map((id, i) => ({ id, text: t.texts[i] ?? '' }));
  }

  private async pair(signal?: AbortSignal): Promise<PairView | null> {
    const info = await this.model();
    const cleanText = this.deps.session.current?.text ?? null;
    const cfText = this.deps.interventions.store.counterfactual;
    const clean = cleanText === null ? null : { text: cleanText, tokens: await this.tokens(cleanText, signal) };
    const counterfactual = cfText === null ? null : { text: cfText, tokens: await this.tokens(cfText, signal) };
    return {
      modelName: info.name,
      nLayers: info.nLayers,
      nHeads: info.nHeads,
      clean,
      counterfactual,
      alignment: clean && counterfactual ? alignPair(clean.tokens, counterfactual.tokens) : null,
    };
  }

  /** An answer token as typed: it must be exactly one token. */
  private async answer(text: string, role: string, signal?: AbortSignal): Promise<number> {
    const t = await this.tokens(text, signal);
    if (t.length !== 1) {
      const parts = t.map((x) => `“${displayToken(x.text)}”`).join(', ');
      throw new RpcError('bad-input', `The ${role} answer “${displayToken(text)}” is ${t.length === 0 ? 'empty' : `${t.length} tokens (${parts})`}: the metric needs a single token. Type a word that is one token (the Patching panel adds a leading space; =text uses text exactly).`);
    }
    return t[0]!.id;
  }

  private handlers(): Handlers<PatchPanelProtocol, PatchPanelNotifications> {
    const { engine, session, interventions } = this.deps;
    return {
      ...interventions.handlers(() => session.current?.text ?? null),
      'pair/get': (_p, ctx) => this.pair(ctx.signal),
      'pair/reference': async ({ clear }) => {
        if (clear) {
          interventions.store.setReference(null);
          return null;
        }
        const picked = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Use as Reference Prompts', filters: { 'Prompts, one per line': ['txt', 'prompt', 'mlprompt'] } });
        const file = picked?.[0];
        if (!file) return null;
        const text = readTextFile(file.fsPath, 'The reference prompts file', 8 * MiB);
        interventions.store.setReference({ name: path.basename(file.fsPath), prompts: text.split(/\r?\n/) });
        this.deps.log.info(`Mean ablation now averages over the ${interventions.store.reference?.length ?? 0} prompts of ${file.fsPath}.`);
        return null;
      },
      'sweep/save': async () => {
        const last = this.lastRun;
        if (!last) throw new RpcError('bad-input', 'Run a sweep first: there is nothing to save yet.');
        const info = await this.model();
        return { path: await saveExperimentAs(info, 'patchSweep', last.params, last.result, `patch-${last.params.sweep}.mlexp.json`, this.deps.log) };
      },
      'sweep/last': () => ({
        sweep: this.lastSweep ? { ...this.lastSweep, exact: this.lastSweep.exact?.slice(), attribution: this.lastSweep.attribution?.slice() } : null,
        note: this.sweepNote,
      }),
      'pair/setClean': async ({ text }, ctx) => {
        await this.model();
        if (text.trim()) await session.run(text, ctx.signal);
        return this.pair(ctx.signal);
      },
      'pair/setCounterfactual': async ({ text }, ctx) => {
        interventions.store.setCounterfactual(text);
        return this.pair(ctx.signal);
      },
      'sweep/run': async ({ sweep, direction, metric, method, target, baseline }, ctx) => {
        await this.model();
        const clean = session.current?.text;
        const corrupted = interventions.store.counterfactual;
        if (!clean) throw new RpcError('bad-input', 'No prompt yet: write the clean prompt above (or run “MechLens: Run Prompt” on an editor).');
        if (corrupted === null) throw new RpcError('bad-input', 'Write a counterfactual prompt first (the helpers can make one from the clean prompt).');
        const targetId = await this.answer(target, 'correct', ctx.signal);
        const baselineId = baseline !== undefined && baseline.trim() ? await this.answer(baseline, 'baseline', ctx.signal) : undefined;
        const job = engine.jobs.start('panel:patch:sweep', ctx.signal);
        try {
          const params: AnalysisParams<'patchSweep'> = { clean: { text: clean }, corrupted: { text: corrupted }, sweep, direction, metric, method, target: targetId, baseline: baselineId };
          const r = await engine.call('analysis/patchSweep', params, { signal: job.signal });
          this.sweeps++;
          this.lastRun = { params, result: { ...r, exact: r.exact?.slice(), attribution: r.attribution?.slice() } };
          const view: SweepView = { ...r, targetText: target, baselineText: baseline };
          // Kept for a reload of the panel; copies, since the reply's typed arrays are transferred away.
          this.lastSweep = { ...view, exact: view.exact?.slice(), attribution: view.attribution?.slice() };
          this.sweepNote = null;
          return view;
        } finally {
          job.done();
        }
      },
    };
  }

  private attach(panel: vscode.WebviewPanel): void {
    this.panel?.dispose();
    this.panel = panel;
    panel.iconPath = vscode.Uri.joinPath(this.deps.extensionUri, 'media', 'mechlens.svg');
    panel.webview.options = webviewOptions(this.deps.extensionUri);
    this.rpc = connectWebview(panel.webview, this.handlers(), validatePatchPanelParams, this.panelDisposables);
    panel.webview.html = renderShell(panel.webview, this.deps.extensionUri, 'patch', 'MechLens: Patching');
    disposeWithPanel(panel, this.panelDisposables, () => {
      this.panel = undefined;
      this.rpc = undefined;
    });
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
