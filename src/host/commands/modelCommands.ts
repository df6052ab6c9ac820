// Model and engine commands: add/select/remove model folders, restart the engine, show logs.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { EngineClient } from '../engineClient';
import type { Log } from '../log';
import { describeModel } from '../models/format';
import type { ModelEntry, ModelManager } from '../models/modelManager';

function dirArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg instanceof vscode.Uri) return arg.fsPath;
  if (typeof arg === 'object' && arg !== null && typeof (arg as Record<string, unknown>).dir === 'string') return (arg as ModelEntry).dir;
  // A Hugging Face cache entry of the Models view (hubTree.ts).
  const model = typeof arg === 'object' && arg !== null ? (arg as { model?: { path?: unknown } }).model : undefined;
  if (typeof model?.path === 'string') return model.path;
  return undefined;
}

export function registerModelCommands(models: ModelManager, engine: EngineClient, log: Log): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('mechlens.addModelFolder', (arg?: unknown) => models.addFolder(dirArg(arg))),
    vscode.commands.registerCommand('mechlens.selectModel', async (arg?: unknown) => {
      let dir = dirArg(arg);
      if (dir === undefined) {
        models.refreshInfo();
        type Item = vscode.QuickPickItem & { dir?: string; add?: true; download?: true };
        const items: Item[] = models.entries().map((e) => ({
          label: `${e.active ? '$(pass-filled)' : '$(circle-large-outline)'} ${e.info?.name ?? path.basename(e.dir)}${e.bundled ? ' (bundled)' : ''}`,
          description: e.info ? describeModel(e.info) : e.error ? `unusable: ${e.error}` : '',
          detail: e.dir,
          dir: e.dir,
        }));
        const listed = new Set(items.map((i) => i.dir));
        for (const m of models.hubModels().models) {
          if (m.source !== 'hub-cache' || !m.supported || listed.has(m.path)) continue;
          items.push({ label: `$(database) ${m.id}`, description: `${m.architecture ?? ''} · Hugging Face cache${m.refs.length ? ` @${m.refs.join(', ')}` : ''}`, detail: m.path, dir: m.path });
        }
        items.push({ label: '$(add) Add Model Folder…', add: true }, { label: '$(cloud-download) Download Model…', download: true });
        const picked = await vscode.window.showQuickPick(items, { title: 'MechLens: Select Model', placeHolder: 'The model every MechLens view uses' });
        if (!picked) return undefined;
        if (picked.add) return models.addFolder();
        if (picked.download) return vscode.commands.executeCommand('mechlens.downloadModel');
        dir = picked.dir;
      }
      return dir === undefined ? undefined : models.select(dir).catch(() => undefined);
    }),
    vscode.commands.registerCommand('mechlens.removeModelFolder', (arg?: unknown) => {
      const dir = dirArg(arg);
      return dir === undefined ? undefined : models.removeFolder(dir);
    }),
    vscode.commands.registerCommand('mechlens.refreshModels', () => {
      models.refreshInfo(true);
      models.refreshHub();
    }),
    vscode.commands.registerCommand('mechlens.restartEngine', async () => {
      await engine.restart();
      log.info('Engine restarted by the user.');
      return models.loadActive().catch(() => undefined);
    }),
    vscode.commands.registerCommand('mechlens.showLogs', () => log.show()),
    // Developer/test command: crashes the worker so restart handling can be checked end to end.
    vscode.commands.registerCommand('mechlens.debugCrashEngine', async () => {
      try {
        await engine.call('debug/crash', {});
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
      return undefined;
    }),
  ];
}
