// The Inspector sidebar view: the active prompt's next-token distribution, updated when a prompt runs.
import type * as vscode from 'vscode';
import type { PromptSession } from '../promptSession';
import { connectWebview, renderShell, validatePanelParams, webviewOptions } from './webviewHost';
import type { PanelHandlers, PanelRpc } from './webviewHost';

export const INSPECTOR_VIEW_ID = 'mechlens.inspector';

export class InspectorViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private rpc: PanelRpc | undefined;
  private viewDisposables: vscode.Disposable[] = [];
  private readonly sub: vscode.Disposable;
  /** Set once the view's webview was resolved (tests and the status of the view). */
  resolved = false;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly session: PromptSession,
  ) {
    this.sub = session.onDidChange((view) => this.rpc?.notify('prompt/update', view));
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    for (const d of this.viewDisposables) d.dispose();
    this.viewDisposables = [];
    view.webview.options = webviewOptions(this.extensionUri);
    const handlers: PanelHandlers = {
      'prompt/get': () => this.session.current,
      'prompt/topAt': ({ position }, ctx) => this.session.topAt(position, ctx.signal),
      'prompt/rerun': async (_p, ctx) => {
        const current = this.session.current;
        return current ? this.session.run(current.text, ctx.signal) : null;
      },
    };
    this.rpc = connectWebview(view.webview, handlers, validatePanelParams, this.viewDisposables);
    view.webview.html = renderShell(view.webview, this.extensionUri, 'inspector', 'MechLens Inspector');
    this.viewDisposables.push(
      view.onDidDispose(() => {
        for (const d of this.viewDisposables) d.dispose();
        this.viewDisposables = [];
        this.rpc = undefined;
        this.resolved = false;
      }),
    );
    this.resolved = true;
  }

  dispose(): void {
    this.sub.dispose();
    for (const d of this.viewDisposables) d.dispose();
  }
}
