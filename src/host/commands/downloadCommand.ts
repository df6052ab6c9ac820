// MechLens: Download Model… — a model from the Hugging Face Hub into the standard cache, only when the user
// agrees to the listed files: ask for ORG/NAME[@REV], fetch the plan (file list and sizes), show it in a
// modal dialog, and download with progress and cancel only on "Download". The engine's downloader does the
// work (engine/hub/download.ts: resume, hash checks, pickle never fetched); VS Code's proxy settings and
// HF_ENDPOINT / HF_TOKEN (or the token file) are honoured.
import * as vscode from 'vscode';
import { describePlan, downloadPlan, planDownload } from '../../engine/hub/download';
import type { DownloadPlan } from '../../engine/hub/download';
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
  return [vscode.commands.registerCommand('mechlens.downloadModel', (arg?: unknown) => downloadModel(models, log, typeof arg === 'string' ? arg : undefined))];
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
  let conn: HubConnection;
  let plan: DownloadPlan;
  try {
    conn = connection();
    plan = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `MechLens: asking the Hub about ${ref}…`, cancellable: true },
      (_p, token) => planDownload(ref, conn, { signal: tokenToSignal(token) }),
    );
  } catch (e) {
    if (!isAbort(e)) {
      log.warn(`Download of ${ref} refused: ${errorMessage(e)}`);
      void vscode.window.showErrorMessage(`MechLens: ${errorMessage(e)}`);
    }
    return undefined;
  }
  const { headline, lines } = describePlan(plan);
  if (plan.downloadBytes === 0) {
    log.info(`${ref}: every file is already in the cache.`);
  } else {
    // Consent: a modal with the file list; anything but "Download" downloads nothing.
    const choice = await vscode.window.showWarningMessage(`Download ${headline}?`, { modal: true, detail: lines.join('\n') }, 'Download');
    if (choice !== 'Download') {
      log.info(`Download of ${ref} declined.`);
      return undefined;
    }
  }
  log.info(`Downloading ${headline} into ${plan.snapshotDir}.`);
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `MechLens: downloading ${plan.id}`, cancellable: true },
      (progress, token) => {
        let reported = 0;
        return downloadPlan(plan, conn, {
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
      },
    );
  } catch (e) {
    if (isAbort(e)) {
      log.info(`Download of ${plan.id} cancelled; partial files are kept for the next try.`);
      void vscode.window.showInformationMessage(`MechLens: download of ${plan.id} cancelled. Partial files stay in the cache; downloading again resumes them.`);
    } else {
      log.error(`Download of ${plan.id} failed`, e);
      void vscode.window.showErrorMessage(`MechLens: ${errorMessage(e)}`, 'Show Logs').then((a) => {
        if (a) log.show();
      });
    }
    models.refreshHub();
    return undefined;
  }
  models.refreshHub();
  log.info(`Downloaded ${plan.id}@${plan.revision} to ${plan.snapshotDir}.`);
  void vscode.window.showInformationMessage(`MechLens: downloaded ${plan.id}.`, 'Use It').then((a) => {
    if (a) void models.select(plan.snapshotDir).catch(() => undefined);
  });
  return plan.snapshotDir;
}
