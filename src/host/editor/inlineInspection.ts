// Inline inspection: in prompt files (mechlens.inlineInspection.filePatterns) and on a selection by
// command, each token gets a background tint scaled by its surprisal and a thin boundary; a hover shows
// the model's top next-token predictions there, the actual token's probability and rank, and a one-line
// logit lens (decoded for the hovered token when it is hovered, from the residual streams the engine kept
// from the inspection's forward); a CodeLens opens the analysis panels. Updates are debounced while the
// user types; a new update supersedes the running one (JobSlots), and the engine runs in its worker, so
// typing never waits.
import * as vscode from 'vscode';
import type { InspectResult } from '../../shared/protocol';
import { RpcError } from '../../shared/rpc';
import type { EngineClient } from '../engineClient';
import { readConfig } from '../config';
import { errorMessage } from '../log';
import type { Log } from '../log';
import { SURPRISAL_BUCKETS, UNTRUSTED_STATUS, autoInspection, hoverMarkdown, latencyText, lensLineMarkdown, lensUnavailableMarkdown, surprisalBucket, tokenAt } from './inspectModel';
import type { AutoInspection } from './inspectModel';
import { describeFirstDecorations } from '../startupTimes';
import type { StartupTimes } from '../startupTimes';

export const DEBOUNCE_MS = 150;
/** Longer documents are not inspected on typing (use "Inspect Selection"). */
const MAX_CHARS = 20_000;

interface Inspection {
  /** Offset in the document where the inspected text starts (0 for a whole prompt file). */
  base: number;
  version: number;
  text: string;
  result: InspectResult;
  /** A one-off inspection of a selection (dropped when the document changes). */
  selection: boolean;
  /** The model (and settings) that inspected it: `EngineClient.loadedModelKey`. */
  modelKey: string | undefined;
  /** The hover's lens line per position, asked for on the first hover there. */
  lensLines: Map<number, Promise<string>>;
}

export interface InlineStats {
  updates: number;
  lastLatencyMs: number | undefined;
  lastTokens: number;
  lastError: string | undefined;
}

export class InlineInspector implements vscode.Disposable {
  private readonly inspections = new Map<string, Inspection>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** When each document was first scheduled for inspection: the start of its first-decorations time. */
  private readonly seen = new Map<string, number>();
  /** [parity][bucket]: adjacent tokens use different types, so VS Code does not merge their boxes. */
  private readonly bucketTypes: vscode.TextEditorDecorationType[][];
  private readonly firstType: vscode.TextEditorDecorationType;
  private readonly status = vscode.window.createStatusBarItem('mechlens.inlineLatency', vscode.StatusBarAlignment.Right, 99);
  private readonly codeLensChanged = new vscode.EventEmitter<void>();
  /** The line of the active editor's non-empty selection, where the "Ablate or patch selection…" CodeLens goes. */
  private selectionLine: { uri: string; line: number } | undefined;
  private readonly inspected = new vscode.EventEmitter<{ uri: string; text: string }>();
  /** Fired after a prompt file was inspected (panels following it update). */
  readonly onDidInspect = this.inspected.event;
  private readonly disposables: vscode.Disposable[] = [];
  readonly stats: InlineStats = { updates: 0, lastLatencyMs: undefined, lastTokens: 0, lastError: undefined };

  constructor(
    private readonly engine: EngineClient,
    private readonly log: Log,
    private readonly startup?: StartupTimes,
  ) {
    const boundary = {
      borderStyle: 'solid',
      borderWidth: '0 0 0 1px',
      borderColor: new vscode.ThemeColor('mechlens.tokenBoundary'),
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    };
    this.bucketTypes = [0, 1].map(() =>
      Array.from({ length: SURPRISAL_BUCKETS }, (_, b) => vscode.window.createTextEditorDecorationType({ ...boundary, backgroundColor: new vscode.ThemeColor(`mechlens.surprisal${b}`) })),
    );
    this.firstType = vscode.window.createTextEditorDecorationType(boundary);
    this.status.name = 'MechLens inline inspection';
    this.status.command = 'mechlens.showLogitLens';
    this.disposables.push(
      ...this.bucketTypes.flat(),
      this.firstType,
      this.status,
      this.codeLensChanged,
      this.inspected,
      vscode.workspace.onDidChangeTextDocument((e) => this.onChange(e)),
      vscode.workspace.onDidCloseTextDocument((d) => this.forget(d.uri.toString())),
      vscode.window.onDidChangeVisibleTextEditors(() => this.refreshVisible()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('mechlens.inlineInspection')) {
          for (const [uri, ins] of this.inspections) if (!ins.selection) this.forget(uri);
          this.codeLensChanged.fire();
          this.refreshVisible();
        }
        if (e.affectsConfiguration('mechlens.activeModel')) this.refreshVisible(true);
      }),
      // Trusting the workspace turns automatic inspection on (see autoInspection).
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.status.hide();
        this.codeLensChanged.fire();
        this.refreshVisible(true);
      }),
      // Refresh the CodeLenses only when the selection appears, moves to another line or goes away, not on
      // every caret move.
      vscode.window.onDidChangeTextEditorSelection((e) => {
        const sel = e.selections[0];
        const next = sel && !sel.isEmpty ? { uri: e.textEditor.document.uri.toString(), line: sel.start.line } : undefined;
        if (next?.uri !== this.selectionLine?.uri || next?.line !== this.selectionLine?.line) {
          this.selectionLine = next;
          this.codeLensChanged.fire();
        }
      }),
      vscode.languages.registerHoverProvider('*', { provideHover: (doc, pos) => this.hover(doc, pos) }),
      vscode.languages.registerCodeLensProvider('*', { onDidChangeCodeLenses: this.codeLensChanged.event, provideCodeLenses: (doc) => this.codeLenses(doc) }),
    );
    this.refreshVisible();
  }

  /** True when the document gets inline inspection as the user types. */
  isPromptDocument(doc: vscode.TextDocument): boolean {
    return this.autoInspection(doc) === 'inspect';
  }

  private autoInspection(doc: vscode.TextDocument): AutoInspection {
    const cfg = vscode.workspace.getConfiguration('mechlens.inlineInspection');
    return autoInspection({
      enabled: cfg.get<boolean>('enabled', true),
      trusted: vscode.workspace.isTrusted,
      promptLanguage: doc.languageId === 'mechlens-prompt',
      matches: () => {
        const patterns = cfg.get<unknown>('filePatterns', []);
        return Array.isArray(patterns) && patterns.some((p) => typeof p === 'string' && p.length > 0 && vscode.languages.match({ pattern: p }, doc) > 0);
      },
    });
  }

  /**
   * Whether a prompt file will probably be inspected soon: one is open, or the workspace holds a file the
   * inline-inspection patterns match (extension.ts then warms the engine after activation).
   */
  async promptFilesLikely(): Promise<boolean> {
    if (vscode.workspace.textDocuments.some((d) => this.isPromptDocument(d))) return true;
    const cfg = vscode.workspace.getConfiguration('mechlens.inlineInspection');
    if (!cfg.get<boolean>('enabled', true) || !vscode.workspace.isTrusted || !vscode.workspace.workspaceFolders?.length) return false;
    const patterns = cfg.get<unknown>('filePatterns', []);
    for (const p of Array.isArray(patterns) ? patterns : []) {
      if (typeof p === 'string' && p.length > 0 && (await vscode.workspace.findFiles(p, undefined, 1)).length > 0) return true;
    }
    return false;
  }

  /** The inspection shown in a document (tests, panels). */
  inspection(uri: string): { text: string; base: number; result: InspectResult } | undefined {
    return this.inspections.get(uri);
  }

  /** Inspects the active editor's selection once (any file). */
  async inspectSelection(editor: vscode.TextEditor | undefined = vscode.window.activeTextEditor): Promise<InspectResult | undefined> {
    if (!editor) return undefined;
    const sel = editor.selection.isEmpty ? new vscode.Range(0, 0, editor.document.lineCount, 0) : editor.selection;
    const range = editor.document.validateRange(sel);
    return this.update(editor.document, editor.document.offsetAt(range.start), editor.document.getText(range), true);
  }

  private refreshVisible(force = false): void {
    for (const editor of vscode.window.visibleTextEditors) {
      const uri = editor.document.uri.toString();
      const ins = this.inspections.get(uri);
      if (ins && !force) this.decorate(editor, ins);
      else {
        const decision = this.autoInspection(editor.document);
        if (decision === 'inspect') this.schedule(editor.document, 0);
        else if (decision === 'untrusted') this.showUntrusted();
      }
    }
  }

  /** Says why a prompt file is not inspected, with the way to trust the workspace. */
  private showUntrusted(): void {
    this.status.text = UNTRUSTED_STATUS.text;
    this.status.tooltip = UNTRUSTED_STATUS.tooltip;
    this.status.command = UNTRUSTED_STATUS.command;
    this.status.backgroundColor = undefined;
    this.status.show();
  }

  private onChange(e: vscode.TextDocumentChangeEvent): void {
    if (e.contentChanges.length === 0) return;
    const uri = e.document.uri.toString();
    const ins = this.inspections.get(uri);
    if (ins?.selection) this.forget(uri);
    if (this.isPromptDocument(e.document)) this.schedule(e.document, DEBOUNCE_MS);
  }

  private schedule(doc: vscode.TextDocument, delay: number): void {
    const uri = doc.uri.toString();
    if (!this.seen.has(uri)) this.seen.set(uri, performance.now());
    const old = this.timers.get(uri);
    if (old) clearTimeout(old);
    this.timers.set(
      uri,
      setTimeout(() => {
        this.timers.delete(uri);
        if (doc.isClosed) return;
        const text = doc.getText();
        if (text.length > MAX_CHARS) {
          this.setStatusError(`the file has more than ${MAX_CHARS} characters; select a part and run "MechLens: Inspect Selection"`);
          return;
        }
        void this.update(doc, 0, text, false);
      }, delay),
    );
  }

  private async update(doc: vscode.TextDocument, base: number, text: string, selection: boolean): Promise<InspectResult | undefined> {
    const uri = doc.uri.toString();
    const job = this.engine.jobs.start(`inspect:${uri}`);
    const version = doc.version;
    const started = performance.now();
    try {
      if (text.trim().length === 0) {
        this.forget(uri);
        return undefined;
      }
      await this.engine.load({ signal: job.signal });
      const engineReadyAt = performance.now();
      const result = await this.engine.call('analysis/inspect', { prompt: { text }, topK: 5, maxTokens: readConfig().maxPromptTokens }, { signal: job.signal });
      if (!job.current || doc.isClosed) return undefined;
      const inspectedAt = performance.now();
      const ins: Inspection = { base, version, text, result, selection, modelKey: this.engine.loadedModelKey, lensLines: new Map() };
      this.inspections.set(uri, ins);
      let shown = false;
      for (const editor of vscode.window.visibleTextEditors) {
        if (editor.document.uri.toString() !== uri) continue;
        this.decorate(editor, ins);
        shown = true;
      }
      const seenAt = this.seen.get(uri);
      if (shown && !selection && seenAt !== undefined && this.startup?.decorated({ uri, seenAt, engineReadyAt, inspectedAt, tokens: result.prompt.ids.length })) {
        const first = this.startup.report().firstDecorations;
        if (first) this.log.info(describeFirstDecorations(first));
      }
      this.codeLensChanged.fire();
      const ms = performance.now() - started;
      this.stats.updates++;
      this.stats.lastLatencyMs = ms;
      this.stats.lastTokens = result.prompt.ids.length;
      this.stats.lastError = undefined;
      this.status.command = 'mechlens.showLogitLens';
      this.status.text = latencyText(ms, result.prompt.ids.length);
      this.status.tooltip = `MechLens inline inspection: the last update took ${ms.toFixed(0)} ms for ${result.prompt.ids.length} tokens (after a ${DEBOUNCE_MS} ms pause in typing). Click for the logit lens.`;
      this.status.backgroundColor = undefined;
      this.status.show();
      if (!selection) this.inspected.fire({ uri, text });
      return result;
    } catch (err) {
      if (err instanceof RpcError && err.code === 'cancelled') return undefined;
      if (job.current) {
        this.setStatusError(errorMessage(err));
        this.log.warn(`Inline inspection of ${doc.uri.fsPath || uri} failed: ${errorMessage(err)}`);
      }
      if (selection) throw err;
      return undefined;
    } finally {
      job.done();
    }
  }

  private setStatusError(message: string): void {
    this.stats.lastError = message;
    this.status.text = '$(warning) MechLens';
    this.status.tooltip = `MechLens inline inspection: ${message}`;
    this.status.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    this.status.show();
  }

  private decorate(editor: vscode.TextEditor, ins: Inspection): void {
    const doc = editor.document;
    const spans = ins.result.prompt.spans ?? [];
    const byBucket: vscode.Range[][][] = [0, 1].map(() => Array.from({ length: SURPRISAL_BUCKETS }, () => []));
    const first: vscode.Range[] = [];
    let shown = 0;
    spans.forEach(([s, e], i) => {
      if (e <= s) return;
      const range = new vscode.Range(doc.positionAt(ins.base + s), doc.positionAt(ins.base + e));
      const b = surprisalBucket(ins.result.surprisal[i]);
      (b < 0 ? first : byBucket[shown % 2]![b]!).push(range);
      shown++;
    });
    this.bucketTypes.forEach((set, parity) => set.forEach((t, b) => editor.setDecorations(t, byBucket[parity]![b]!)));
    editor.setDecorations(this.firstType, first);
  }

  private forget(uri: string): void {
    const timer = this.timers.get(uri);
    if (timer) clearTimeout(timer);
    this.timers.delete(uri);
    this.seen.delete(uri);
    if (!this.inspections.delete(uri)) return;
    for (const editor of vscode.window.visibleTextEditors) {
      if (editor.document.uri.toString() !== uri) continue;
      for (const t of this.bucketTypes.flat()) editor.setDecorations(t, []);
      editor.setDecorations(this.firstType, []);
    }
    this.codeLensChanged.fire();
  }

  private async hover(doc: vscode.TextDocument, pos: vscode.Position): Promise<vscode.Hover | undefined> {
    const ins = this.inspections.get(doc.uri.toString());
    if (!ins) return undefined;
    const offset = doc.offsetAt(pos) - ins.base;
    const spans = ins.result.prompt.spans ?? [];
    const i = tokenAt(spans, offset);
    if (i < 0) return undefined;
    const span = spans[i]!;
    // While an update is pending the line is not asked for (it would replace the streams the engine keeps for the
    // prompt being typed with this older prompt's); one asked for before is still shown.
    const lensLine = doc.version === ins.version ? this.lensLine(ins, i) : ins.lensLines.get(i) ?? Promise.resolve(lensUnavailableMarkdown('updating…'));
    const md = new vscode.MarkdownString(hoverMarkdown(ins.result, i, await lensLine));
    // Trusted for one command only: the link below builds the graph of the inspected prompt (the token
    // texts in the hover are escaped, and no other command can run from it).
    md.isTrusted = { enabledCommands: ['mechlens.attributionGraph', 'mechlens.interveneOnSelection'] };
    md.supportHtml = false;
    const graphArg = ins.selection ? { uri: doc.uri.toString(), start: ins.base, end: ins.base + ins.text.length } : { uri: doc.uri.toString() };
    md.appendMarkdown(`\n\n[$(type-hierarchy) Open attribution graph](command:mechlens.attributionGraph?${encodeURIComponent(JSON.stringify([graphArg]))} "Build the attribution graph of this prompt and open it")`);
    const tokenArg = { uri: doc.uri.toString(), promptStart: ins.base, promptEnd: ins.base + ins.text.length, start: span[0], end: span[1] };
    md.appendMarkdown(` · [$(debug-disconnect) Ablate or patch this token…](command:mechlens.interveneOnSelection?${encodeURIComponent(JSON.stringify([tokenArg]))} "Zero, mean or resample ablation, or a patch from the counterfactual, at a site you pick (a hook at some layers, or a transcoder feature); shown in every view")`);
    md.supportThemeIcons = true;
    if (doc.version !== ins.version) md.appendMarkdown('\n\n*(updating…)*');
    return new vscode.Hover(md, new vscode.Range(doc.positionAt(ins.base + span[0]), doc.positionAt(ins.base + span[1])));
  }

  /**
   * The hover's one-line lens at token `i`: the lens of that one position, from the residual streams the engine
   * kept from the inspection's forward (13 rows of the unembedding on GPT-2 small instead of a whole lens in every
   * update). Kept per inspection; a failure is not kept, so the next hover asks again.
   */
  private lensLine(ins: Inspection, i: number): Promise<string> {
    // After a model switch (the inspection is redone) or a crashed engine, a lens now could be another model's.
    if (!this.engine.modelReady || this.engine.loadedModelKey !== ins.modelKey) return Promise.resolve(lensUnavailableMarkdown('the model changed or stopped since this inspection'));
    let line = ins.lensLines.get(i);
    if (!line) {
      line = this.engine.call('analysis/lens', { prompt: { tokens: ins.result.prompt.ids }, positions: [i], topK: 1 }).then(lensLineMarkdown, (err: unknown) => {
        ins.lensLines.delete(i);
        return lensUnavailableMarkdown(errorMessage(err));
      });
      ins.lensLines.set(i, line);
    }
    return line;
  }

  private codeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const uri = doc.uri.toString();
    const ins = this.inspections.get(uri);
    let arg: { uri: string; start?: number; end?: number };
    let line = 0;
    if (ins?.selection) {
      arg = { uri, start: ins.base, end: ins.base + ins.text.length };
      line = doc.positionAt(ins.base).line;
    } else if (this.isPromptDocument(doc)) {
      arg = { uri };
    } else {
      return [];
    }
    const range = new vscode.Range(line, 0, line, 0);
    return [
      new vscode.CodeLens(range, { title: 'MechLens: Logit lens', command: 'mechlens.showLogitLens', arguments: [arg], tooltip: 'Open the logit lens for this prompt' }),
      new vscode.CodeLens(range, { title: 'Attention', command: 'mechlens.showAttention', arguments: [arg], tooltip: 'Open the attention view for this prompt' }),
      new vscode.CodeLens(range, { title: 'DLA', command: 'mechlens.showDla', arguments: [arg], tooltip: 'Open direct logit attribution for this prompt' }),
      // On a selection: the same command as the context menu and the hover link (it reads the selection).
      ...(this.selectionLine?.uri === uri
        ? [new vscode.CodeLens(new vscode.Range(this.selectionLine.line, 0, this.selectionLine.line, 0), { title: 'Ablate or patch selection…', command: 'mechlens.interveneOnSelection', tooltip: 'Zero, mean or resample ablation, or a patch from the counterfactual, of the selected tokens at a site you pick; shown in every view' })]
        : []),
    ];
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const d of this.disposables) d.dispose();
  }
}
