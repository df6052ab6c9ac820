// Patching commands: open the Patching panel (counterfactual pair, sweeps), intervene on the tokens of an
// editor selection (quick picks for the site, then the kind and the layers, or for a transcoder feature the
// feature, the kind and the value; the prompt is the whole document, run in the prompt panel, and the chip
// lands in the state every view shares, through the host code the webview menus use), and clear the interventions.
import * as vscode from 'vscode';
import type { InterventionService } from '../interventions';
import { errorMessage } from '../log';
import type { Log } from '../log';
import type { ModelInfo } from '../../shared/modelInfo';
import { FEATURE_KINDS, FEATURE_KIND_LABELS, FEATURE_SITE_LABEL, FEATURE_VALUE_PROMPTS, KIND_LABELS, SITE_LABELS, UI_KINDS, UI_SITES, activeFeatureList, featureName, isHeadSite, parseFeatureRef, specProblem } from '../../shared/patchUi';
import type { UiFeatureIntervention, UiIntervention, UiKind, UiSite } from '../../shared/patchUi';
import { displayToken } from '../../shared/tokenText';
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

/** The prompt the picks act on, its tokens, and the positions intervened on (none: all positions). */
interface PickTarget {
  text: string;
  ids: number[];
  texts: string[];
  positions?: number[];
}

type FeatureRef = { layer: number; feature: number };

/**
 * Quick picks for the site, then for a hook site the kind, the layers (and the head of a head site), for a
 * transcoder feature the feature, the kind (and the value); undefined when dismissed or refused.
 */
async function pickSpec(info: ModelInfo, target: PickTarget, interventions: InterventionService): Promise<UiIntervention | undefined> {
  // Whether the model has transcoders is the host's answer (cached), the one the webview menus show: a quick pick
  // has no disabled items, so the feature site says why it is unavailable and is refused when picked.
  const sites = interventions.featureSites(null, 0).then((f) => [
    ...UI_SITES.map((s) => ({ label: SITE_LABELS[s], s: s as UiSite | 'feature', reason: undefined as string | undefined })),
    { label: FEATURE_SITE_LABEL, s: 'feature' as const, ...(f.available ? { reason: undefined } : { description: 'unavailable for this model', detail: f.reason, reason: f.reason }) },
  ]);
  const site = await vscode.window.showQuickPick(sites, { title: 'MechLens: at which activation?' });
  if (!site) return undefined;
  if (site.reason !== undefined) {
    void vscode.window.showWarningMessage(`MechLens: ${site.reason}`);
    return undefined;
  }
  return site.s === 'feature' ? pickFeatureSpec(info, target, interventions) : pickHookSpec(info, site.s, target.positions);
}

async function pickHookSpec(info: ModelInfo, site: UiSite, positions: number[] | undefined): Promise<UiIntervention | undefined> {
  const kind = await vscode.window.showQuickPick(
    UI_KINDS.map((k) => ({ label: KIND_LABELS[k], k })),
    { title: 'MechLens: replace the activation with…', placeHolder: 'zero / mean / resample ablation, or patch from the counterfactual' },
  );
  if (!kind) return undefined;
  const L = info.nLayers;
  const layers = await vscode.window.showQuickPick(
    [{ label: 'all layers', from: 0, to: L - 1 }, ...Array.from({ length: L }, (_, l) => ({ label: `layer ${l}`, from: l, to: l }))],
    { title: 'MechLens: at which layers?' },
  );
  if (!layers) return undefined;
  let head: number | undefined;
  if (isHeadSite(site)) {
    const h = await vscode.window.showQuickPick([{ label: 'all heads', h: -1 }, ...Array.from({ length: info.nHeads }, (_, i) => ({ label: `head ${i}`, h: i }))], { title: 'MechLens: which head?' });
    if (!h) return undefined;
    head = h.h < 0 ? undefined : h.h;
  }
  return { kind: kind.k as UiKind, site, from: layers.from, to: layers.to, ...(positions ? { positions } : {}), ...(head !== undefined ? { head } : {}) };
}

/**
 * A feature site: the features most active at the selection's last token (the host computes them on the
 * prompt, as for a webview's click) or one typed as layer:index, what it becomes, and the value of set / scale.
 * The input boxes check what is typed as the host will (specProblem), in its words.
 */
async function pickFeatureSpec(info: ModelInfo, target: PickTarget, interventions: InterventionService): Promise<UiFeatureIntervention | undefined> {
  const at = target.positions?.at(-1) ?? target.ids.length - 1;
  const token = `“${displayToken(target.texts[at] ?? '?')}”@${at}`;
  const sites = interventions.featureSites(target.text, at);
  const listed = sites.then((v) => [
    ...activeFeatureList(v.available ? v.active : []).map((f) => ({ label: featureName(f.layer, f.index), description: `activation ${f.act.toFixed(2)}`, ref: { layer: f.layer, feature: f.index } as FeatureRef | undefined })),
    { label: '$(edit) Type layer:index…', description: 'any feature of the transcoders', alwaysShow: true, ref: undefined },
  ]);
  const picked = await vscode.window.showQuickPick(listed, { title: `MechLens: which transcoder feature? (most active at ${token} first)`, placeHolder: 'a feature active at the token, or type one' });
  if (!picked) return undefined;
  const v = await sites;
  if (!v.available) {
    void vscode.window.showWarningMessage(`MechLens: ${v.reason}`);
    return undefined;
  }
  const ctx = { nLayers: info.nLayers, nHeads: info.nHeads, hasResidMid: true, prompt: target.ids, features: { nFeatures: v.nFeatures } };
  const base = { site: 'feature' as const, ...(target.positions ? { positions: target.positions } : {}) };
  let ref = picked.ref;
  if (!ref) {
    const typed = await vscode.window.showInputBox({
      title: 'MechLens: which transcoder feature?',
      prompt: `layer:index: ${featureCounts(v.nFeatures)}`,
      placeHolder: '0:346',
      validateInput: (s) => {
        const r = parseFeatureRef(s);
        return r ? specProblem({ ...base, kind: 'zero', ...r }, ctx, featureName(r.layer, r.feature)) : 'Type the feature as layer:index, e.g. 0:346';
      },
    });
    ref = typed === undefined ? undefined : parseFeatureRef(typed);
    if (!ref) return undefined;
  }
  const name = featureName(ref.layer, ref.feature);
  const kind = await vscode.window.showQuickPick(
    FEATURE_KINDS.map((k) => ({ label: FEATURE_KIND_LABELS[k], k })),
    { title: `MechLens: ${name} at ${target.positions ? token : 'all positions'} becomes…` },
  );
  if (!kind) return undefined;
  const spec = { ...base, kind: kind.k, layer: ref.layer, feature: ref.feature };
  if (kind.k !== 'set' && kind.k !== 'scale') return spec;
  const what = FEATURE_VALUE_PROMPTS[kind.k];
  const value = await vscode.window.showInputBox({
    title: `MechLens: ${name}: ${FEATURE_KIND_LABELS[kind.k]}…`,
    prompt: what.charAt(0).toUpperCase() + what.slice(1),
    value: kind.k === 'scale' ? '2' : '0',
    validateInput: (s) => (s.trim() === '' || !Number.isFinite(Number(s)) ? `Type ${what} (a number)` : specProblem({ ...spec, value: Number(s) }, ctx, name)),
  });
  return value === undefined ? undefined : { ...spec, value: Number(value) };
}

/** The transcoders' layers and features per layer, as the typed feature's input box states them. */
function featureCounts(nFeatures: readonly number[]): string {
  const same = nFeatures.every((n) => n === nFeatures[0]);
  return `layers 0..${nFeatures.length - 1}, ${same ? `features 0..${(nFeatures[0] ?? 0) - 1}` : `features per layer ${nFeatures.join(', ')}`}`;
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
        const spec: unknown = arg?.spec !== undefined ? arg.spec : await pickSpec(info, { text, ids: t.ids, texts: t.texts, ...(positions ? { positions } : {}) }, deps.interventions);
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
