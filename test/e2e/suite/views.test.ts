// The views inside the real extension host: inline inspection of a prompt file (token spans, surprisal,
// hover, CodeLens, updates on edits, the on/off setting), Inspect Selection on an untitled document, and the
// analysis panels opened by command.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { MechLensApi } from '../../../src/extension';
import { mdToken } from '../../../src/host/editor/inspectModel';

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function hoverText(hovers: vscode.Hover[]): string {
  return hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : 'value' in c ? c.value : ''))).join('\n');
}

export function registerViewTests(): void {
  describe('views: inline inspection and analysis panels', () => {
    let api: MechLensApi;
    let doc: vscode.TextDocument;
    let editor: vscode.TextEditor;

    before(async () => {
      const ext = vscode.extensions.getExtension<MechLensApi>('mechlens.mechlens');
      assert.ok(ext);
      api = await ext.activate();
      const folder = vscode.workspace.workspaceFolders?.[0];
      assert.ok(folder, 'a workspace folder is open');
      doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, 'prompt.mlprompt'));
      editor = await vscode.window.showTextDocument(doc);
    });

    it('inspects a prompt file: one span per token over the text, surprisal for all but the first', async () => {
      const ins = await waitFor('the inspection', () => api.views.inspection(doc.uri.toString()), 120_000);
      const r = ins.result;
      assert.equal(ins.text, doc.getText());
      assert.ok(r.prompt.ids.length >= 8);
      assert.equal(r.surprisal[0], null);
      assert.ok(r.surprisal.slice(1).every((s) => typeof s === 'number' && s >= 0));
      const spans = r.prompt.spans ?? [];
      assert.equal(spans.length, r.prompt.ids.length);
      assert.equal(spans.map(([s, e]) => ins.text.slice(s, e)).join(''), ins.text, 'the spans tile the text');
      assert.equal(r.top.length, r.prompt.ids.length);
      assert.ok((api.views.inlineStats().lastLatencyMs ?? -1) > 0);
    });

    it('hover on a token: top predictions, actual probability and rank, one-line lens', async () => {
      const ins = api.views.inspection(doc.uri.toString())!;
      const i = 3;
      const [s] = ins.result.prompt.spans![i]!;
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, doc.positionAt(s));
      const text = hoverText(hovers);
      assert.match(text, new RegExp(`token ${i} `));
      assert.match(text, /Top next-token predictions after it/);
      assert.match(text, /Actual token: p = \S+ · rank \d+ · surprisal [\d.]+ bits/);
      // Decoded for this token as it is hovered: one entry per layer and the final residual stream.
      const lensLine = /Logit lens \(top token per layer\): (0\\_pre .*)$/m.exec(text);
      assert.ok(lensLine, `the hover has the one-line lens: ${text}`);
      assert.equal(lensLine[1]!.split(' → ').length, api.loadedModel()!.nLayers + 1);
      const top = ins.result.top[i]![0]!;
      assert.ok(lensLine[1]!.endsWith(`final\\_post ${mdToken(top.text)}`), 'the final lens entry is the model\'s own top prediction');
      assert.ok(text.includes((top.prob * 100).toFixed(top.prob >= 0.1 ? 1 : 2)), 'the top prediction\'s probability is shown');
    });

    it('CodeLens above the prompt opens the three panels', async () => {
      const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri);
      const commands = lenses.map((l) => l.command?.command);
      for (const c of ['mechlens.showLogitLens', 'mechlens.showAttention', 'mechlens.showDla']) assert.ok(commands.includes(c), c);
      const lens = lenses.find((l) => l.command?.command === 'mechlens.showLogitLens')!;
      assert.equal(lens.command?.title, 'MechLens: Logit lens');
      await vscode.commands.executeCommand(lens.command!.command, ...(lens.command!.arguments ?? []));
      const open = await waitFor('a logit lens result', () => api.views.openPanels().find((p) => p.kind === 'lens' && p.results > 0));
      assert.equal(open.text, doc.getText());
    });

    it('an edit updates the inspection, and the panel that follows the file', async () => {
      const before = api.views.inlineStats().updates;
      for (const word of [' mat', '.', ' The']) {
        await editor.edit((e) => e.insert(doc.positionAt(doc.getText().length), word));
      }
      const text = doc.getText();
      await waitFor('the inspection of the edited text', () => api.views.inspection(doc.uri.toString())?.text === text);
      assert.ok(api.views.inlineStats().updates > before);
      await waitFor('the lens panel to follow the edit', () => api.views.openPanels().find((p) => p.kind === 'lens')?.text === text);
      await vscode.commands.executeCommand('undo');
      await vscode.commands.executeCommand('undo');
      await vscode.commands.executeCommand('undo');
    });

    it('another active model runs the open lens panel again, on that model', async function () {
      this.timeout(180_000);
      const before = api.views.openPanels().find((p) => p.kind === 'lens');
      assert.ok(before && before.results > 0 && before.model, 'the lens panel has a result');
      const cfg = vscode.workspace.getConfiguration('mechlens');
      await cfg.update('activeModel', 'stories260K', vscode.ConfigurationTarget.Global);
      try {
        const after = await waitFor('a lens result on stories260K', () => api.views.openPanels().find((p) => p.kind === 'lens' && p.results > before.results && p.model !== before.model), 90_000);
        assert.match(after.model ?? '', /stories/i);
      } finally {
        await cfg.update('activeModel', undefined, vscode.ConfigurationTarget.Global);
      }
      await waitFor(`the lens back on ${before.model}`, () => api.views.openPanels().find((p) => p.kind === 'lens')?.model === before.model, 90_000);
    });

    it('mechlens.inlineInspection.enabled = false removes it; true brings it back', async () => {
      const cfg = vscode.workspace.getConfiguration('mechlens.inlineInspection');
      await cfg.update('enabled', false, vscode.ConfigurationTarget.Global);
      try {
        await waitFor('the inspection to go', () => api.views.inspection(doc.uri.toString()) === undefined);
        const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri);
        assert.equal(lenses.filter((l) => l.command?.command?.startsWith('mechlens.')).length, 0);
      } finally {
        await cfg.update('enabled', undefined, vscode.ConfigurationTarget.Global);
      }
      await waitFor('the inspection to come back', () => api.views.inspection(doc.uri.toString()));
    });

    it('Inspect Selection inspects a selection of any document, at its offset', async () => {
      const other = await vscode.workspace.openTextDocument({ content: 'Notes first. The cat sat on the mat.', language: 'plaintext' });
      const ed = await vscode.window.showTextDocument(other);
      ed.selection = new vscode.Selection(other.positionAt(13), other.positionAt(other.getText().length));
      const n = await vscode.commands.executeCommand<number>('mechlens.inspectSelection');
      assert.ok(typeof n === 'number' && n > 3, `inspected ${n} tokens`);
      const ins = api.views.inspection(other.uri.toString())!;
      assert.equal(ins.base, 13);
      assert.equal(ins.text, 'The cat sat on the mat.');
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', other.uri, other.positionAt(13 + ins.result.prompt.spans![1]![0]));
      assert.match(hoverText(hovers), /token 1 /);
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    });

    it('attention and DLA panels open by command on given text and produce results', async function () {
      this.timeout(180_000);
      const text = 'When Mary and John went to the store, John gave a drink to';
      // One at a time: a panel hidden behind another before its page loaded does not run.
      await vscode.commands.executeCommand('mechlens.showAttention', { text });
      await waitFor('an attention result', () => api.views.openPanels().some((x) => x.kind === 'attention' && x.results > 0), 90_000);
      await vscode.commands.executeCommand('mechlens.showDla', { text });
      await waitFor('a DLA result', () => api.views.openPanels().some((x) => x.kind === 'dla' && x.results > 0 && x.text === text), 90_000);
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    });
  });
}
