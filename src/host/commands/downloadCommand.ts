// MechLens: Download Model… — a model from the Hugging Face Hub into the standard cache, only when the user
// agrees to the listed files: ask for ORG/NAME[@REV], fetch the plan (file list and sizes), show it in a
// modal dialog, and download with progress and cancel only on "Download". The engine's downloader does the
// work (engine/hub/download.ts: resume, hash checks, pickle never fetched, a lock per file shared with other
// processes); VS Code's proxy settings and HF_ENDPOINT / HF_TOKEN (or the token file) are honoured.
// MechLens: Download Transcoder Files… does the same for the hf:// files a transcoder set's config.yaml
// lists (engine/hub/transcoderFiles.ts), picked among the sets the Models view lists or from a folder.
import * as vscode from 'vscode';
import { describePlan, downloadPlan, planDownload } from '../../engine/hub/download';
import type { DownloadOptions, DownloadPlan } from '../../engine/hub/download';
import { describeTranscoderPlan, downloadTranscoderPlan, planTranscoderDownload } from '../../engine/hub/transcoderFiles';
import type { TranscoderDownloadPlan } from '../../engine/hub/transcoderFiles';
import { connectionFromSettings } from '../../engine/hub/http';
import type { HubConnection } from '../../engine/hub/http';
import { parseRepoRef } from '../../engine/hub/repoId';
import { errorMessage } from '../log';
import type { Log } from '../log';
import type { ModelManager } from '../models/modelManager';
import { tokenToSignal } from '../progress';

function connection(): HubConnection {
  const http = vscode.workspace.getConfiguration('http');
  return connectionFromSettings({
    proxy: http.get<string>('proxy') || undefined,
    noProxy: http.get<string[]>('noProxy'),
    proxyAuthorization: http.get<string | null>('proxyAuthorization'),
    proxyStrictSSL: http.get<boolean>('proxyStrictSSL', true),
  });
}

const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError';

export function registerDownloadCommand(models: ModelManager, log: Log): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('mechlens.downloadModel', (arg?: unknown) => downloadModel(models, log, typeof arg === 'string' ? arg : undefined)),
    vscode.commands.registerCommand('mechlens.downloadTranscoders', (arg?: unknown) => downloadTranscoders(models, log, typeof arg === 'string' ? arg : undefined)),
  ];
}

/** Asks the Hub for a plan, with a cancellable notification; undefined (and the error shown) when refused. */
async function askHub<T>(what: string, log: Log, plan: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `MechLens: asking the Hub about ${what}…`, cancellable: true }, (_p, token) =>
      plan(tokenToSignal(token)),
    );
  } catch (e) {
    if (!isAbort(e)) {
      log.warn(`Download of ${what} refused: ${errorMessage(e)}`);
      void vscode.window.showErrorMessage(`MechLens: ${errorMessage(e)}`);
    }
    return undefined;
  }
}

/**
 * Consent, then the download with progress and cancel: a modal with the plan's file list (anything but
 * "Download" downloads nothing; nothing to fetch asks nothing). True once every file is in the cache.
 */
async function consentAndDownload(
  what: string,
  described: { headline: string; lines: string[] },
  downloadBytes: number,
  models: ModelManager,
  log: Log,
  run: (options: DownloadOptions) => Promise<unknown>,
): Promise<boolean> {
  const { headline, lines } = described;
  if (downloadBytes === 0) {
    log.info(`${what}: every file is already in the cache.`);
  } else {
    const choice = await vscode.window.showWarningMessage(`Download ${headline}?`, { modal: true, detail: lines.join('\n') }, 'Download');
    if (choice !== 'Download') {
      log.info(`Download of ${what} declined.`);
      return false;
    }
  }
  log.info(`Downloading ${headline}.`);
  try {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `MechLens: downloading ${what}`, cancellable: true }, (progress, token) => {
      let reported = 0;
      return run({
        signal: tokenToSignal(token),
        onEvent: (m) => log.info(m),
        onProgress: (p) => {
          const pct = p.totalBytes ? (100 * p.doneBytes) / p.totalBytes : 100;
          // VS Code adds increments up; report whole percents only, so a large file does not flood the UI.
          if (Math.floor(pct) <= reported && p.fileBytes < p.fileSize) return;
          progress.report({ message: `${p.file} (${Math.floor(pct)}%)`, increment: pct - reported });
          reported = pct;
        },
      });
    });
  } catch (e) {
    if (isAbort(e)) {
      log.info(`Download of ${what} cancelled; partial files are kept for the next try.`);
      void vscode.window.showInformationMessage(`MechLens: download of ${what} cancelled. Partial files stay in the cache; downloading again resumes them.`);
    } else {
      log.error(`Download of ${what} failed`, e);
      void vscode.window.showErrorMessage(`MechLens: ${errorMessage(e)}`, 'Show Logs').then((a) => {
        if (a) log.show();
      });
    }
    models.refreshHub();
    return false;
  }
  models.refreshHub();
  return true;
}

/** Returns the snapshot folder once downloaded; undefined when the user stopped at any step. */
async function downloadModel(models: ModelManager, log: Log, given?: string): Promise<string | undefined> {
  const ref = (
    await vscode.window.showInputBox({
      title: 'MechLens: Download Model from the Hugging Face Hub',
      prompt: 'Repo id, ORG/NAME or ORG/NAME@REVISION. The files and their total size are shown before anything is downloaded.',
      placeHolder: 'HuggingFaceTB/SmolLM2-135M',
      value: given,
      ignoreFocusOut: true,
      validateInput: (v) => (parseRepoRef(v.trim()) ? undefined : 'Expected ORG/NAME or ORG/NAME@REVISION'),
    })
  )?.trim();
  if (!ref) return undefined;
  let conn!: HubConnection;
  const plan: DownloadPlan | undefined = await askHub(ref, log, async (signal) => planDownload(ref, (conn = connection()), { signal }));
  if (!plan) return undefined;
  if (!(await consentAndDownload(plan.id, describePlan(plan), plan.downloadBytes, models, log, (options) => downloadPlan(plan, conn, options)))) return undefined;
  log.info(`Downloaded ${plan.id}@${plan.revision} to ${plan.snapshotDir}.`);
  void vscode.window.showInformationMessage(`MechLens: downloaded ${plan.id}.`, 'Use It').then((a) => {
    if (a) void models.select(plan.snapshotDir).catch(() => undefined);
  });
  return plan.snapshotDir;
}

/**
 * The hf:// files of a transcoder set: picked among the sets the Models view lists that still have files on
 * the Hub (or any folder holding a config.yaml), planned, agreed to, downloaded. The set then loads as usual.
 */
async function downloadTranscoders(models: ModelManager, log: Log, given?: string): Promise<string | undefined> {
  let dir = given;
  if (!dir) {
    const sets = models.hubModels().transcoders.filter((t) => t.remote_files > 0);
    const browse = { label: '$(folder-opened) Choose a Transcoder Folder…', description: 'a folder with a circuit-tracer config.yaml', dir: undefined as string | undefined };
    const picked = await vscode.window.showQuickPick(
      [
        ...sets.map((t) => ({ label: t.id, description: `${t.remote_files} files on the Hub${t.model_name ? ` · for ${t.model_name}` : ''}`, detail: t.path, dir: t.path as string | undefined })),
        browse,
      ],
      { title: 'MechLens: Download Transcoder Files', placeHolder: sets.length ? 'A transcoder set whose config.yaml lists hf:// files' : 'No listed set has files on the Hub: choose a folder', ignoreFocusOut: true },
    );
    if (!picked) return undefined;
    dir = picked.dir;
    if (!dir) {
      const chosen = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use This Transcoder Set', title: 'A folder holding a circuit-tracer config.yaml' });
      dir = chosen?.[0]?.fsPath;
      if (!dir) return undefined;
    }
  }
  const set = dir;
  let conn!: HubConnection;
  const plan: TranscoderDownloadPlan | undefined = await askHub(`the transcoder set in ${set}`, log, async (signal) => planTranscoderDownload(set, (conn = connection()), { signal }));
  if (!plan) return undefined;
  const what = `${plan.files.length} transcoder files`;
  if (!(await consentAndDownload(what, describeTranscoderPlan(plan), plan.downloadBytes, models, log, (options) => downloadTranscoderPlan(plan, conn, options)))) return undefined;
  log.info(`Downloaded the hf:// files of the transcoder set in ${plan.dir}.`);
  void vscode.window.showInformationMessage(`MechLens: downloaded the transcoder set's ${plan.files.length} Hub files; it loads from ${plan.dir} now.`);
  return plan.dir;
}
