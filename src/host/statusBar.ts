// Status bar item: the active model and what the engine is doing; a click opens "Select Model".
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { EngineState } from './engineClient';
import type { ModelManager } from './models/modelManager';

const ICONS: Record<EngineState, string> = {
  stopped: '$(circle-large-outline)',
  starting: '$(loading~spin)',
  idle: '$(pass)',
  loading: '$(loading~spin)',
  busy: '$(sync~spin)',
  crashed: '$(error)',
};

export class EngineStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('mechlens.status', vscode.StatusBarAlignment.Right, 100);
  private state: EngineState = 'stopped';
  private readonly sub: vscode.Disposable;

  constructor(private readonly models: ModelManager) {
    this.item.name = 'MechLens';
    this.item.command = 'mechlens.selectModel';
    this.sub = models.onDidChange(() => this.render());
    this.render();
    this.item.show();
  }

  setState(state: EngineState): void {
    this.state = state;
    this.render();
  }

  get text(): string {
    return this.item.text;
  }

  private render(): void {
    const active = this.models.entries().find((e) => e.active);
    const name = active?.info?.name ?? path.basename(this.models.activeDir);
    this.item.text = `${ICONS[this.state]} ${name}`;
    this.item.tooltip = `MechLens: model ${name} — engine ${this.state}. Click to choose a model.`;
    this.item.backgroundColor = this.state === 'crashed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.sub.dispose();
    this.item.dispose();
  }
}
