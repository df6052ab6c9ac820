// "MechLens: Build Feature Dashboards": picks a corpus (text files or a folder, or the model's held-out token
// file), runs the engine's `featureDashboards` with a cancellable progress notification that shows the
// percentage, and keeps the result in the extension's global storage (FeatureStore: keyed by the model's
// and the transcoders' content hash). A cancelled or failed build keeps its finished layers; running the
// command again on the same corpus resumes there (the engine skips layers whose files are whole).
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import type { ModelInfo } from '../shared/modelInfo';
import { RpcError } from '../shared/rpc';
import type { EngineClient } from './engineClient';
import type { FeatureStore } from './featureStore';
import { errorMessage } from './log';
import type { Log } from './log';
import { tokenToSignal } from './progress';

export interface FeatureCommandDeps {
  engine: EngineClient;
  log: Log;
  store: FeatureStore;
  ensureModel: () => Promise<ModelInfo | undefined>;
  /** A build finished: open feature panels read the new dashboards. */
  onBuilt: (source: string) => void;
}

export const BUILD_DASHBOARDS_COMMAND = 'mechlens.buildFeatureDashboards';

/** The model's held-out token file (the bundled model has one), if any. */
function heldOut(info: ModelInfo): string | undefined {
  const file = join(info.dir, 'eval', 'heldout_tokens.u16');
  return existsSync(file) ? file : undefined;
}

async function pickCorpus(info: ModelInfo): Promise<string | undefined> {
  type Item = vscode.QuickPickItem & { corpus: 'heldout' | 'file' | 'folder' };
  const items: Item[] = [];
  const held = heldOut(info);
  if (held) items.push({ label: `$(database) Held-out tokens of ${info.name}`, description: 'eval/heldout_tokens.u16', detail: 'The token file the shipped dashboards were built from', corpus: 'heldout' });
  // Two entries, not one dialog for both: VS Code's own (remote) dialog opens a folder instead of taking it when files are selectable too.
  items.push({ label: '$(folder) A folder of text files…', description: 'every text file in it (binary files are skipped)', corpus: 'folder' });
  items.push({ label: '$(file) A text file…', corpus: 'file' });
  const pick = await vscode.window.showQuickPick(items, { title: `MechLens: feature dashboards of ${info.name}: corpus`, placeHolder: 'What the features are run over' });
  if (!pick) return undefined;
  if (pick.corpus === 'heldout') return held;
  const uris = await vscode.window.showOpenDialog({
    title: 'Corpus for the feature dashboards',
    canSelectFiles: pick.corpus === 'file',
    canSelectFolders: pick.corpus === 'folder',
    canSelectMany: false,
    openLabel: 'Use as corpus',
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  const uri = uris?.[0];
  if (!uri) return undefined;
  if (uri.scheme !== 'file') {
    void vscode.window.showErrorMessage(`MechLens: the corpus must be a local file or folder (${uri.toString()} is not).`);
    return undefined;
  }
  return uri.fsPath;
}

/** Builds (or resumes) dashboards; the build folder, or undefined when cancelled, failed or dismissed. */
export async function buildFeatureDashboards(deps: FeatureCommandDeps, corpusArg?: string): Promise<string | undefined> {
  const info = await deps.ensureModel();
  if (!info) return undefined;
  const corpus = corpusArg ?? (await pickCorpus(info));
  if (!corpus) return undefined;
  let out: string;
  try {
    out = await deps.store.corpusDir(info.dir, corpus);
  } catch (err) {
    void vscode.window.showErrorMessage(`MechLens: ${errorMessage(err)}`);
    return undefined;
  }
  const before = await deps.store.progress(out);
  try {
    const result = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `MechLens: feature dashboards of ${info.name} on ${basename(corpus)}${before.done > 0 ? ` (resuming: ${before.done} of ${before.total} layers done)` : ''}`,
        cancellable: true,
      },
      async (progress, token) => {
        let reported = 0;
        const job = deps.engine.jobs.start('featureDashboards', tokenToSignal(token));
        return deps.engine
          .call(
            'analysis/featureDashboards',
            { corpus, out },
            {
              signal: job.signal,
              onProgress: (message, fraction) => {
                const pct = fraction === undefined ? reported : Math.floor(fraction * 100);
                progress.report({ message: `${pct}% · ${message}`, increment: Math.max(0, pct - reported) });
                reported = Math.max(reported, pct);
              },
            },
          )
          .finally(() => job.done());
      },
    );
    await deps.store.setLatest(info.dir, out, corpus);
    const source = `${basename(corpus)}, ${result.nTokens.toLocaleString('en-US')} tokens`;
    deps.log.info(`Feature dashboards of ${info.name} on ${corpus}: layers built ${JSON.stringify(result.built)}, resumed ${JSON.stringify(result.resumed)}, ${result.seconds.toFixed(1)} s -> ${out}`);
    void vscode.window.showInformationMessage(
      `MechLens: feature dashboards of ${info.name} built on ${source}${result.resumed.length ? ` (resumed: ${result.resumed.length} layer${result.resumed.length === 1 ? '' : 's'} kept from before)` : ''}.`,
    );
    deps.onBuilt(source);
    return out;
  } catch (err) {
    const after = await deps.store.progress(out);
    const kept = after.done > 0 ? `${after.done} of ${after.total} layers are finished and kept` : 'no layer was finished yet';
    if (err instanceof RpcError && err.code === 'cancelled') {
      void vscode.window.showInformationMessage(`MechLens: the feature dashboards build was cancelled; ${kept}. Run "Build Feature Dashboards" on the same corpus to resume.`);
      return undefined;
    }
    deps.log.error('The feature dashboards build failed', err);
    void vscode.window.showErrorMessage(`MechLens: feature dashboards: ${errorMessage(err)} (${kept}; the shipped or earlier dashboards are still used).`);
    return undefined;
  }
}

export function registerFeatureCommands(deps: FeatureCommandDeps): vscode.Disposable[] {
  return [
    // The argument (a corpus path) is for tests and other extensions; the palette always asks.
    vscode.commands.registerCommand('mechlens.buildFeatureDashboards', (arg?: unknown) => buildFeatureDashboards(deps, typeof arg === 'string' && arg.length > 0 ? arg : undefined)),
  ];
}
