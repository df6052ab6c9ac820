// The models a user can pick: the bundled default (models/mechlens-tiny inside the extension) and the
// folders added with "Add Model Folder…" (stored in `mechlens.modelFolders`). Knows which one is active
// (`mechlens.activeModel`, empty = the default), checks folders through the engine's `model/validate`
// and loads the active model with progress and cancellation.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ModelInfo } from '../../shared/modelInfo';
import type { LoadModelParams } from '../../shared/protocol';
import type { EngineClient } from '../engineClient';
import { readConfig, updateConfig } from '../config';
import { errorMessage } from '../log';
import type { Log } from '../log';
import { tokenToSignal } from '../progress';

export interface ModelEntry {
  dir: string;
  bundled: boolean;
  active: boolean;
  /** Filled once `model/validate` answered. */
  info?: ModelInfo;
  /** Why the folder cannot be used, once `model/validate` failed. */
  error?: string;
}

export type AddFolderResult = { added: true; info: ModelInfo } | { added: false; error: string } | { added: false; cancelled: true };

export class ModelManager implements vscode.Disposable {
  private readonly validated = new Map<string, { info?: ModelInfo; error?: string }>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [this.changed];

  constructor(
    readonly defaultModelDir: string,
    private readonly engine: EngineClient,
    private readonly log: Log,
  ) {
    this.engine.setModel(this.loadParams());
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('mechlens.activeModel') || e.affectsConfiguration('mechlens.modelFolders') || e.affectsConfiguration('mechlens.threads') || e.affectsConfiguration('mechlens.executionProvider')) {
          this.engine.setModel(this.loadParams());
          this.changed.fire();
        }
      }),
    );
  }

  /** The active model's folder (the bundled default when none was chosen or the chosen one was removed). */
  get activeDir(): string {
    const { activeModel } = readConfig();
    return activeModel ? path.resolve(activeModel) : this.defaultModelDir;
  }

  entries(): ModelEntry[] {
    const active = this.activeDir;
    const dirs = [this.defaultModelDir, ...readConfig().modelFolders.map((d) => path.resolve(d))];
    const unique = [...new Set(dirs)];
    if (!unique.includes(active)) unique.push(active);
    return unique.map((dir) => {
      const v = this.validated.get(dir);
      return { dir, bundled: dir === this.defaultModelDir, active: dir === active, info: v?.info, error: v?.error };
    });
  }

  /** Asks the engine about every listed folder not yet checked; fires onDidChange as answers come. */
  refreshInfo(force = false): void {
    if (force) this.validated.clear();
    for (const e of this.entries()) {
      if (this.validated.has(e.dir) || this.pending.has(e.dir)) continue;
      const p = this.validate(e.dir)
        .then(
          (info) => {
            this.validated.set(e.dir, { info });
          },
          (err: unknown) => {
            this.validated.set(e.dir, { error: errorMessage(err) });
          },
        )
        .finally(() => {
          this.pending.delete(e.dir);
          this.changed.fire();
        });
      this.pending.set(e.dir, p);
    }
  }

  validate(dir: string, signal?: AbortSignal): Promise<ModelInfo> {
    return this.engine.call('model/validate', { dir }, { signal });
  }

  /** Validates a folder (picked in a dialog unless given) and adds it to `mechlens.modelFolders`. */
  async addFolder(dir?: string): Promise<AddFolderResult> {
    if (dir === undefined) {
      const picked = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        canSelectMany: false,
        openLabel: 'Add Model Folder',
        title: 'MechLens: choose a folder with config.json, *.safetensors and tokenizer.json',
      });
      const uri = picked?.[0];
      if (!uri) return { added: false, cancelled: true };
      dir = uri.fsPath;
    }
    const abs = path.resolve(dir);
    let info: ModelInfo;
    try {
      info = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `MechLens: checking ${path.basename(abs)}…`, cancellable: true },
        (_p, token) => this.validate(abs, tokenToSignal(token)),
      );
    } catch (err) {
      const error = errorMessage(err);
      this.log.warn(`Rejected model folder ${abs}: ${error}`);
      void vscode.window.showErrorMessage(`MechLens: "${path.basename(abs)}" is not a usable model. ${error}`);
      return { added: false, error };
    }
    this.validated.set(abs, { info });
    const folders = readConfig().modelFolders;
    if (!folders.map((f) => path.resolve(f)).includes(abs) && abs !== this.defaultModelDir) {
      await updateConfig('modelFolders', [...folders, abs]);
    }
    this.log.info(`Added model folder ${abs} (${info.architecture}, ${info.parameterCount} parameters).`);
    void vscode.window.showInformationMessage(`MechLens: added ${info.name} (${info.architecture}).`, 'Use It').then((action) => {
      if (action === 'Use It') void this.select(abs).catch(() => undefined);
    });
    this.changed.fire();
    return { added: true, info };
  }

  /** Removes a user-added folder from the list (the bundled model stays). */
  async removeFolder(dir: string): Promise<void> {
    const abs = path.resolve(dir);
    const { modelFolders, activeModel } = readConfig();
    await updateConfig('modelFolders', modelFolders.filter((f) => path.resolve(f) !== abs));
    if (activeModel && path.resolve(activeModel) === abs) await updateConfig('activeModel', '');
    this.validated.delete(abs);
    this.changed.fire();
  }

  /** Makes `dir` the active model and loads it (with progress and cancel). */
  async select(dir: string): Promise<ModelInfo | undefined> {
    const abs = path.resolve(dir);
    await updateConfig('activeModel', abs === this.defaultModelDir ? '' : abs);
    this.engine.setModel(this.loadParams());
    this.changed.fire();
    return this.loadActive();
  }

  /** Loads the active model, showing progress; undefined when the user cancelled. Errors are shown and rethrown. */
  async loadActive(): Promise<ModelInfo | undefined> {
    const dir = this.activeDir;
    this.engine.setModel(this.loadParams());
    if (this.engine.modelReady && this.engine.loadedModel) return this.engine.loadedModel;
    try {
      const info = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `MechLens: loading ${path.basename(dir)}`, cancellable: true },
        (progress, token) => {
          let last = 0;
          return this.engine.load({
            signal: tokenToSignal(token),
            onProgress: (message, fraction) => {
              const increment = fraction === undefined ? undefined : Math.max(0, fraction * 100 - last);
              if (fraction !== undefined) last = fraction * 100;
              progress.report({ message, increment });
            },
          });
        },
      );
      this.validated.set(dir, { info });
      this.log.info(`Loaded ${info.name} from ${dir}.`);
      this.changed.fire();
      return info;
    } catch (err) {
      if (err instanceof Error && 'code' in err && err.code === 'cancelled') {
        this.log.info(`Loading ${dir} was cancelled.`);
        return undefined;
      }
      this.log.error(`Loading ${dir} failed`, err);
      void vscode.window.showErrorMessage(`MechLens could not load ${path.basename(dir)}: ${errorMessage(err)}`, 'Show Logs').then((a) => {
        if (a === 'Show Logs') this.log.show();
      });
      throw err;
    }
  }

  private loadParams(): LoadModelParams {
    const { threads, executionProvider } = readConfig();
    return { dir: this.activeDir, threads, executionProvider };
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
