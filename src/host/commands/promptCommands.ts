// Prompt commands: run the active editor's text (or selection) through the model and show the result in
// the prompt panel; show the Inspector view.
import * as vscode from 'vscode';
import type { PromptView } from '../../shared/panelProtocol';
import { RpcError } from '../../shared/rpc';
import { errorMessage } from '../log';
import type { Log } from '../log';
import type { ModelManager } from '../models/modelManager';
import { tokenToSignal } from '../progress';
import type { PromptSession } from '../promptSession';
import type { PromptPanel } from '../views/promptPanel';
import { INSPECTOR_VIEW_ID } from '../views/inspectorView';

export interface PromptCommandDeps {
  models: ModelManager;
  session: PromptSession;
  panel: PromptPanel;
  log: Log;
}

/** The text a prompt command works on: an explicit argument, else the selection, else the whole document. */
function promptText(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (typeof arg === 'object' && arg !== null && typeof (arg as Record<string, unknown>).text === 'string') {
    return (arg as { text: string }).text;
  }
  const editor = vscode.window.activeTextEditor;
  if (!editor) return undefined;
  return editor.selection.isEmpty ? editor.document.getText() : editor.document.getText(editor.selection);
}

export async function runPromptText(deps: PromptCommandDeps, text: string): Promise<PromptView | undefined> {
  try {
    const info = await deps.models.loadActive();
    if (!info) return undefined;
    return await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'MechLens: running prompt', cancellable: true },
      (_p, token) => deps.session.run(text, tokenToSignal(token)),
    );
  } catch (err) {
    if (err instanceof RpcError && err.code === 'cancelled') return undefined;
    deps.log.error('Running the prompt failed', err);
    void vscode.window.showErrorMessage(`MechLens: ${errorMessage(err)}`);
    return undefined;
  }
}

export function registerPromptCommands(deps: PromptCommandDeps): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('mechlens.runPrompt', async (arg?: unknown) => {
      const text = promptText(arg);
      if (text === undefined || text.trim().length === 0) {
        void vscode.window.showInformationMessage('MechLens: open a file with a prompt (or select some text) first.');
        return undefined;
      }
      const view = await runPromptText(deps, text);
      if (view) deps.panel.show();
      return view;
    }),
    vscode.commands.registerCommand('mechlens.showInspector', async (arg?: unknown) => {
      await vscode.commands.executeCommand(`${INSPECTOR_VIEW_ID}.focus`);
      const text = promptText(arg);
      if (text === undefined || text.trim().length === 0) return deps.session.current ?? undefined;
      return runPromptText(deps, text);
    }),
  ];
}
