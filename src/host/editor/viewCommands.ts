// Commands of the analysis views and inline inspection: open the logit lens, attention or DLA panel on a
// prompt (from a CodeLens, the palette, or the editor's context menu), and inspect a selection inline.
import * as vscode from 'vscode';
import type { AnalysisViewKind } from '../../shared/analysisProtocol';
import { errorMessage } from '../log';
import type { Log } from '../log';
import { sourceLabel } from '../views/analysisPanels';
import type { AnalysisPanels, SubjectSource } from '../views/analysisPanels';
import type { InlineInspector } from './inlineInspection';


/**
 * The prompt a view command works on: `{text}` or a string; `{uri, start?, end?}` (a CodeLens: the whole
 * document, followed as it changes, or an offset range of it); else the active editor's selection or text.
 */
export async function resolveSubject(arg: unknown): Promise<SubjectSource | undefined> {
  if (typeof arg === 'string') return { text: arg, source: 'text' };
  if (typeof arg === 'object' && arg !== null) {
    const a = arg as Record<string, unknown>;
    if (typeof a.text === 'string') return { text: a.text, source: 'text' };
    if (typeof a.uri === 'string') {
      const uri = vscode.Uri.parse(a.uri);
      const doc = await vscode.workspace.openTextDocument(uri);
      if (typeof a.start === 'number' && typeof a.end === 'number') {
        const range = new vscode.Range(doc.positionAt(a.start), doc.positionAt(a.end));
        return { text: doc.getText(range), source: `${sourceLabel(uri)} (selection)` };
      }
      return { text: doc.getText(), source: sourceLabel(uri), uri: uri.toString() };
    }
  }
  const editor = vscode.window.activeTextEditor;
  if (!editor) return undefined;
  const doc = editor.document;
  if (!editor.selection.isEmpty) return { text: doc.getText(editor.selection), source: `${sourceLabel(doc.uri)} (selection)` };
  return { text: doc.getText(), source: sourceLabel(doc.uri), uri: doc.uri.toString() };
}

export function registerViewCommands(panels: AnalysisPanels, inspector: InlineInspector, log: Log): vscode.Disposable[] {
  const open = (kind: AnalysisViewKind) => async (arg?: unknown) => {
    const subject = await resolveSubject(arg);
    if (!subject || subject.text.trim().length === 0) {
      void vscode.window.showInformationMessage('MechLens: open a file with a prompt (or select some text) first.');
      return false;
    }
    panels.show(kind, subject);
    return true;
  };
  return [
    vscode.commands.registerCommand('mechlens.showLogitLens', open('lens')),
    vscode.commands.registerCommand('mechlens.showAttention', open('attention')),
    vscode.commands.registerCommand('mechlens.showDla', open('dla')),
    inspector.onDidInspect(({ uri, text }) => panels.documentChanged(uri, text)),
    vscode.commands.registerCommand('mechlens.inspectSelection', async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor) {
        void vscode.window.showInformationMessage('MechLens: select some text in an editor first.');
        return undefined;
      }
      try {
        const r = await inspector.inspectSelection(editor);
        return r ? r.prompt.ids.length : undefined;
      } catch (err) {
        log.error('Inline inspection of the selection failed', err);
        void vscode.window.showErrorMessage(`MechLens: ${errorMessage(err)}`);
        return undefined;
      }
    }),
  ];
}
