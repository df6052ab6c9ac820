// What every MechLens webview shares: the HTML shell (strict CSP, scripts by nonce), the resource roots,
// and an RPC connection over postMessage using the project's one RPC class, with the webview's params
// validated (a webview is untrusted: its page renders model output).
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { RpcEndpoint, RpcError } from '../../shared/rpc';
export { validatePanelParams } from '../../shared/panelProtocol';
import type { Handlers, Notifications, Protocol } from '../../shared/rpc';
import type { PanelHostProtocol, PanelNotifications, WebviewServes } from '../../shared/panelProtocol';

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    // Only the view commands may run from a link in a webview (the Inspector's quick links).
    enableCommandUris: ['mechlens.showLogitLens', 'mechlens.showAttention', 'mechlens.showDla'],
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

/**
 * The HTML shell for `dist/webview/<view>.js`. Content is built by the script, never by HTML strings. The
 * script is an ES module: the chunks it imports (dist/webview/chunks/, shared by every view) are fetched
 * with its nonce, so the CSP admits nothing else.
 */
export function renderShell(webview: vscode.Webview, extensionUri: vscode.Uri, view: string, title: string): string {
  const nonce = randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', `${view}.js`));
  const css = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'webview.css'));
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `font-src ${webview.cspSource}`,
    // 'unsafe-inline' for styles only: plotly injects <style> elements and sets inline styles on its SVG.
    `style-src ${webview.cspSource} 'unsafe-inline'`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css.toString()}">
<title>${escapeHtml(title)}</title>
</head>
<body data-view="${escapeHtml(view)}">
<div id="app" role="main"></div>
<script type="module" nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export type PanelRpc = RpcEndpoint<PanelHostProtocol, WebviewServes, PanelNotifications, Record<string, never>>;

/** Connects an RPC endpoint to a webview; disposing it fails pending calls and stops listening. */
export function connectWebview<L extends Protocol, N extends Notifications>(
  webview: vscode.Webview,
  handlers: Handlers<L, N>,
  validate: (method: string, params: unknown) => void,
  disposables: vscode.Disposable[],
): RpcEndpoint<L, WebviewServes, N, Record<string, never>> {
  const rpc = new RpcEndpoint<L, WebviewServes, N, Record<string, never>>((message) => void webview.postMessage(message), handlers, validate);
  disposables.push(
    webview.onDidReceiveMessage((m: unknown) => rpc.handle(m)),
    { dispose: () => rpc.close(new RpcError('cancelled', 'The view was closed.')) },
  );
  return rpc;
}

/** When `panel` closes: disposes `disposables` (and empties the list), then calls `closed`. */
export function disposeWithPanel(panel: vscode.WebviewPanel, disposables: vscode.Disposable[], closed: () => void): void {
  disposables.push(
    panel.onDidDispose(() => {
      for (const d of disposables.splice(0)) d.dispose();
      closed();
    }),
  );
}

/** Handler table shared by the prompt panel and the Inspector view. */
export type PanelHandlers = Handlers<PanelHostProtocol, PanelNotifications>;
