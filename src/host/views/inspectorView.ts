// The Inspector sidebar view: the active prompt's next-token distribution, updated when a prompt runs.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PromptSession } from '../promptSession';
import { connectWebview, renderShell, validatePanelParams, webviewOptions } from './webviewHost';
import type { PanelHandlers, PanelRpc } from './webviewHost';

export const INSPECTOR_VIEW_ID = 'mechlens.inspector';

export class InspectorViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private rpc: PanelRpc | undefined;
  private viewDisposables: vscode.Disposable[] = [];
  private readonly sub: vscode.Disposable;
  private readonly editorSub: vscode.Disposable;
  /** Set once the view's webview was resolved (tests and the status of the view). */
  resolved = false;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly session: PromptSession,
  ) {
    this.sub = session.onDidChange((view) => this.rpc?.notify('prompt/update', view));
    this.editorSub = vscode.window.onDidChangeActiveTextEditor((e) => e && this.notifyEditor());
  }

  /** Tells the view which document its quick links apply to: the active editor's, else a visible one's. */
  private notifyEditor(): void {
    const doc = (vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0])?.document;
    if (!doc && !this.rpc) return;
    this.rpc?.notify('editor/active', doc ? { name: path.basename(doc.uri.path) || doc.uri.toString(), uri: doc.uri.toString() } : { name: null });
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    for (const d of this.viewDisposables) d.dispose();
    this.viewDisposables = [];
    view.webview.options = webviewOptions(this.extensionUri);
    const handlers: PanelHandlers = {
      'prompt/get': () => {
        setTimeout(() => this.notifyEditor(), 0); // the view asks on start: it is listening now
        return this.session.current;
      },
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
    this.editorSub.dispose();
    for (const d of this.viewDisposables) d.dispose();
  }
}
