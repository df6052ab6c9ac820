// Patching commands: open the Patching panel (counterfactual pair, sweeps), intervene on the tokens of an
// editor selection (quick picks for the kind, the site and the layers; the prompt is the whole document,
// run in the prompt panel, and the chip lands in the state every view shares), and clear the interventions.
import * as vscode from 'vscode';
import type { InterventionService } from '../interventions';
import { errorMessage } from '../log';
import type { Log } from '../log';
import type { ModelInfo } from '../../shared/modelInfo';
import { KIND_LABELS, SITE_LABELS, UI_KINDS, UI_SITES, isHeadSite } from '../../shared/patchUi';
import type { UiIntervention, UiKind, UiSite } from '../../shared/patchUi';
import type { EngineClient } from '../engineClient';
import type { PatchPanel } from '../views/patchPanel';
import type { PromptPanel } from '../views/promptPanel';
import type { PromptSession } from '../promptSession';

export interface PatchCommandDeps {
  engine: EngineClient;
  session: PromptSession;
  promptPanel: PromptPanel;
  patchPanel: PatchPanel;
  interventions: InterventionService;
  ensureModel: () => Promise<ModelInfo | undefined>;
  log: Log;
}

/** Token positions whose text overlaps [start, end) of the prompt (token spans from the tokenizer). */
export function positionsIn(spans: ReadonlyArray<readonly [number, number]>, start: number, end: number): number[] {
  const out: number[] = [];
  spans.forEach(([s, e], i) => {
    if (e > start && s < end) out.push(i);
  });
  return out;
}

/** Quick picks for the kind, the site, the layers (and the head of a head site); undefined when dismissed. */
async function pickSpec(info: ModelInfo, positions: number[] | undefined): Promise<UiIntervention | undefined> {
  const kind = await vscode.window.showQuickPick(
    UI_KINDS.map((k) => ({ label: KIND_LABELS[k], k })),
    { title: 'MechLens: replace the activation with…', placeHolder: 'zero / mean / resample ablation, or patch from the counterfactual' },
  );
  if (!kind) return undefined;
  const site = await vscode.window.showQuickPick(
    UI_SITES.map((s) => ({ label: SITE_LABELS[s], s })),
    { title: 'MechLens: at which activation?' },
  );
  if (!site) return undefined;
  const L = info.nLayers;
  const layers = await vscode.window.showQuickPick(
    [{ label: 'all layers', from: 0, to: L - 1 }, ...Array.from({ length: L }, (_, l) => ({ label: `layer ${l}`, from: l, to: l }))],
    { title: 'MechLens: at which layers?' },
  );
  if (!layers) return undefined;
  let head: number | undefined;
  if (isHeadSite(site.s)) {
    const h = await vscode.window.showQuickPick([{ label: 'all heads', h: -1 }, ...Array.from({ length: info.nHeads }, (_, i) => ({ label: `head ${i}`, h: i }))], { title: 'MechLens: which head?' });
    if (!h) return undefined;
    head = h.h < 0 ? undefined : h.h;
  }
  return { kind: kind.k as UiKind, site: site.s as UiSite, from: layers.from, to: layers.to, ...(positions ? { positions } : {}), ...(head !== undefined ? { head } : {}) };
}

/** A token of a prompt in a document: offsets of the prompt in the document, and of the token in the prompt. */
interface TokenArg {
  uri?: string;
  promptStart?: number;
  promptEnd?: number;
  start?: number;
  end?: number;
  spec?: unknown;
}

/** The prompt and the [start, end) range in it to intervene on: from `arg`, else the active editor (its selection; none: all positions). */
async function promptAndRange(arg: TokenArg | undefined): Promise<{ text: string; range?: [number, number] } | undefined> {
  const n = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined);
  if (arg && typeof arg.uri === 'string') {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.parse(arg.uri));
    const full = doc.getText();
    const text = full.slice(n(arg.promptStart) ?? 0, n(arg.promptEnd) ?? full.length);
    const start = n(arg.start);
    const end = n(arg.end);
    return { text, ...(start !== undefined && end !== undefined && end > start ? { range: [start, end] as [number, number] } : {}) };
  }
  const editor = vscode.window.activeTextEditor;
  if (!editor) return undefined;
  const sel = editor.selection;
  const doc = editor.document;
  return { text: doc.getText(), ...(sel.isEmpty ? {} : { range: [doc.offsetAt(sel.start), doc.offsetAt(sel.end)] as [number, number] }) };
}

export function registerPatchCommands(deps: PatchCommandDeps): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('mechlens.showPatching', () => {
      deps.patchPanel.show();
      return true;
    }),
    vscode.commands.registerCommand('mechlens.clearInterventions', () => deps.interventions.store.clear().chips.length),
    /**
     * On the editor's selection (the document is the prompt), or on a token given by `arg` (the inline hover's
     * link: the prompt's and the token's offsets in a document); `arg.spec` (tests) skips the quick picks.
     */
    vscode.commands.registerCommand('mechlens.interveneOnSelection', async (arg?: TokenArg) => {
      const target = await promptAndRange(arg);
      if (!target) {
        void vscode.window.showInformationMessage('MechLens: select the tokens to ablate or patch in a prompt editor first.');
        return undefined;
      }
      try {
        const info = await deps.ensureModel();
        if (!info) return undefined;
        const { text, range } = target;
        const t = await deps.engine.call('tokenize', { text });
        const positions = range ? positionsIn(t.spans ?? [], range[0], range[1]) : undefined;
        if (positions && positions.length === 0) {
          void vscode.window.showInformationMessage('MechLens: the selection covers no token of the prompt.');
          return undefined;
        }
        const spec: unknown = arg?.spec !== undefined ? arg.spec : await pickSpec(info, positions);
        if (!spec) return undefined;
        if (deps.session.current?.text !== text) await deps.session.run(text);
        const view = await deps.interventions.add(spec, text);
        deps.promptPanel.show();
        return view.chips.length;
      } catch (err) {
        deps.log.error('Adding the intervention failed', err);
        void vscode.window.showErrorMessage(`MechLens: ${errorMessage(err)}`);
        return undefined;
      }
    }),
  ];
}
