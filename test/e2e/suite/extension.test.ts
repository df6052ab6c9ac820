// MechLens inside a real VS Code extension host (code-server 1.139): activation and the first inline
// decorations (timed), contributions, the engine worker through the real RPC, model folders, the first
// result, and recovery after the worker crashes.
import * as assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { MechLensApi } from '../../../src/extension';
import type { AddFolderResult } from '../../../src/host/models/modelManager';
import type { PromptView } from '../../../src/shared/panelProtocol';

const EXTENSION_ID = 'mechlens.mechlens';
const PROMPT = 'When Mary and John went to the store, John gave the drink to';

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function registerExtensionTests(): void {
  describe('MechLens in a real VS Code extension host', () => {
    let ext: vscode.Extension<MechLensApi>;
    let api: MechLensApi;
    let first: PromptView;

    before(async () => {
      const found = vscode.extensions.getExtension<MechLensApi>(EXTENSION_ID);
      assert.ok(found, `${EXTENSION_ID} is installed`);
      ext = found;
      console.log(`[mechlens-e2e] VS Code ${vscode.version}, uiKind ${vscode.env.uiKind}, remote ${vscode.env.remoteName ?? '-'}`);
    });

    it('activates without starting the engine; a workspace with prompt files warms it just after', async () => {
      api = await ext.activate();
      assert.equal(ext.isActive, true);
      const t = api.startup();
      // Reported, not asserted (timings on shared machines vary): issue #13's goal is activation <= 150 ms.
      console.log(`[mechlens-e2e] activation ${t.activationMs.toFixed(1)} ms = loading the code ${t.codeLoadMs?.toFixed(1) ?? '?'} ms + activate() ${t.activateMs.toFixed(1)} ms (VS Code's wait between them: ${t.waitMs?.toFixed(1) ?? '?'} ms)`);
      assert.ok(t.codeLoadMs !== undefined && t.codeLoadMs > 0, `code loading measured: ${t.codeLoadMs}`);
      assert.ok(t.activateMs > 0 && t.activationMs >= t.activateMs, `activation measured: ${JSON.stringify(t)}`);
      // activate() starts no worker; this workspace holds prompt.mlprompt, so the warm-up starts one afterwards.
      assert.ok(api.engineStarts() === 0 || (t.warmUp !== undefined && t.warmUp.startMs >= 0), `a worker only from the warm-up: ${JSON.stringify(t)}`);
      const warm = await waitFor('the engine warm-up', () => api.startup().warmUp?.readyMs !== undefined && api.startup().warmUp, 60_000);
      console.log(`[mechlens-e2e] engine warm-up began ${warm.startMs.toFixed(0)} ms after activation, model loaded at ${warm.readyMs?.toFixed(0)} ms`);
      assert.equal(api.engineStarts(), 1, 'one worker');
      assert.equal(path.resolve(api.loadedModel()?.dir ?? ''), path.resolve(api.defaultModelDir), 'the bundled default model');
    });

    it('opening a prompt file decorates it, and the time is measured', async () => {
      const folder = vscode.workspace.workspaceFolders?.[0];
      assert.ok(folder, 'a workspace folder is open');
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, 'prompt.mlprompt'));
      await vscode.window.showTextDocument(doc);
      const first = await waitFor('the first inline decorations', () => api.startup().firstDecorations, 60_000);
      // Reported, not asserted: issue #13's goal is the first decorations within 1 s of opening the file.
      console.log(
        `[mechlens-e2e] first inline decorations ${first.ms.toFixed(0)} ms after the prompt file opened (waiting for the engine ${first.engineMs.toFixed(0)} ms, inspection ${first.inspectMs.toFixed(0)} ms, ${first.tokens} tokens)`,
      );
      assert.equal(first.uri, doc.uri.toString());
      assert.ok(first.ms > 0 && first.engineMs >= 0 && first.inspectMs > 0 && first.ms >= first.engineMs + first.inspectMs, JSON.stringify(first));
      assert.equal(api.engineStarts(), 1, 'the warmed worker served it');
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    });

    it('registers every contributed command', async () => {
      const contributed = (ext.packageJSON as { contributes: { commands: Array<{ command: string }> } }).contributes.commands.map((c) => c.command);
      assert.ok(contributed.length >= 8);
      const registered = new Set(await vscode.commands.getCommands(true));
      const missing = contributed.filter((c) => !registered.has(c));
      assert.deepEqual(missing, []);
      for (const c of ['mechlens.addModelFolder', 'mechlens.selectModel', 'mechlens.showInspector', 'mechlens.runPrompt', 'mechlens.restartEngine', 'mechlens.showLogs']) {
        assert.ok(registered.has(c), c);
      }
    });

    it('rejects a folder without config.json with a clear message', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'mechlens-empty-'));
      const r = await vscode.commands.executeCommand<AddFolderResult>('mechlens.addModelFolder', dir);
      assert.equal(r.added, false);
      assert.ok('error' in r && /config\.json/.test(r.error), `message names config.json: ${JSON.stringify(r)}`);
      const folders = vscode.workspace.getConfiguration('mechlens').get<string[]>('modelFolders', []);
      assert.ok(!folders.includes(dir), 'not stored in settings');
    });

    it('rejects a pickle-only folder and says why', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'mechlens-pickle-'));
      copyFileSync(path.join(ext.extensionPath, 'test', 'fixtures', 'gpt2', 'config.json'), path.join(dir, 'config.json'));
      writeFileSync(path.join(dir, 'pytorch_model.bin'), Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e]));
      const r = await vscode.commands.executeCommand<AddFolderResult>('mechlens.addModelFolder', dir);
      assert.equal(r.added, false);
      assert.ok('error' in r && /pickle/i.test(r.error), `message mentions pickle: ${JSON.stringify(r)}`);
    });

    it('validates and adds a real checkpoint folder through the worker', async () => {
      const dir = path.join(ext.extensionPath, 'test', 'fixtures', 'gpt2');
      const r = await vscode.commands.executeCommand<AddFolderResult>('mechlens.addModelFolder', dir);
      assert.ok(r.added, JSON.stringify(r));
      assert.equal(r.info.architecture, 'gpt2');
      assert.ok(r.info.parameterCount > 0);
      assert.ok(api.engineStarts() >= 1, 'the worker started on first use');
      const folders = vscode.workspace.getConfiguration('mechlens').get<string[]>('modelFolders', []);
      assert.ok(folders.includes(dir), `stored in settings: ${JSON.stringify(folders)}`);
    });

    it('runPrompt runs the bundled default model and shows the top next tokens', async () => {
      const doc = await vscode.workspace.openTextDocument({ content: PROMPT, language: 'plaintext' });
      await vscode.window.showTextDocument(doc);
      const view = await vscode.commands.executeCommand<PromptView | undefined>('mechlens.runPrompt');
      assert.ok(view, 'a result');
      first = view;
      assert.equal(view.text, PROMPT);
      assert.ok(view.tokens.length >= 5, `tokens: ${view.tokens.length}`);
      assert.equal(view.tokens.map((t) => t.text).join(''), PROMPT, 'token texts spell the prompt');
      assert.equal(view.position, view.tokens.length - 1);
      assert.equal(view.top.length, 10);
      for (let i = 1; i < view.top.length; i++) assert.ok(view.top[i - 1]!.prob >= view.top[i]!.prob, 'sorted by probability');
      // The bundled model solves indirect-object identification (its card reports top-1 = 1.0 on the IOI family).
      assert.equal(view.top[0]?.text, ' Mary', `top token ${JSON.stringify(view.top[0])}`);
      const total = view.top.reduce((s, t) => s + t.prob, 0);
      assert.ok(total > 0 && total <= 1 + 1e-4, `probabilities sum ${total}`);
      const loaded = api.loadedModel();
      assert.ok(loaded, 'a model is loaded');
      assert.equal(path.resolve(loaded.dir), path.resolve(api.defaultModelDir), 'the default model is active on first run');
      await waitFor('the prompt panel', () => api.promptPanelOpen());
      const tab = await waitFor('the panel tab', () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.label === 'MechLens: Prompt'));
      assert.ok(tab.input instanceof vscode.TabInputWebview);
      assert.match(api.statusBarText(), /mechlens-tiny/);
      console.log(`[mechlens-e2e] top next token after "${PROMPT}": ${JSON.stringify(view.top[0]?.text)} p=${view.top[0]?.prob.toFixed(3)}`);
    });

    it('runs the selection only when text is selected', async () => {
      const editor = vscode.window.activeTextEditor;
      assert.ok(editor);
      editor.selection = new vscode.Selection(0, 0, 0, 9);
      const view = await vscode.commands.executeCommand<PromptView | undefined>('mechlens.runPrompt');
      assert.ok(view);
      assert.equal(view.text, 'When Mary');
    });

    it('keeps the last mechlens.maxPromptTokens tokens of a long prompt', async () => {
      const config = vscode.workspace.getConfiguration('mechlens');
      await config.update('maxPromptTokens', 4, vscode.ConfigurationTarget.Global);
      try {
        const view = await vscode.commands.executeCommand<PromptView | undefined>('mechlens.runPrompt', { text: PROMPT });
        assert.ok(view);
        assert.equal(view.tokens.length, 4);
        assert.deepEqual(view.tokens.map((t) => t.id), first.tokens.slice(-4).map((t) => t.id));
      } finally {
        await config.update('maxPromptTokens', undefined, vscode.ConfigurationTarget.Global);
      }
    });

    it('recovers after the engine worker crashes and reloads the model', async () => {
      const starts = api.engineStarts();
      await vscode.commands.executeCommand('mechlens.debugCrashEngine');
      await waitFor('the crash to be noticed', () => api.engineState() === 'crashed');
      assert.equal(api.loadedModel(), undefined, 'the model is gone with the worker');
      assert.match(api.statusBarText(), /mechlens-tiny/, 'UI state is kept');
      const view = await vscode.commands.executeCommand<PromptView | undefined>('mechlens.runPrompt', { text: PROMPT });
      assert.ok(view, 'runs again after the crash');
      assert.equal(api.engineStarts(), starts + 1, 'a fresh worker');
      assert.deepEqual(view.top.map((t) => t.id), first.top.map((t) => t.id), 'same model, same answer');
      assert.ok(api.loadedModel());
    });

    it('selects another model and back', async () => {
      const dir = path.join(ext.extensionPath, 'test', 'fixtures', 'gpt2');
      const info = await vscode.commands.executeCommand<{ dir: string } | undefined>('mechlens.selectModel', dir);
      assert.ok(info);
      assert.equal(path.resolve(api.loadedModel()?.dir ?? ''), path.resolve(dir));
      assert.equal(vscode.workspace.getConfiguration('mechlens').get<string>('activeModel'), dir);
      await vscode.commands.executeCommand('mechlens.selectModel', api.defaultModelDir);
      assert.equal(path.resolve(api.loadedModel()?.dir ?? ''), path.resolve(api.defaultModelDir));
      assert.equal(vscode.workspace.getConfiguration('mechlens').get<string>('activeModel'), '');
    });

    it('the second bundled model (stories260K) is selected, stored by name, and back; the prompt runs again on each', async () => {
      assert.deepEqual(api.bundledModels.map((m) => m.name), ['mechlens-tiny', 'stories260K']);
      await vscode.commands.executeCommand('mechlens.runPrompt', { text: PROMPT });
      assert.equal(api.currentPrompt()?.modelName, 'mechlens-tiny');
      const stories = api.bundledModels[1]!;
      const info = await vscode.commands.executeCommand<{ dir: string; architecture: string } | undefined>('mechlens.selectModel', stories.dir);
      assert.equal(info?.architecture, 'llama');
      assert.equal(path.resolve(api.loadedModel()?.dir ?? ''), path.resolve(stories.dir));
      assert.equal(vscode.workspace.getConfiguration('mechlens').get<string>('activeModel'), 'stories260K', 'stored by name: the folder moves with extension updates');
      await waitFor('the prompt run on stories260K', () => api.currentPrompt()?.modelName === 'stories260K');
      assert.equal(api.currentPrompt()?.text, PROMPT);
      await vscode.commands.executeCommand('mechlens.selectModel', api.defaultModelDir);
      assert.equal(vscode.workspace.getConfiguration('mechlens').get<string>('activeModel'), '');
      await waitFor('the prompt run on mechlens-tiny again', () => api.currentPrompt()?.modelName === 'mechlens-tiny');
    });

    it('restartEngine starts a fresh worker with the model loaded', async () => {
      const starts = api.engineStarts();
      await vscode.commands.executeCommand('mechlens.restartEngine');
      assert.equal(api.engineStarts(), starts + 1);
      assert.equal(path.resolve(api.loadedModel()?.dir ?? ''), path.resolve(api.defaultModelDir));
    });

    it('showInspector reveals the Inspector view and updates it', async () => {
      const view = await vscode.commands.executeCommand<PromptView | undefined>('mechlens.showInspector', { text: PROMPT });
      assert.ok(view);
      await waitFor('the Inspector webview', () => api.inspectorResolved());
      assert.equal(api.currentPrompt()?.text, PROMPT);
    });
  });
}
