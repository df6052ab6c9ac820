// The "MechLens: Prompt" editor panel: the prompt's tokens as chips and the next-token distribution at the
// clicked position (each click is a round trip to the engine). Restored after a reload by a serializer
// that re-runs the prompt text kept in the webview's state.
import * as vscode from 'vscode';
import { validatePromptPanelParams } from '../../shared/panelProtocol';
import type { PanelState, PromptPanelNotifications, PromptPanelProtocol } from '../../shared/panelProtocol';
import type { Handlers, RpcEndpoint } from '../../shared/rpc';
import type { InterventionService } from '../interventions';
import { errorMessage } from '../log';
import type { Log } from '../log';
import type { PromptSession } from '../promptSession';
import { connectWebview, disposeWithPanel, renderShell, webviewOptions } from './webviewHost';
import type { WebviewServes } from '../../shared/panelProtocol';

export const PROMPT_PANEL_TYPE = 'mechlens.promptPanel';

export class PromptPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private rpc: RpcEndpoint<PromptPanelProtocol, WebviewServes, PromptPanelNotifications, Record<string, never>> | undefined;
  private readonly panelDisposables: vscode.Disposable[] = [];
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly session: PromptSession,
    private readonly log: Log,
    private readonly interventions: InterventionService,
  ) {
    this.disposables.push(
      session.onDidChange((view) => this.rpc?.notify('prompt/update', view)),
      interventions.store.onDidChange((v) => this.rpc?.notify('interventions/update', v)),
      vscode.window.registerWebviewPanelSerializer(PROMPT_PANEL_TYPE, {
        deserializeWebviewPanel: async (panel, state: unknown) => this.restore(panel, state),
      }),
    );
  }

  get visible(): boolean {
    return this.panel !== undefined;
  }

  /** Opens (or reveals) the panel; it shows the session's current prompt. */
  show(): void {
    if (this.panel) {
      this.panel.reveal(undefined, true);
      return;
    }
    const panel = vscode.window.createWebviewPanel(PROMPT_PANEL_TYPE, 'MechLens: Prompt', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, webviewOptions(this.extensionUri));
    this.attach(panel);
  }

  private async restore(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
    this.panel?.dispose();
    this.attach(panel);
    const text = isPanelState(state) ? state.text : undefined;
    if (text && !this.session.current) {
      try {
        await this.session.run(text);
      } catch (err) {
        this.log.warn(`Could not re-run the restored prompt: ${errorMessage(err)}`);
        this.rpc?.notify('engine/error', { message: errorMessage(err) });
      }
    }
  }

  private attach(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'mechlens.svg');
    panel.webview.options = webviewOptions(this.extensionUri);
    const handlers: Handlers<PromptPanelProtocol, PromptPanelNotifications> = {
      ...this.interventions.handlers(() => this.session.current?.text ?? null),
      'prompt/get': () => this.session.current,
      'prompt/topAt': ({ position }, ctx) => this.session.topAt(position, ctx.signal),
      'prompt/rerun': async (_p, ctx) => {
        const current = this.session.current;
        return current ? this.session.run(current.text, ctx.signal) : null;
      },
    };
    this.rpc = connectWebview(panel.webview, handlers, validatePromptPanelParams, this.panelDisposables);
    panel.webview.html = renderShell(panel.webview, this.extensionUri, 'prompt', 'MechLens: Prompt');
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

function isPanelState(s: unknown): s is PanelState {
  return typeof s === 'object' && s !== null && typeof (s as Record<string, unknown>).text === 'string';
}
