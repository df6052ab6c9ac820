// The host's side of "add a saved subspace" (issue #16): the open dialog, reading and checking the file
// (src/engine/analysis/subspaceFile.ts), and what to do with it (patch from the counterfactual, project out,
// steer along its first direction). The page that asked sends no path and no numbers.
import * as vscode from 'vscode';
import { readSubspaceFile } from '../engine/analysis/subspaceFile';
import type { ModelInfo } from '../shared/modelInfo';
import { RpcError } from '../shared/rpc';
import { ORTHONORMAL_TOLERANCE } from '../shared/subspace';
import { siteWidth, subspaceSpec, viewSite } from '../shared/subspaceUi';
import type { SubspaceMode, UiSubspace } from '../shared/subspaceUi';
import { errorMessage } from './log';

/** Asks what to do with a subspace (and, to steer, how strongly); null when the user cancels. */
export async function pickSubspaceMode(defaultStrength: number): Promise<{ mode: SubspaceMode; strength?: number } | null> {
  const items: Array<vscode.QuickPickItem & { mode: SubspaceMode }> = [
    { mode: 'patch', label: 'Patch from the counterfactual', description: "h + R Rᵀ (h_cf − h): only the subspace takes the counterfactual prompt's value" },
    { mode: 'ablate', label: 'Project out', description: 'h − R Rᵀ h: remove the subspace' },
    { mode: 'steer', label: 'Steer along direction 1', description: 'add its first direction × a strength' },
  ];
  const choice = await vscode.window.showQuickPick(items, { title: 'Use the subspace as', placeHolder: 'Patch it, project it out or steer along it' });
  if (!choice) return null;
  if (choice.mode !== 'steer') return { mode: choice.mode };
  const text = await vscode.window.showInputBox({
    title: 'Steering strength',
    prompt: 'Multiple of the first direction (a unit vector) added at the site; the default is the training pairs’ RMS difference along it',
    value: String(Number(defaultStrength.toPrecision(4))),
    validateInput: (v) => (Number.isFinite(Number(v)) && v.trim() !== '' ? undefined : 'a number'),
  });
  return text === undefined ? null : { mode: 'steer', strength: Number(text) };
}

/** Picks a saved subspace file and makes it a view intervention for `info`'s model; null when cancelled. */
export async function pickSubspace(info: ModelInfo): Promise<UiSubspace | null> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const picked = await vscode.window.showOpenDialog({ canSelectMany: false, ...(folder ? { defaultUri: folder } : {}), filters: { 'Saved subspace': ['safetensors'] }, openLabel: 'Use This Subspace' });
  const file = picked?.[0]?.fsPath;
  if (!file) return null;
  let s;
  try {
    s = readSubspaceFile(file);
  } catch (err) {
    throw new RpcError('bad-input', errorMessage(err));
  }
  let site: { hook: string; positions?: number[]; heads?: number[] };
  if (s.meta) site = viewSite(s.meta.site, s.meta.hypothesis, s.meta.variable);
  else {
    // No JSON beside it: ask where it lives (every position).
    const hook = await vscode.window.showInputBox({ title: 'Hook of this subspace', prompt: 'There is no JSON beside the file naming its site: the hook whose activations it is a subspace of', value: `blocks.${info.nLayers - 1}.hook_resid_post` });
    if (!hook) return null;
    site = { hook: hook.trim() };
  }
  const width = siteWidth(site.hook, site.heads, info);
  if (width !== undefined && width !== s.dim) {
    throw new RpcError('bad-input', `The subspace has ${s.dim} values per position but ${site.hook}${site.heads ? ` (heads ${site.heads.join(',')})` : ''} has ${width} on ${info.name}${s.meta ? `; it was learned on ${s.meta.model.name}` : ''}.`);
  }
  if (s.meta && s.meta.model.name !== info.name) void vscode.window.showWarningMessage(`MechLens: the subspace was learned on ${s.meta.model.name}; the active model is ${info.name}.`);
  if (s.orthogonality > ORTHONORMAL_TOLERANCE) {
    void vscode.window.showInformationMessage(`MechLens: the subspace's columns are not orthonormal (‖RᵀR − I‖ = ${s.orthogonality.toPrecision(2)}); the span of its columns is used.`);
  }
  const how = await pickSubspaceMode(s.steerScale ?? 1);
  if (!how) return null;
  return subspaceSpec(s.rotation, s.dim, s.rank, site, how.mode, { strength: how.strength, name: s.meta?.variable });
}
