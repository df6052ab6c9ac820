// The causal-abstraction panel (issue #16): one editor panel where a hypothesis (JSON: templates, slots,
// output, variables with their sites) is edited and tested: interchange interventions and their accuracy
// (IIA) with a layer x position heatmap, DAS with its controls and loss curves, probes with their causal
// check. Requests are validated here with the analyses' own schemas and run in the long-job worker with
// progress and cancellation; the last result of each kind stays in the host, which saves it as an
// experiment file (*.mlexp.json, the analysis' registry name and params, so `mechlens experiment` re-runs
// it) or, for DAS, as a subspace (safetensors + JSON + steering interventions). Experiment files of the
// causal analyses re-open into the panel (MechLens: Open Causal Results).
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CausalHeader, CausalHostProtocol, CausalInit, CausalKind, CausalNotifications, CausalOpened } from '../../shared/causalProtocol';
import { CAUSAL_KINDS, validateCausalParams } from '../../shared/causalProtocol';
import type { AnalysisParams, AnalysisResults } from '../../shared/analyses';
import { EXAMPLE_NAMES, exampleHypothesis } from '../../shared/causal';
import type { Hypothesis } from '../../shared/causal';
import { parseExperiment } from '../../shared/experiment';
import type { ModelInfo } from '../../shared/protocol';
import { RpcError } from '../../shared/rpc';
import type { Handlers, RpcEndpoint } from '../../shared/rpc';
import { modelHash } from '../../engine/experimentRecord';
import { saveExperimentAs } from '../experimentEditor';
import { saveSubspace } from '../../engine/analysis/subspaceFile';
import type { EngineClient } from '../engineClient';
import type { InterventionService } from '../interventions';
import { subspaceSpec, viewSite } from '../../shared/subspaceUi';
import { errorMessage } from '../log';
import type { Log } from '../log';
import { connectWebview, renderShell, webviewOptions } from './webviewHost';

export const CAUSAL_PANEL_TYPE = 'mechlens.causalPanel';

export interface CausalPanelDeps {
  extensionUri: vscode.Uri;
  engine: EngineClient;
  log: Log;
  ensureModel: () => Promise<ModelInfo | undefined>;
  /** The views' shared interventions, where a DAS subspace goes as a patching site or steering direction. */
  interventions: InterventionService;
}

type Rpc = RpcEndpoint<CausalHostProtocol, Record<string, never>, CausalNotifications, Record<string, never>>;
type Last = { [K in CausalKind]?: { params: AnalysisParams<K>; result: AnalysisResults[K] } };

class CausalPanel {
  private rpc: Rpc | undefined;
  private disposables: vscode.Disposable[] = [];
  readonly last: Last = {};
  /** Results delivered (tests). */
  results = 0;

  constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly deps: CausalPanelDeps,
    private opened: CausalOpened | undefined,
    onDispose: () => void,
  ) {
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'mechlens.svg');
    panel.webview.options = webviewOptions(deps.extensionUri);
    panel.title = 'Causal abstraction';
    this.rpc = connectWebview(panel.webview, this.handlers(), validateCausalParams, this.disposables);
    panel.webview.html = renderShell(panel.webview, deps.extensionUri, 'causal', 'MechLens: Causal abstraction');
    this.disposables.push(
      panel.onDidDispose(() => {
        this.rpc = undefined;
        for (const d of this.disposables) d.dispose();
        this.disposables = [];
        onDispose();
      }),
    );
  }

  /** Shows an experiment's results (the panel asks for them in causal/init when it starts). */
  open(opened: CausalOpened): void {
    this.opened = opened;
    this.rememberOpened(opened);
    this.rpc?.notify('causal/opened', opened);
  }

  private rememberOpened(o: CausalOpened): void {
    // A re-opened result can be saved again (e.g. its subspace).
    if (o.kind === 'das') this.last.das = { params: { hypothesis: o.hypothesis, rank: o.result.rank, variable: o.result.variable }, result: o.result };
    else if (o.kind === 'iia') this.last.iia = { params: { hypothesis: o.hypothesis }, result: o.result };
    else this.last.probe = { params: { hypothesis: o.hypothesis }, result: o.result };
  }

  private async model(): Promise<ModelInfo> {
    const info = await this.deps.ensureModel();
    if (!info) throw new RpcError('cancelled', 'No model is loaded.');
    return info;
  }

  /** The active model as the page shows it, with a starting hypothesis for it. */
  private async header(): Promise<CausalHeader> {
    const info = await this.model();
    // Base and source prompts must tokenize to one length: names of one token each (with their leading space).
    const single: string[] = [];
    for (const name of EXAMPLE_NAMES) if ((await this.deps.engine.call('tokenize', { text: ` ${name}` })).ids.length === 1) single.push(name);
    const example = exampleHypothesis(info.nLayers, single.length >= 4 ? single : EXAMPLE_NAMES);
    return { modelName: info.name, nLayers: info.nLayers, dModel: info.dModel, example: JSON.stringify(example, null, 2) };
  }

  /**
   * The active model changed: the results shown (IIA, DAS, probes) were the previous model's, so they are dropped
   * here and on the page, which shows the new model and its starting hypothesis.
   */
  modelChanged(): void {
    for (const kind of CAUSAL_KINDS) delete this.last[kind];
    this.opened = undefined;
    if (!this.rpc) return;
    void this.header().then(
      (h) => this.rpc?.notify('causal/modelChanged', h),
      (err: unknown) => this.deps.log.error('The causal panel could not read the new model', err),
    );
  }

  private run<K extends CausalKind>(kind: K, params: AnalysisParams<K>, ctx: { signal: AbortSignal; notify: (m: 'causal/progress', p: { message: string; fraction?: number }) => void }): Promise<AnalysisResults[K]> {
    const job = this.deps.engine.jobs.start(`panel:causal:${kind}`, ctx.signal);
    return (async () => {
      await this.model();
      const method = `analysis/${kind}` as const;
      const result = (await this.deps.engine.call(method, params as never, { signal: job.signal, onProgress: (message, fraction) => ctx.notify('causal/progress', { message, fraction }) })) as AnalysisResults[K];
      (this.last as Record<string, unknown>)[kind] = { params, result };
      this.results++;
      return result;
    })().finally(() => job.done());
  }

  private handlers(): Handlers<CausalHostProtocol, CausalNotifications> {
    return {
      'causal/init': async (): Promise<CausalInit> => {
        const header = await this.header();
        const opened = this.opened;
        if (this.opened) {
          this.rememberOpened(this.opened);
          this.opened = undefined; // shown once; afterwards it is one of the last results
        }
        const last = { iia: this.last.iia?.result, das: this.last.das?.result, probe: this.last.probe?.result };
        return { ...header, ...(opened ? { opened } : {}), last };
      },
      'causal/iia': (params, ctx) => this.run('iia', params, ctx),
      'causal/das': (params, ctx) => this.run('das', params, ctx),
      'causal/probe': (params, ctx) => this.run('probe', params, ctx),
      'causal/iiaSubspace': async ({ hypothesis, variable }, ctx) => {
        const picked = await vscode.window.showOpenDialog({ canSelectMany: false, defaultUri: defaultFile(''), filters: { 'Saved subspace': ['safetensors'] }, openLabel: 'Interchange this subspace' });
        const file = picked?.[0]?.fsPath;
        if (!file) return null;
        const name = variable ?? hypothesis.variables[0]?.name;
        const i = hypothesis.variables.findIndex((v) => v.name === name);
        if (i < 0) throw new RpcError('bad-input', `Unknown variable "${name}".`);
        // The subspace's own site (its JSON beside it) when there is one; else the variable's.
        let site = hypothesis.variables[i]!.site;
        try {
          const meta = JSON.parse(Buffer.from(await vscode.workspace.fs.readFile(vscode.Uri.file(file.replace(/\.safetensors$/, '.json')))).toString('utf8')) as { site?: { hook?: unknown; positions?: unknown; heads?: unknown } };
          if (meta.site && typeof meta.site.hook === 'string') site = { hook: meta.site.hook, ...(Array.isArray(meta.site.positions) ? { positions: meta.site.positions as number[] } : {}), ...(Array.isArray(meta.site.heads) ? { heads: meta.site.heads as number[] } : {}) };
        } catch {
          // no JSON beside it: the variable's own site
        }
        if (!site) throw new RpcError('bad-input', `Variable ${name} has no site and the subspace has no JSON naming one.`);
        const withSubspace = { ...hypothesis, variables: hypothesis.variables.map((v, j) => (j === i ? { ...v, site: { ...site, subspace: file } } : v)) };
        return this.run('iia', { hypothesis: withSubspace, variables: [name!] }, ctx);
      },
      'causal/saveExperiment': async ({ kind }) => {
        const last = this.last[kind];
        if (!last) throw new RpcError('bad-input', `There is no ${kind.toUpperCase()} result to save yet.`);
        // Written, then opened in the experiment editor (re-run, diff); MechLens: Open Causal Results shows it here again.
        return { path: await saveExperimentAs(await this.model(), kind, last.params as never, last.result as never, `causal-${kind}.mlexp.json`, this.deps.log) };
      },
      'causal/saveSubspace': async () => {
        const last = this.last.das;
        if (!last) throw new RpcError('bad-input', 'There is no DAS result to save yet: train DAS first.');
        const info = await this.model();
        const target = await vscode.window.showSaveDialog({ defaultUri: defaultFile(`${last.result.variable}-subspace.safetensors`), filters: { Safetensors: ['safetensors'] }, saveLabel: 'Save Subspace' });
        if (!target) return { paths: null };
        let sha256: string | undefined;
        try {
          sha256 = modelHash(info.dir);
        } catch {
          sha256 = undefined;
        }
        const paths = saveSubspace(target.fsPath, last.result, last.params.hypothesis, { name: info.name, sha256, dModel: info.dModel });
        this.deps.log.info(`Saved the ${last.result.variable} subspace: ${paths.join(', ')}`);
        return { paths };
      },
      'causal/useSubspace': async ({ as }) => {
        const last = this.last.das;
        if (!last) throw new RpcError('bad-input', 'There is no DAS result yet: train DAS first.');
        const r = last.result;
        const site = viewSite(r.site, last.params.hypothesis, r.variable);
        const spec = subspaceSpec(r.trained.rotation, r.site.dim, r.rank, site, as, { name: r.variable, ...(as === 'steer' ? { strength: r.trained.deltaRms?.[0] ?? 1 } : {}) });
        const view = await this.deps.interventions.addSubspace(spec, null);
        // The Patching panel shows the chip beside the counterfactual it patches from (and where to write one).
        await vscode.commands.executeCommand('mechlens.showPatching');
        return { label: view.chips.at(-1)?.label ?? '' };
      },
    };
  }

  dispose(): void {
    this.panel.dispose();
  }
}

function defaultFile(name: string): vscode.Uri | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  return folder ? vscode.Uri.joinPath(folder, name) : undefined;
}

/** Reads an experiment file of a causal analysis (iia, das, probe) with saved results. */
export async function readCausalExperiment(uri: vscode.Uri): Promise<CausalOpened> {
  const text = Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
  const e = parseExperiment(text, path.basename(uri.fsPath));
  if (!(CAUSAL_KINDS as readonly string[]).includes(e.analysis)) throw new RpcError('bad-input', `${path.basename(uri.fsPath)} holds a ${e.analysis} analysis, not a causal one (iia, das, probe).`);
  if (e.results === undefined) throw new RpcError('bad-input', `${path.basename(uri.fsPath)} has no results yet: run it with mechlens experiment --update first.`);
  const hypothesis = (e.params as { hypothesis?: Hypothesis }).hypothesis!;
  const results = e.results as Record<string, unknown>;
  // Lists back to typed arrays where the views expect them.
  if (e.analysis === 'das') {
    const fix = (r: unknown) => {
      const run = r as { rotation?: number[] | Float32Array } | undefined;
      if (run && Array.isArray(run.rotation)) run.rotation = Float32Array.from(run.rotation);
    };
    fix(results.trained);
    const controls = results.controls as Record<string, unknown> | undefined;
    if (controls) for (const r of Object.values(controls)) fix(r);
  }
  return { file: uri.fsPath, hypothesis, kind: e.analysis as CausalKind, result: results } as unknown as CausalOpened;
}

/** Opens, reveals and restores the causal panel (one). */
export class CausalPanels implements vscode.Disposable {
  private current: CausalPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly deps: CausalPanelDeps) {
    this.disposables.push(
      vscode.window.registerWebviewPanelSerializer(CAUSAL_PANEL_TYPE, { deserializeWebviewPanel: async (panel) => this.attach(panel, undefined) }),
      vscode.commands.registerCommand('mechlens.showCausal', () => {
        this.show();
        return true;
      }),
      vscode.commands.registerCommand('mechlens.openCausalResults', async (arg?: unknown) => {
        const uri = arg instanceof vscode.Uri ? arg : (activeFile() ?? (await pickExperiment()));
        if (!uri) return false;
        try {
          this.show(await readCausalExperiment(uri));
          return true;
        } catch (err) {
          void vscode.window.showErrorMessage(`MechLens: ${errorMessage(err)}`);
          return false;
        }
      }),
    );
  }

  show(opened?: CausalOpened): void {
    if (this.current) {
      if (opened) this.current.open(opened);
      this.current.panel.reveal(undefined, false);
      return;
    }
    // Kept while hidden: a DAS run goes on for seconds to minutes, and its progress and results should still be
    // there when the user comes back from another tab (a reload still redraws the host's last results).
    const panel = vscode.window.createWebviewPanel(CAUSAL_PANEL_TYPE, 'Causal abstraction', { viewColumn: vscode.ViewColumn.Active, preserveFocus: false }, { ...webviewOptions(this.deps.extensionUri), retainContextWhenHidden: true });
    this.attach(panel, opened);
  }

  modelChanged(): void {
    this.current?.modelChanged();
  }

  /** Tests: whether the panel is open, the results it delivered, the last result of each kind. */
  state(): { open: boolean; results: number; last: Last } {
    return { open: this.current !== undefined, results: this.current?.results ?? 0, last: this.current?.last ?? {} };
  }

  private attach(panel: vscode.WebviewPanel, opened: CausalOpened | undefined): void {
    this.current?.dispose();
    const p = new CausalPanel(panel, this.deps, opened, () => {
      if (this.current === p) this.current = undefined;
    });
    this.current = p;
  }

  dispose(): void {
    this.current?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

/** The active editor tab's file when it is an experiment file (a text or custom editor). */
function activeFile(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  const uri = input instanceof vscode.TabInputText || input instanceof vscode.TabInputCustom ? input.uri : undefined;
  return uri && uri.path.endsWith('.mlexp.json') ? uri : undefined;
}

async function pickExperiment(): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'MechLens experiment': ['json'] }, openLabel: 'Open Causal Results' });
  return picked?.[0];
}
