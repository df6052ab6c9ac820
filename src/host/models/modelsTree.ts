// The Models tree view: the bundled default model and the user's folders, the active one marked,
// architecture and size in the description, full details in the tooltip; then a "Hugging Face cache" group
// with the models found there (hubTree.ts), unsupported ones with the reason.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeModel, modelDetails } from './format';
import type { ModelEntry, ModelManager } from './modelManager';
import { HUB_GROUP, hubChildren, hubTreeItem } from './hubTree';
import type { HubNode } from './hubTree';

type Node = ModelEntry | HubNode;

export class ModelsTreeProvider implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly models: ModelManager) {
    this.sub = models.onDidChange(() => this.changed.fire(undefined));
  }

  getChildren(element?: Node): Node[] {
    if (element) return 'kind' in element ? hubChildren(element, this.models) : [];
    // Filling descriptions needs the engine (model/validate): the worker starts when this view is shown.
    this.models.refreshInfo();
    return [...this.models.entries(), HUB_GROUP];
  }

  getTreeItem(e: Node): vscode.TreeItem {
    return 'kind' in e ? hubTreeItem(e, this.models) : this.entryItem(e);
  }

  private entryItem(e: ModelEntry): vscode.TreeItem {
    const name = e.info?.name ?? path.basename(e.dir);
    const item = new vscode.TreeItem(e.bundled ? `${name} (bundled)` : name, vscode.TreeItemCollapsibleState.None);
    item.id = e.dir;
    // Architecture and size first: the sidebar is narrow and the icon already marks the active model.
    item.description = [e.info ? describeModel(e.info) : e.error ? 'unusable' : 'checking…', e.active ? 'active' : undefined]
      .filter((s) => s !== undefined)
      .join(' · ');
    const tip = new vscode.MarkdownString();
    tip.appendMarkdown(`**${name}**${e.active ? ' — active' : ''}\n\n`);
    tip.appendText(e.dir);
    tip.appendMarkdown('\n\n');
    if (e.info) tip.appendText(modelDetails(e.info).join('\n'));
    else if (e.error) tip.appendText(`Cannot be used: ${e.error}`);
    item.tooltip = tip;
    item.accessibilityInformation = { label: `${name}${e.active ? ', active model' : ''}, ${item.description}` };
    item.iconPath = new vscode.ThemeIcon(e.active ? 'pass-filled' : e.error ? 'warning' : 'circle-large-outline');
    item.contextValue = e.bundled ? 'mechlensModel.bundled' : 'mechlensModel.user';
    item.resourceUri = vscode.Uri.file(e.dir);
    if (!e.active && !e.error) item.command = { command: 'mechlens.selectModel', title: 'Use This Model', arguments: [e.dir] };
    return item;
  }

  dispose(): void {
    this.sub.dispose();
    this.changed.dispose();
  }
}
