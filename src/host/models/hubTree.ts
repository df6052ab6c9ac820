// The Models view's "Hugging Face cache" group: every model snapshot in the local hub cache (as
// `mechlens models` lists them), supported ones selectable, unsupported ones with the reason; the
// transcoder sets that fit a model in its tooltip. The listing is read when the group is first expanded.
import * as vscode from 'vscode';
import type { CachedModel } from '../../engine/hub/cache';
import { formatBytes } from './format';
import type { ModelManager } from './modelManager';

export type HubNode = { kind: 'hubGroup' } | { kind: 'hubModel'; model: CachedModel };

export const HUB_GROUP: HubNode = { kind: 'hubGroup' };

export function hubChildren(node: HubNode, models: ModelManager): HubNode[] {
  if (node.kind !== 'hubGroup') return [];
  return models
    .hubModels()
    .models.filter((m) => m.source === 'hub-cache')
    .map((model) => ({ kind: 'hubModel', model }));
}

export function hubTreeItem(node: HubNode, models: ModelManager): vscode.TreeItem {
  if (node.kind === 'hubGroup') {
    // Collapsed: listing the cache reads every snapshot's headers, done only when asked.
    const item = new vscode.TreeItem('Hugging Face cache', vscode.TreeItemCollapsibleState.Collapsed);
    item.id = 'mechlens.hubCache';
    item.iconPath = new vscode.ThemeIcon('database');
    item.contextValue = 'mechlensHubCache';
    item.tooltip = 'Models already downloaded by transformers, TransformerLens or MechLens (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub).';
    return item;
  }
  const m = node.model;
  const active = models.activeDir === m.path;
  const ref = m.refs.length ? `@${m.refs.join(', ')}` : `@${(m.revision ?? '').slice(0, 7)}`;
  const item = new vscode.TreeItem(m.id, vscode.TreeItemCollapsibleState.None);
  item.id = `hub:${m.path}`;
  // Architecture and size first, as for the folders above: the sidebar is narrow and cuts the end off.
  item.description = [m.supported ? m.architecture : 'not supported', formatBytes(m.size_bytes), ref, active ? 'active' : undefined].filter(Boolean).join(' · ');
  const fits = models.hubModels().transcoders.filter((t) => t.fits.includes(m.id));
  const tip = new vscode.MarkdownString();
  tip.appendMarkdown(`**${m.id}**${active ? ' — active' : ''}\n\n`);
  tip.appendText(`Revision ${m.revision ?? '?'}${m.refs.length ? ` (${m.refs.join(', ')})` : ''}\nmodel_type ${m.model_type ?? '?'}\n${m.path}\n`);
  if (!m.supported) tip.appendText(`\nCannot be used: ${m.reason ?? ''}`);
  if (fits.length) tip.appendText(`\nTranscoders: ${fits.map((t) => `${t.id}${t.remote_files ? ` (${t.remote_files} files still on the Hub)` : ''}`).join(', ')}`);
  item.tooltip = tip;
  item.iconPath = new vscode.ThemeIcon(active ? 'pass-filled' : m.supported ? 'circle-large-outline' : 'warning');
  item.contextValue = m.supported ? 'mechlensModel.hub' : 'mechlensModel.hubUnsupported';
  item.accessibilityInformation = { label: `${m.id}${active ? ', active model' : ''}, ${item.description}` };
  if (m.supported && !active) item.command = { command: 'mechlens.selectModel', title: 'Use This Model', arguments: [m.path] };
  return item;
}
