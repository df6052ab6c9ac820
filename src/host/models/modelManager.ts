// The models a user can pick: the bundled ones (models/ inside the extension, engine/bundledModels.ts; the first
// is the default), the folders added with "Add Model Folder…" (stored in `mechlens.modelFolders`) and the models in the local
// Hugging Face cache. A setting may name a bundled model (stories260K) or a repo id (ORG/NAME[@REV])
// instead of a folder: it resolves with the CLI's resolver (engine/bundledModels.ts, engine/hub/cache.ts). Knows which one is active
// (`mechlens.activeModel`, empty = the default), checks folders through the engine's `model/validate`
// and loads the active model with progress and cancellation.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ModelInfo } from '../../shared/modelInfo';
import { listModels } from '../../engine/hub/cache';
import { resolveModelName } from '../../engine/bundledModels';
import type { BundledModel } from '../../engine/bundledModels';
import type { ModelListing } from '../../engine/hub/cache';
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
  private hubListing: ModelListing | undefined;
  private readonly pending = new Map<string, Promise<void>>();
  private readonly changed = new vscode.EventEmitter<void>();
  private randomInitSeed: number | undefined;
  readonly onDidChange = this.changed.event;
  private readonly activeChanged = new vscode.EventEmitter<string>();
  /**
   * Fires with the new folder when the active model becomes another one (a pick in the Models view, the setting,
   * a removed folder): views showing the old model's results run again. Not for the random-init control, whose
   * views re-run through the intervention state.
   */
  readonly onDidChangeActiveModel = this.activeChanged.event;
  private appliedDir: string | undefined;
  private readonly disposables: vscode.Disposable[] = [this.changed, this.activeChanged];

  /** The bundled models, default first (never empty: the extension ships its models/ folder). */
  constructor(
    readonly bundled: BundledModel[],
    private readonly engine: EngineClient,
    private readonly log: Log,
  ) {
    if (bundled.length === 0) throw new Error('MechLens: no bundled model found in the extension (models/ is missing).');
    this.applyModel();
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('mechlens.activeModel') || e.affectsConfiguration('mechlens.modelFolders') || e.affectsConfiguration('mechlens.threads') || e.affectsConfiguration('mechlens.executionProvider')) {
          this.applyModel();
          this.changed.fire();
        }
      }),
    );
  }

  /** The default model's folder: the first bundled one. */
  get defaultModelDir(): string {
    return this.bundled[0]!.dir;
  }

  /** The active model's folder (the bundled default when none was chosen or the chosen one was removed). */
  get activeDir(): string {
    const { activeModel } = readConfig();
    return activeModel ? this.resolveSetting(activeModel).dir : this.defaultModelDir;
  }

  /**
   * The models in the Hugging Face cache (and the transcoder sets there), read on first use and kept until
   * a refresh or a download: listing checks each snapshot's headers, which is file I/O worth not repeating.
   */
  hubModels(): ModelListing {
    this.hubListing ??= listModels();
    return this.hubListing;
  }

  /** Forgets the cache listing (after a download or on Refresh) and redraws. */
  refreshHub(): void {
    this.hubListing = undefined;
    this.changed.fire();
  }

  entries(): ModelEntry[] {
    const active = this.activeDir;
    const settings = [...readConfig().modelFolders, readConfig().activeModel].filter(Boolean).map((s) => this.resolveSetting(s));
    const unresolved = new Map(settings.filter((r) => r.error).map((r) => [r.dir, r.error]));
    const bundled = new Set(this.bundled.map((m) => m.dir));
    const dirs = [...bundled, ...settings.map((r) => r.dir)];
    const unique = [...new Set(dirs)];
    if (!unique.includes(active)) unique.push(active);
    return unique.map((dir) => {
      const v = this.validated.get(dir);
      return { dir, bundled: bundled.has(dir), active: dir === active, info: v?.info, error: unresolved.get(dir) ?? v?.error };
    });
  }

  /** Asks the engine about every listed folder not yet checked; fires onDidChange as answers come. */
  refreshInfo(force = false): void {
    if (force) this.validated.clear();
    if (force) this.hubListing = undefined;
    for (const e of this.entries()) {
      if (this.validated.has(e.dir) || this.pending.has(e.dir) || e.error) continue;
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
        title: 'MechLens: choose a folder with config.json, *.safetensors and tokenizer.json (or one holding a .gguf file)',
      });
      const uri = picked?.[0];
      if (!uri) return { added: false, cancelled: true };
      dir = uri.fsPath;
      // Linux and Windows dialogs pick a folder or a file, never either: a llama.cpp GGUF file is chosen
      // by picking its folder (one without config.json), then the file when there are several.
      const gguf = await pickGgufIn(dir);
      if (gguf === null) return { added: false, cancelled: true };
      if (gguf !== undefined) dir = gguf;
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
    if (!folders.map((f) => path.resolve(f)).includes(abs) && !this.bundledAt(abs)) {
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
    // A setting may be a repo id: compare what it resolves to (or the id itself when it no longer does).
    const names = (f: string) => this.resolveSetting(f).dir === abs || f === dir;
    await updateConfig('modelFolders', modelFolders.filter((f) => !names(f)));
    if (activeModel && names(activeModel)) await updateConfig('activeModel', '');
    this.validated.delete(abs);
    this.changed.fire();
  }

  /** Makes `dir` the active model and loads it (with progress and cancel). */
  async select(dir: string): Promise<ModelInfo | undefined> {
    const abs = path.resolve(dir);
    // A bundled model is stored by name: its folder moves with every extension update.
    const bundled = this.bundledAt(abs);
    await updateConfig('activeModel', abs === this.defaultModelDir ? '' : (bundled?.name ?? abs));
    this.applyModel();
    this.changed.fire();
    return this.loadActive();
  }

  /** Loads the active model, showing progress; undefined when the user cancelled. Errors are shown and rethrown. */
  async loadActive(): Promise<ModelInfo | undefined> {
    const dir = this.activeDir;
    const { activeModel } = readConfig();
    const unresolved = activeModel ? this.resolveSetting(activeModel).error : undefined;
    if (unresolved) {
      // A repo id that is not in the cache: say so (and how to get it) rather than "not a folder".
      void vscode.window.showErrorMessage(`MechLens: ${unresolved}`, 'Download Model…').then((a) => {
        if (a) void vscode.commands.executeCommand('mechlens.downloadModel', activeModel);
      });
      throw new Error(unresolved);
    }
    this.applyModel();
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

  /** Points the engine at the active model (it loads on next use); says so when that is another folder than before. */
  private applyModel(): void {
    const params = this.loadParams();
    this.engine.setModel(params);
    const previous = this.appliedDir;
    this.appliedDir = params.dir;
    if (previous !== undefined && previous !== params.dir) this.activeChanged.fire(params.dir);
  }

  private loadParams(): LoadModelParams {
    const { threads, executionProvider } = readConfig();
    return { dir: this.activeDir, threads, executionProvider, ...(this.randomInitSeed !== undefined ? { randomInit: this.randomInitSeed } : {}) };
  }

  /** The random-init control's seed while it is on (every view then runs the re-initialised architecture). */
  get randomInit(): number | undefined {
    return this.randomInitSeed;
  }

  /** Turns the random-init control on (a seed) or off (undefined) and loads the model so. */
  async setRandomInit(seed: number | undefined): Promise<ModelInfo | undefined> {
    this.randomInitSeed = seed;
    this.applyModel();
    this.changed.fire();
    return this.loadActive();
  }

  /** The bundled model in folder `abs`, if it is one. */
  private bundledAt(abs: string): BundledModel | undefined {
    return this.bundled.find((m) => m.dir === abs);
  }

  /** A setting's folder: a path, a bundled model's name, or a repo id in the Hugging Face cache; the reason when it does not resolve. */
  private resolveSetting(ref: string): { dir: string; error?: string } {
    try {
      return { dir: path.resolve(resolveModelName(ref, this.bundled)) };
    } catch (e) {
      return { dir: ref, error: errorMessage(e) };
    }
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

/** The .gguf file to add from a folder without config.json (undefined: not such a folder; null: the pick was cancelled). */
async function pickGgufIn(dir: string): Promise<string | undefined | null> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return undefined; // validation reports what is wrong with the folder
  }
  const ggufs = names.filter((n) => n.toLowerCase().endsWith('.gguf')).sort();
  if (names.includes('config.json') || ggufs.length === 0) return undefined;
  if (ggufs.length === 1) return path.join(dir, ggufs[0]!);
  const picked = await vscode.window.showQuickPick(ggufs, { title: 'MechLens: choose a GGUF file', placeHolder: path.basename(dir) });
  return picked === undefined ? null : path.join(dir, picked);
}
