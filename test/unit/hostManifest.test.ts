// The extension manifest (package.json contributions) against the code: every command contributed is
// registered and every command used in menus, keybindings and walkthroughs is contributed; activation
// stays lazy; settings and files the manifest names exist.
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { UNTRUSTED_STATUS, autoInspection } from '../../src/host/editor/inspectModel';

const ROOT = path.resolve(__dirname, '../..');

interface Manifest {
  main: string;
  activationEvents: string[];
  extensionKind: string[];
  capabilities: { untrustedWorkspaces: { supported: boolean | string } };
  contributes: {
    commands: Array<{ command: string; title: string; category: string; icon?: string }>;
    menus: Record<string, Array<{ command: string }>>;
    keybindings: Array<{ command: string; key: string }>;
    views: Record<string, Array<{ id: string; type?: string }>>;
    viewsContainers: { activitybar: Array<{ id: string; icon: string }> };
    configuration: { properties: Record<string, { type: string; enum?: string[]; default: unknown }> };
    walkthroughs: Array<{ steps: Array<{ description: string; media: { markdown?: string } }> }>;
  };
}

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;

function sources(dir: string): string {
  return readdirSync(dir)
    .map((f) => path.join(dir, f))
    .map((p) => (statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? readFileSync(p, 'utf8') : ''))
    .join('\n');
}

describe('host manifest', () => {
  const commands = pkg.contributes.commands.map((c) => c.command);

  it('keeps activation lazy', () => {
    assert.ok(!pkg.activationEvents.includes('*') && !pkg.activationEvents.includes('onStartupFinished'), JSON.stringify(pkg.activationEvents));
    assert.ok(pkg.activationEvents.includes('onLanguage:mechlens-prompt'));
    assert.ok(pkg.activationEvents.includes('onWebviewPanel:mechlens.promptPanel'), 'the panel serializer needs its activation event');
    assert.equal(pkg.main, './dist/extension.js');
    assert.deepEqual(pkg.extensionKind, ['workspace']);
    assert.ok(pkg.capabilities.untrustedWorkspaces.supported !== undefined);
  });

  it('names commands mechlens.verbNoun under the MechLens category, and registers each one', () => {
    const code = sources(path.join(ROOT, 'src'));
    for (const c of pkg.contributes.commands) {
      assert.match(c.command, /^mechlens\.[a-z]+[A-Z][A-Za-z]*$/, c.command);
      assert.equal(c.category, 'MechLens', c.command);
      assert.ok(code.includes(`registerCommand('${c.command}'`), `${c.command} is registered`);
    }
    for (const c of ['addModelFolder', 'selectModel', 'showInspector', 'runPrompt', 'restartEngine', 'showLogs']) assert.ok(commands.includes(`mechlens.${c}`), c);
  });

  it('only refers to contributed commands', () => {
    const used = [
      ...Object.values(pkg.contributes.menus).flat().map((m) => m.command),
      ...pkg.contributes.keybindings.map((k) => k.command),
      ...pkg.contributes.walkthroughs.flatMap((w) => w.steps.flatMap((s) => [...s.description.matchAll(/command:(mechlens\.[A-Za-z]+)/g)].map((m) => m[1]!))),
    ];
    for (const c of used) assert.ok(commands.includes(c), `${c} is contributed`);
    for (const k of ['mechlens.runPrompt', 'mechlens.showInspector', 'mechlens.selectModel']) assert.ok(pkg.contributes.keybindings.some((b) => b.command === k), `keybinding for ${k}`);
  });

  it('contributes the Models tree, the Inspector webview view and the settings', () => {
    const views = pkg.contributes.views.mechlens ?? [];
    assert.ok(views.some((v) => v.id === 'mechlens.models' && v.type === undefined));
    assert.ok(views.some((v) => v.id === 'mechlens.inspector' && v.type === 'webview'));
    const props = pkg.contributes.configuration.properties;
    for (const key of ['modelFolders', 'activeModel', 'threads', 'maxPromptTokens', 'executionProvider', 'inlineInspection.enabled', 'inlineInspection.filePatterns']) {
      assert.ok(props[`mechlens.${key}`], key);
    }
    assert.deepEqual(props['mechlens.executionProvider']?.enum, ['cpu', 'cuda', 'coreml', 'dml']);
    assert.equal(props['mechlens.executionProvider']?.default, 'cpu');
  });

  it('ignores engine and file-pattern settings from untrusted workspaces (issue #15)', () => {
    const restricted = (pkg.capabilities.untrustedWorkspaces as { restrictedConfigurations?: string[] }).restrictedConfigurations ?? [];
    for (const key of ['modelFolders', 'activeModel', 'threads', 'executionProvider', 'maxPromptTokens', 'inlineInspection.filePatterns']) {
      assert.ok(restricted.includes(`mechlens.${key}`), key);
    }
  });

  it('says that inline inspection is off in untrusted workspaces until they are trusted (issue #15)', () => {
    const untrusted = pkg.capabilities.untrustedWorkspaces as { supported: boolean | string; description?: string };
    assert.equal(untrusted.supported, 'limited');
    assert.match(untrusted.description ?? '', /inline inspection is off until the workspace is trusted/);
    const enabled = pkg.contributes.configuration.properties['mechlens.inlineInspection.enabled'] as { markdownDescription?: string } | undefined;
    assert.match(enabled?.markdownDescription ?? '', /Off in untrusted workspaces until they are trusted/);
  });

  it('inline inspection policy: nothing is inspected as it opens in an untrusted workspace, even with the default patterns', () => {
    let asked = 0;
    const matches = (m: boolean) => () => (asked++, m);
    const base = { enabled: true, trusted: true, promptLanguage: false };
    assert.equal(autoInspection({ ...base, matches: matches(true) }), 'inspect');
    assert.equal(autoInspection({ ...base, trusted: false, matches: matches(true) }), 'untrusted', 'a *.prompt file of a cloned repository');
    assert.equal(autoInspection({ ...base, trusted: false, promptLanguage: true, matches: matches(false) }), 'untrusted', 'a MechLens prompt file too');
    assert.equal(autoInspection({ ...base, trusted: false, matches: matches(false) }), 'no-match', 'other files: no message');
    asked = 0;
    assert.equal(autoInspection({ ...base, enabled: false, matches: matches(true) }), 'disabled');
    assert.equal(asked, 0, 'patterns are not matched when inspection is off');
    assert.equal(UNTRUSTED_STATUS.command, 'workbench.trust.manage');
    assert.match(UNTRUSTED_STATUS.tooltip, /Inspect Selection/);
  });

  it('points only at files that exist', () => {
    const files = [
      ...pkg.contributes.viewsContainers.activitybar.map((a) => a.icon),
      ...pkg.contributes.walkthroughs.flatMap((w) => w.steps.map((s) => s.media.markdown).filter((m): m is string => m !== undefined)),
      'media/webview.css',
    ];
    for (const f of files) assert.ok(existsSync(path.join(ROOT, f)), f);
  });
});
