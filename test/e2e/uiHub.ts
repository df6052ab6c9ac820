// UI end-to-end tests of models from where users keep them (issue 14), in a real VS Code workbench
// (code-server) in headless chromium: a model already in a Hugging Face cache (HF_HUB_CACHE, a temp folder
// in huggingface_hub's layout made from the llama fixture) shows in the Models view's "Hugging Face cache"
// group and loads when clicked; MechLens: Download Model… against a loopback fake Hub (HF_ENDPOINT) shows
// the plan in a modal, downloads only after "Download", and the model appears in the cache group; a GGUF
// file (written from the qwen2 fixture) is added through Add Model Folder… and loads; a Gemma-3 model in the
// cache is listed as supported; MechLens: Download Transcoder Files… offers a cached transcoder set whose
// config.yaml names hf:// files, fetches nothing when declined and the files after consent; a declined download fetches nothing. Screenshots in dark and
// light themes: <outDir>/hub-*.png.
// Usage: node --import tsx test/e2e/uiHub.ts <port> <extensionPath> <workspaceFolder> <outDir> <hfHubCache> <hubPort>
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { Page } from 'playwright-core';
import { answerDialog, devPayload, launchChromium, reportResults, runCommand, setTheme, suiteRunner, workbenchUrl } from './browser';
import { startFakeHub } from '../support/hubServer';
import { ggufFromFixture } from '../support/ggufWriter';
import { writeGemmaScopeNpz } from '../support/transcoderFixtures';
import type { ModelConfig } from '../../src/engine/architectures/spec';

const [port = '8765', extPath = process.cwd(), folder = process.cwd(), outDir = 'test-results/e2e', cacheDir = '', hubPort = '0'] = process.argv.slice(2);
const t0 = Date.now();
const log = (...a: unknown[]) => console.log(`[ui-hub +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const FIXTURES = join(__dirname, '..', 'fixtures');
const CACHED = 'mechlens-test/tiny-llama';
const REMOTE = 'mechlens-test/tiny-qwen2';
const DECLINED = 'mechlens-test/tiny-gemma2';
const GEMMA3 = 'mechlens-test/tiny-gemma3';
/** A transcoder set in the cache whose config.yaml names its files on the Hub (repo SCOPE). */
const TC_SET = 'mechlens-test/tiny-llama-transcoders';
const SCOPE = 'mechlens-test/scope-tc';
const COMMIT = 'c0ffee0000000000000000000000000000000001';

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

function fixtureFiles(name: string): Record<string, Buffer> {
  const dir = join(FIXTURES, name);
  const keep = (f: string) => f === 'config.json' || /^model.*\.safetensors(\.index\.json)?$/.test(f);
  return Object.fromEntries(readdirSync(dir).filter(keep).map((f) => [f, readFileSync(join(dir, f))]));
}

/** Files as huggingface_hub writes them: content in blobs/SHA256, linked from snapshots/COMMIT, refs/main. */
function addSnapshot(id: string, commit: string, files: Record<string, Buffer>): void {
  const repo = join(cacheDir, `models--${id.replace('/', '--')}`);
  for (const [path, data] of Object.entries(files)) {
    const blob = join(repo, 'blobs', createHash('sha256').update(data).digest('hex'));
    mkdirSync(dirname(blob), { recursive: true });
    writeFileSync(blob, data);
    const link = join(repo, 'snapshots', commit, path);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), blob), link);
  }
  mkdirSync(join(repo, 'refs'), { recursive: true });
  writeFileSync(join(repo, 'refs', 'main'), commit);
}

/** Runs Download Model… and answers its input box with `ref` (waiting for that box, not the palette before it). */
async function askDownload(page: Page, ref: string): Promise<void> {
  await runCommand(page, 'MechLens: Download Model…');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'MechLens: Download Model…' }).first().waitFor({ state: 'hidden', timeout: 15_000 });
  // The palette and the input box share one widget (and its stale title text): the placeholder tells them apart.
  const input = page.locator('.quick-input-widget input[placeholder="HuggingFaceTB/SmolLM2-135M"]');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(ref);
  await page.keyboard.press('Enter');
}

/** The Models view's row whose label is `label` (exact start), and its description once it matches `description`. */
async function modelRow(page: Page, label: string, description: RegExp, timeout = 60_000) {
  const row = page.locator('.pane-body .monaco-list-row', { has: page.locator('.label-name', { hasText: label }) }).first();
  await row.waitFor({ timeout });
  await row.locator('.label-description').filter({ hasText: description }).waitFor({ timeout });
  return row;
}

/** Waits for a notification in the notification center (headless and unfocused, toasts may never show). */
async function notification(page: Page, text: string | RegExp, timeout = 60_000): Promise<string> {
  await runCommand(page, 'Notifications: Show Notifications');
  const row = page.locator('.notifications-center .monaco-list-row', { hasText: text }).first();
  await row.waitFor({ timeout });
  return (await row.textContent()) ?? '';
}

async function main(): Promise<number> {
  check(cacheDir !== '' && hubPort !== '0', 'usage: uiHub.ts <port> <ext> <workspace> <out> <hfHubCache> <hubPort>');
  mkdirSync(outDir, { recursive: true });
  addSnapshot(CACHED, 'a'.repeat(40), fixtureFiles('llama'));
  addSnapshot(GEMMA3, 'b'.repeat(40), fixtureFiles('gemma3'));
  // GemmaScope-style npz files for the llama fixture (d_model 32, 2 layers), served by the Hub; the cached set
  // lists them as hf:// URIs, as circuit-tracer's configs do.
  const tcDir = join(dirname(cacheDir), 'tc-source');
  writeGemmaScopeNpz(tcDir, { dModel: 32, nLayers: 2 } as ModelConfig, 3);
  const tcFiles = ['layer_0/width_128/params.npz', 'layer_1/width_128/params.npz'];
  const tcYaml = `model_name: ${CACHED}\nmodel_kind: transcoder_set\nfeature_input_hook: ln2.hook_normalized\nfeature_output_hook: hook_mlp_out\ntranscoders:\n${tcFiles.map((f) => `  - hf://${SCOPE}/${f}\n`).join('')}`;
  addSnapshot(TC_SET, 'c'.repeat(40), { 'config.yaml': Buffer.from(tcYaml) });
  const ggufDir = join(folder, 'gguf-model');
  mkdirSync(ggufDir, { recursive: true });
  writeFileSync(join(ggufDir, 'tiny-qwen2.Q8_0.gguf'), ggufFromFixture(join(FIXTURES, 'qwen2'), 'Q8_0'));
  const hub = await startFakeHub(
    [
      { id: REMOTE, commit: COMMIT, files: { ...fixtureFiles('qwen2'), 'README.md': Buffer.from('# tiny qwen2\n') } },
      { id: DECLINED, commit: COMMIT, files: fixtureFiles('gemma2') },
      { id: SCOPE, commit: COMMIT, files: Object.fromEntries(tcFiles.map((f) => [f, readFileSync(join(tcDir, f))])) },
    ],
    Number(hubPort),
  );
  log(`fake Hub at ${hub.url}, cache ${cacheDir}`);

  const browser = await launchChromium();
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const { results, test } = suiteRunner(page, log, (n) => `${outDir}/hub-failure-${n}.png`);

  try {
    await page.goto(workbenchUrl(port, folder, devPayload(port, extPath)));
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    const activity = page.locator('.activitybar [aria-label^="MechLens"]').first();
    await activity.waitFor({ timeout: 90_000 });
    await setTheme(page, 'dark', 1000);
    await activity.click();
    // A wider sidebar than the default, so the screenshots show the rows' descriptions whole: drag the sash
    // between the sidebar and the editor (at the sidebar's right edge).
    const side = await page.locator('.part.sidebar').boundingBox();
    if (side) {
      const x = side.x + side.width + 1;
      const y = side.y + side.height / 2;
      await page.mouse.move(x, y);
      await page.mouse.down();
      await page.mouse.move(x + 200, y, { steps: 10 });
      await page.mouse.up();
      await page.mouse.move(900, 600);
    }
    await modelRow(page, 'mechlens-tiny (bundled)', /active/);
    log('workbench up, Models view shows the bundled model');

    await test('a model in the Hugging Face cache is listed and loads when clicked', async () => {
      await page.locator('.pane-body .monaco-list-row', { hasText: 'Hugging Face cache' }).first().click();
      await page.mouse.move(900, 600); // the group's tooltip would cover its first row
      const row = await modelRow(page, CACHED, /^llama · .* · @main/);
      await page.screenshot({ path: `${outDir}/hub-01-cache-dark.png` });
      await row.click();
      await modelRow(page, CACHED, /active/);
      await page.locator('.statusbar-item', { hasText: 'tiny-llama' }).first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: `${outDir}/hub-02-cache-loaded-dark.png` });
    });

    await test('Download Model… shows the plan, downloads only after consent, and lists the model', async () => {
      const snapshot = join(cacheDir, `models--${REMOTE.replace('/', '--')}`, 'snapshots', COMMIT);
      check(!existsSync(snapshot), 'nothing downloaded yet');
      await askDownload(page, REMOTE);
      const dialog = page.locator('.monaco-dialog-box');
      await dialog.waitFor({ timeout: 30_000 });
      const text = (await dialog.textContent()) ?? '';
      check(text.includes(REMOTE) && text.includes('model.safetensors') && text.includes('config.json'), `the plan names the repo and its files: "${text.slice(0, 300)}"`);
      check(hub.requests.every((r) => !r.url.includes('/resolve/') && r.server === 'hub'), 'no file fetched before consent');
      await page.screenshot({ path: `${outDir}/hub-03-download-plan-dark.png` });
      await dialog.locator('.monaco-button', { hasText: 'Download' }).first().click();
      const done = await notification(page, `downloaded ${REMOTE}`);
      check(done.includes(REMOTE), `notification "${done}"`);
      check(existsSync(join(snapshot, 'model.safetensors')) && existsSync(join(snapshot, 'config.json')), 'files in the standard cache layout');
      check(readFileSync(join(snapshot, 'model.safetensors')).equals(readFileSync(join(FIXTURES, 'qwen2', 'model.safetensors'))), 'the downloaded weights are the served bytes');
      await modelRow(page, REMOTE, /^qwen2 · .* · @main/);
      await page.screenshot({ path: `${outDir}/hub-04-downloaded-dark.png` });
    });

    await test('a GGUF file is added from its folder and loads', async () => {
      await runCommand(page, 'Notifications: Clear All Notifications');
      await page.keyboard.press('Escape');
      await runCommand(page, 'MechLens: Add Model Folder…');
      await answerDialog(page, `${ggufDir}/`);
      const row = await modelRow(page, 'tiny-qwen2.Q8_0.gguf', /qwen2 ·/);
      await row.click();
      await modelRow(page, 'tiny-qwen2.Q8_0.gguf', /active/);
      await row.hover();
      await page.locator('.monaco-hover, .custom-hover', { hasText: /Q8_0/ }).first().waitFor({ timeout: 15_000 }).catch(() => undefined);
      await page.screenshot({ path: `${outDir}/hub-05-gguf-dark.png` });
    });

    await test('light theme: a download declined fetches nothing', async () => {
      await page.mouse.move(900, 600);
      await setTheme(page, 'light', 1000);
      await page.screenshot({ path: `${outDir}/hub-06-models-light.png` });
      await askDownload(page, DECLINED);
      const dialog = page.locator('.monaco-dialog-box');
      await dialog.waitFor({ timeout: 30_000 });
      await page.screenshot({ path: `${outDir}/hub-07-download-plan-light.png` });
      await dialog.locator('.monaco-button', { hasText: 'Cancel' }).first().click();
      await dialog.waitFor({ state: 'hidden', timeout: 15_000 });
      await page.waitForTimeout(1500);
      check(!hub.requests.some((r) => r.url.includes('tiny-gemma2/resolve/') || (r.server === 'cdn' && r.url.includes('tiny-gemma2'))), 'no file of the declined repo was fetched');
      check(!existsSync(join(cacheDir, `models--${DECLINED.replace('/', '--')}`, 'snapshots')), 'no snapshot of the declined repo');

      await modelRow(page, REMOTE, /^qwen2 · /);
      await page.screenshot({ path: `${outDir}/hub-08-after-decline-light.png` });
    });

    await test('Download Transcoder Files… lists the cached set with files on the Hub; declined fetches nothing, agreed fetches them', async () => {
      await runCommand(page, 'Notifications: Clear All Notifications');
      await page.keyboard.press('Escape');
      await modelRow(page, GEMMA3, /^gemma3 · .* · @main/);
      /** Runs the command, picks the set, and returns the plan's modal. */
      const openPlan = async (shot?: string) => {
        await runCommand(page, 'MechLens: Download Transcoder Files…');
        const pick = page.locator('.quick-input-list .monaco-list-row', { hasText: TC_SET }).first();
        await pick.waitFor({ timeout: 30_000 });
        const pickText = (await pick.textContent()) ?? '';
        check(pickText.includes('2 files on the Hub'), `the pick says how many files are on the Hub: "${pickText}"`);
        if (shot) {
          await page.waitForTimeout(500); // the quick pick fades in
          await page.screenshot({ path: `${outDir}/${shot}` });
        }
        await pick.click();
        const dialog = page.locator('.monaco-dialog-box');
        await dialog.waitFor({ timeout: 30_000 });
        const text = (await dialog.textContent()) ?? '';
        check(text.includes(`${TC_SET}: 2 files from 1 Hub repo`) && text.includes('layer_1/width_128/params.npz'), `the plan names the set and its files: "${text.slice(0, 300)}"`);
        return dialog;
      };
      // Light theme (as the suite left it): the pick and the plan, declined.
      let dialog = await openPlan('hub-09-transcoders-pick-light.png');
      await page.screenshot({ path: `${outDir}/hub-10-transcoders-plan-light.png` });
      await dialog.locator('.monaco-button', { hasText: 'Cancel' }).first().click();
      await dialog.waitFor({ state: 'hidden', timeout: 15_000 });
      await page.waitForTimeout(1500);
      check(!hub.requests.some((r) => r.url.includes(`${SCOPE}/resolve/`)), 'no transcoder file fetched before consent or after a refusal');
      // Dark theme: agreed, downloaded.
      await setTheme(page, 'dark', 1000);
      dialog = await openPlan('hub-11-transcoders-pick-dark.png');
      await page.screenshot({ path: `${outDir}/hub-12-transcoders-plan-dark.png` });
      await dialog.locator('.monaco-button', { hasText: 'Download' }).first().click();
      await notification(page, "downloaded the transcoder set's 2 Hub files");
      const snap = join(cacheDir, `models--${SCOPE.replace('/', '--')}`, 'snapshots', COMMIT);
      for (const f of tcFiles) check(readFileSync(join(snap, f)).equals(readFileSync(join(tcDir, f))), `${f} in the cache, the served bytes`);
      await page.keyboard.press('Escape');
    });
  } finally {
    await browser.close();
    await hub.close();
  }
  return reportResults('ui-hub', results);
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    if (process.env.E2E_RESULT_FILE) writeFileSync(process.env.E2E_RESULT_FILE, JSON.stringify({ passed: 0, failed: 1, error: String(err) }));
    process.exit(1);
  },
);
