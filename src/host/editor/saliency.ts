// Input saliency in the editor: "MechLens: Show Input Saliency" scores each prompt token by gradient x input
// or integrated gradients (the engine's `saliency` analysis) for a next-token target, the model's top
// prediction or one the user types, and tints each token's text: blue where the token raises the target's
// logit, red where it lowers it, stronger for larger |score|; a hover shows the token's score, its rank and
// the metric. The prompt is the selection, else the document up to the cursor. Edits clear the tints.
import * as vscode from 'vscode';
import type { SaliencyMethod } from '../../shared/analyses';
import { SALIENCY_METHODS } from '../../shared/analyses';
import type { ModelInfo } from '../../shared/modelInfo';
import { displayToken } from '../../shared/tokenText';
import type { EngineClient } from '../engineClient';
import { errorMessage } from '../log';
import type { Log } from '../log';
import { escapeMarkdown, mdToken } from './inspectModel';

/** Strength levels per sign: a token's tint is the level of |score| / max |score|. */
export const SALIENCY_LEVELS = 5;

/** The level (1..SALIENCY_LEVELS, 0: none) and sign of each score, relative to the largest |score|. */
export function saliencyLevels(scores: readonly number[]): Array<{ level: number; positive: boolean }> {
  const max = Math.max(0, ...scores.map((s) => (Number.isFinite(s) ? Math.abs(s) : 0)));
  return scores.map((s) => ({ level: max > 0 && Number.isFinite(s) ? Math.ceil((Math.abs(s) / max) * SALIENCY_LEVELS) : 0, positive: s >= 0 }));
}

const METHOD_LABELS: Record<SaliencyMethod, string> = { grad_x_input: 'gradient × input', integrated_gradients: 'integrated gradients' };

export interface SaliencyArgs {
  /** The target token's text (one token); default: the model's top prediction. */
  target?: string;
  method?: SaliencyMethod;
}

export class SaliencyDecorations implements vscode.Disposable {
  /** [positive ? 1 : 0][level - 1]. */
  private readonly types: vscode.TextEditorDecorationType[][];
  private readonly shown = new Map<string, { version: number; ranges: number }>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly engine: EngineClient,
    private readonly ensureModel: () => Promise<ModelInfo | undefined>,
    private readonly log: Log,
  ) {
    const tint = (rgb: string, level: number) => `rgba(${rgb}, ${(0.12 + (0.5 * level) / SALIENCY_LEVELS).toFixed(2)})`;
    this.types = [0, 1].map((positive) =>
      Array.from({ length: SALIENCY_LEVELS }, (_, i) =>
        vscode.window.createTextEditorDecorationType({
          backgroundColor: tint(positive ? '55, 148, 255' : '240, 80, 60', i + 1),
          borderRadius: '2px',
          rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
        }),
      ),
    );
    this.disposables.push(
      ...this.types.flat(),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length && this.shown.has(e.document.uri.toString())) this.clear(e.document);
      }),
      vscode.commands.registerCommand('mechlens.showSaliency', (args?: SaliencyArgs) => this.show(args)),
      vscode.commands.registerCommand('mechlens.clearSaliency', () => {
        const doc = vscode.window.activeTextEditor?.document;
        if (doc) this.clear(doc);
      }),
    );
  }

  /** Decorated ranges in a document (tests). */
  decorated(uri: string): number {
    return this.shown.get(uri)?.ranges ?? 0;
  }

  private clear(doc: vscode.TextDocument): void {
    for (const editor of vscode.window.visibleTextEditors) if (editor.document === doc) for (const t of this.types.flat()) editor.setDecorations(t, []);
    this.shown.delete(doc.uri.toString());
  }

  private async show(args: SaliencyArgs = {}): Promise<number | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('MechLens: open a prompt in an editor first (select it, or put the cursor where the prompt ends).');
      return undefined;
    }
    const doc = editor.document;
    const sel = editor.selection;
    const start = sel.isEmpty ? 0 : doc.offsetAt(sel.start);
    const end = sel.isEmpty ? doc.offsetAt(sel.active) || doc.getText().length : doc.offsetAt(sel.end);
    const text = doc.getText().slice(start, end);
    if (text.trim().length === 0) {
      void vscode.window.showInformationMessage('MechLens: there is no prompt before the cursor: select the prompt or put the cursor after it.');
      return undefined;
    }
    try {
      if (!(await this.ensureModel())) return undefined;
      const top = await this.engine.call('analysis/run', { prompt: { text }, topK: 1 });
      const predicted = top.top[0]?.text ?? '';
      const typed =
        args.target ??
        (await vscode.window.showInputBox({
          title: 'MechLens: saliency for which next token?',
          prompt: 'One token, as it is written (a leading space matters). Empty: the model\'s top prediction.',
          value: predicted,
        }));
      if (typed === undefined) return undefined;
      const targetText = typed === '' ? predicted : typed;
      const ids = (await this.engine.call('tokenize', { text: targetText })).ids;
      if (ids.length !== 1) throw new Error(`The target “${displayToken(targetText)}” is ${ids.length} tokens; saliency needs one token (a leading space is part of it).`);
      const method =
        args.method ??
        (await vscode.window.showQuickPick(SALIENCY_METHODS.map((m) => ({ label: METHOD_LABELS[m], m })), { title: 'MechLens: saliency method' }))?.m;
      if (!method) return undefined;
      const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'MechLens: saliency' }, () =>
        this.engine.call('analysis/saliency', { prompt: { text }, target: ids[0]!, method }),
      );
      const spans = r.prompt.spans ?? [];
      const levels = saliencyLevels(r.scores);
      const order = r.scores.map((s, i) => [Math.abs(s), i] as const).sort((a, b) => b[0] - a[0]).map(([, i]) => i);
      const buckets = this.types.map((row) => row.map(() => [] as vscode.DecorationOptions[]));
      r.scores.forEach((score, i) => {
        const span = spans[i];
        const { level, positive } = levels[i]!;
        if (!span || span[1] <= span[0] || level === 0) return;
        const hover = new vscode.MarkdownString(
          `**MechLens saliency** (${METHOD_LABELS[method]}) of ${mdToken(r.prompt.texts[i] ?? '')} for the next token ${mdToken(targetText)}: ` +
            `**${score >= 0 ? '+' : ''}${score.toPrecision(3)}** (rank ${order.indexOf(i) + 1} of ${r.scores.length} by |score|; logit ${r.metric.toFixed(3)}` +
            `${r.baselineMetric !== undefined ? `, ${escapeMarkdown(`with every embedding zeroed ${r.baselineMetric.toFixed(3)}`)}` : ''})`,
        );
        buckets[positive ? 1 : 0]![level - 1]!.push({ range: new vscode.Range(doc.positionAt(start + span[0]), doc.positionAt(start + span[1])), hoverMessage: hover });
      });
      for (const [p, row] of this.types.entries()) for (const [l, t] of row.entries()) editor.setDecorations(t, buckets[p]![l]!);
      const ranges = buckets.flat(2).length;
      this.shown.set(doc.uri.toString(), { version: doc.version, ranges });
      this.log.info(`Saliency (${method}) of ${r.scores.length} tokens for ${JSON.stringify(targetText)}: ${ranges} tinted.`);
      return ranges;
    } catch (err) {
      this.log.error('Saliency failed', err);
      void vscode.window.showErrorMessage(`MechLens: ${errorMessage(err)}`);
      return undefined;
    }
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
