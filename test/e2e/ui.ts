// UI end-to-end tests: a real VS Code workbench (code-server) in headless chromium, driven with
// playwright-core. Command palette, the Models view, the Inspector view, the prompt panel, and a click
// on a token inside the webview that round-trips through the extension host to the engine worker.
// Screenshots go to test-results/e2e/.
// Usage: node --import tsx test/e2e/ui.ts <port> <extensionPath> <workspaceFolder> <outDir>
import { mkdirSync } from 'node:fs';
import { devPayload, exitWith, findWebview, launchChromium, palette, reportResults, runCommand, suiteRunner, workbenchUrl } from './browser';

const [port = '8765', extPath = process.cwd(), folder = process.cwd(), outDir = 'test-results/e2e'] = process.argv.slice(2);
const t0 = Date.now();
const log = (...a: unknown[]) => console.log(`[ui +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

async function main(): Promise<number> {
  mkdirSync(outDir, { recursive: true });
  const browser = await launchChromium();
  const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  const cspViolations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text().slice(0, 300));
    if (m.type() === 'error' && /mechlens|webview|Content Security/i.test(m.text())) console.log('  [browser console.error]', m.text().slice(0, 300));
  });
  const { results, test } = suiteRunner(page, log, (n) => `${outDir}/failure-${n}.png`);

  try {
    await page.goto(workbenchUrl(port, folder, devPayload(port, extPath)));
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    const activity = page.locator('.activitybar [aria-label^="MechLens"]').first();
    await activity.waitFor({ timeout: 90_000 });
    log('workbench up, MechLens in the activity bar');

    await test('command palette lists the MechLens commands', async () => {
      // One query per command: the palette renders only the rows in view, and MechLens has more commands than fit.
      const rows = page.locator('.quick-input-list .monaco-list-row');
      const listed = async (query: string) => {
        await palette(page, `>${query}`);
        await page.waitForTimeout(300);
        return rows.allTextContents();
      };
      for (const title of ['Run Prompt', 'Select Model', 'Add Model Folder…', 'Show Inspector', 'Restart Engine', 'Show Logs']) {
        const labels = await listed(`MechLens: ${title}`);
        check(labels.some((l) => l.includes(`MechLens: ${title}`)), `palette lacks "MechLens: ${title}" (saw ${labels.join(' | ')})`);
      }
      check(!(await listed('MechLens: Crash Engine')).some((l) => l.includes('Crash Engine')), 'the developer crash command is hidden from the palette');
      await palette(page, '>MechLens: ');
      await rows.first().waitFor({ timeout: 15_000 });
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${outDir}/01-command-palette.png` });
      await page.keyboard.press('Escape');
    });

    await test('Models view lists the bundled default model as active, with architecture and size', async () => {
      await activity.click();
      const row = page.locator('.monaco-list-row', { hasText: 'mechlens-tiny (bundled)' }).first();
      await row.waitFor({ timeout: 30_000 });
      const description = row.locator('.label-description');
      await description.filter({ hasText: /gpt2 · [\d.]+[KMB]? params/ }).waitFor({ timeout: 60_000 });
      const text = (await description.textContent()) ?? '';
      check(/^gpt2 · [\d.]+[KMB]? params · active$/.test(text), `description "${text}"`);
      await page.screenshot({ path: `${outDir}/02-models-view.png` });
    });

    await test('Add Model Folder refuses a folder without config.json, saying so', async () => {
      await runCommand(page, 'MechLens: Add Model Folder…');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 15_000 });
      // code-server's simple file dialog: type the folder's path, then accept. Under load the dialog may still
      // be navigating when Enter arrives, so accept again until it closes.
      // The dialog fills in its starting folder (the workspace) after it shows: a path typed before that is
      // overwritten and Enter accepts the workspace (seen once in CI). Type once it has, and again if it changed.
      const target = `${folder}/not-a-model/`;
      await page.waitForFunction(() => ((document.querySelector('.quick-input-widget input') as HTMLInputElement | null)?.value ?? '').length > 0, undefined, { timeout: 10_000 }).catch(() => undefined);
      await input.fill(target);
      await page.waitForTimeout(1000);
      if ((await input.inputValue()) !== target) {
        await input.fill(target);
        await page.waitForTimeout(1000);
      }
      for (let i = 0; i < 5 && (await input.isVisible()); i++) {
        await page.keyboard.press('Enter');
        await page.waitForTimeout(1000);
      }
      check(!(await input.isVisible()), 'the folder dialog closed');
      // The error may show as a toast or (headless, unfocused) only in the notification center: look there.
      await page.waitForTimeout(1500);
      await runCommand(page, 'Notifications: Show Notifications');
      const note = page.locator('.notifications-center .monaco-list-row, .notifications-toasts .notification-toast', { hasText: 'is not a usable model' }).first();
      await note.waitFor({ timeout: 30_000 });
      const text = (await note.textContent()) ?? '';
      check(text.includes('not-a-model') && text.includes('config.json'), `notification "${text}"`);
      await page.screenshot({ path: `${outDir}/02b-bad-folder.png` });
      const rows = await page.locator('.pane-body .monaco-list-row', { hasText: 'not-a-model' }).count();
      check(rows === 0, 'the folder was not added to the Models view');
      await runCommand(page, 'Notifications: Clear All Notifications');
    });

    await test('Inspector view renders in the sidebar', async () => {
      const inspector = await findWebview(page, 'body[data-view="inspector"] #app > *');
      const text = (await inspector.locator('#app').textContent()) ?? '';
      check(/Run Prompt|Next token/.test(text), `inspector text "${text.slice(0, 120)}"`);
    });

    await test('Run Prompt opens the prompt panel with tokens and a chart', async () => {
      await palette(page, 'prompt.mlprompt');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'prompt.mlprompt' }).first().waitFor({ timeout: 15_000 });
      await page.keyboard.press('Enter');
      await page.locator('.tabs-container .tab', { hasText: 'prompt.mlprompt' }).waitFor({ timeout: 15_000 });
      await page.locator('.monaco-editor .view-lines', { hasText: 'When Mary and John' }).first().waitFor({ timeout: 15_000 });
      await runCommand(page, 'MechLens: Run Prompt');
      await page.locator('.tabs-container .tab', { hasText: 'MechLens: Prompt' }).waitFor({ timeout: 60_000 });
      const panel = await findWebview(page, 'body[data-view="prompt"] .token');
      const chips = panel.locator('.token');
      const n = await chips.count();
      check(n >= 5, `only ${n} token chips`);
      const joined = (await chips.allTextContents()).join('');
      check(joined.includes('Mary') && joined.includes('John'), `chips spell "${joined}"`);
      await panel.locator('#chart .main-svg').first().waitFor({ timeout: 30_000 });
      const bars = await panel.locator('#chart .bars .point').count();
      check(bars === 10, `chart has ${bars} bars`);
      check((await panel.locator('#app').getAttribute('data-position')) === String(n - 1), 'the last position is shown first');
      const inspector = await findWebview(page, 'body[data-view="inspector"] .top-list');
      const rows = await inspector.locator('.top-list tr[data-token-id]').count();
      check(rows === 10, `Inspector shows ${rows} rows`);
      const csp = (await panel.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')) ?? '';
      check(csp.includes("default-src 'none'") && /script-src 'nonce-[^']+'/.test(csp) && !csp.includes('unsafe-eval'), `CSP "${csp}"`);
      await page.screenshot({ path: `${outDir}/03-prompt-panel.png` });
    });

    await test('clicking a token asks the engine and updates the chart', async () => {
      const panel = await findWebview(page, 'body[data-view="prompt"] .token');
      const before = await panel.locator('.top-list tr[data-token-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-token-id')).join(','));
      const titleBefore = await panel.locator('#chart-title').textContent();
      await panel.locator('.token[data-pos="1"]').click();
      await panel.locator('#app[data-position="1"]').waitFor({ timeout: 30_000 });
      await panel.locator('#status', { hasText: 'after position 1' }).waitFor({ timeout: 30_000 });
      const after = await panel.locator('.top-list tr[data-token-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-token-id')).join(','));
      const titleAfter = await panel.locator('#chart-title').textContent();
      check(titleAfter !== titleBefore && /position 1\b/.test(titleAfter ?? ''), `chart title "${titleAfter}"`);
      check(after !== before, 'the distribution after token 1 differs from the one at the end of the prompt');
      check((await panel.locator('.token.selected').getAttribute('data-pos')) === '1', 'the clicked chip is selected');
      check((await panel.locator('#chart .bars .point').count()) === 10, 'the chart still has 10 bars');
      await page.screenshot({ path: `${outDir}/04-token-click.png` });
    });

    await test('the chart follows a switch to a dark theme', async () => {
      const panel = await findWebview(page, 'body[data-view="prompt"] .token');
      const tickFill = () => panel.locator('#chart .ytick text').first().evaluate((e) => getComputedStyle(e).fill);
      const before = await tickFill();
      await runCommand(page, 'Preferences: Toggle between Light/Dark Themes');
      await panel.locator('body.vscode-dark').waitFor({ timeout: 15_000 });
      await page.waitForTimeout(500);
      const after = await tickFill();
      check(before !== after, `axis label colour stayed ${before}`);
      await page.screenshot({ path: `${outDir}/04b-dark-theme.png` });
      await runCommand(page, 'Preferences: Toggle between Light/Dark Themes');
      await panel.locator('body.vscode-light').waitFor({ timeout: 15_000 });
    });

    await test('the prompt panel is restored after a window reload, on the clicked token', async () => {
      await runCommand(page, 'Developer: Reload Window');
      await page.waitForTimeout(1000);
      await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
      await page.locator('.tabs-container .tab', { hasText: 'MechLens: Prompt' }).waitFor({ timeout: 60_000 });
      const panel = await findWebview(page, 'body[data-view="prompt"] .token', 90_000);
      await panel.locator('#app[data-position="1"]').waitFor({ timeout: 60_000 });
      check((await panel.locator('#chart .bars .point').count()) === 10, 'the chart is back');
      await page.screenshot({ path: `${outDir}/05-restored-after-reload.png` });
    });

    await test('a prompt containing markup is shown as text, not HTML', async () => {
      await palette(page, 'prompt.mlprompt');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'prompt.mlprompt' }).first().waitFor({ timeout: 15_000 });
      await page.keyboard.press('Enter');
      await page.locator('.monaco-editor .view-lines', { hasText: 'When Mary and John' }).first().click();
      await page.keyboard.press('Control+End');
      await page.keyboard.type(' <b>bold</b><img src=x>');
      await runCommand(page, 'MechLens: Run Prompt');
      const panel = await findWebview(page, 'body[data-view="prompt"] .token');
      await panel.locator('.token', { hasText: '<' }).first().waitFor({ timeout: 30_000 });
      check((await panel.locator('#tokens b, #tokens img').count()) === 0, 'no elements were created from token text');
      await page.keyboard.press('Control+z');
    });
    await test('the walkthrough opens', async () => {
      await runCommand(page, 'Welcome: Open Walkthrough...');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Get started with MechLens' }).first().waitFor({ timeout: 15_000 });
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Get started with MechLens' }).first().click();
      await page.locator('.getting-started-step', { hasText: 'Your first result' }).first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: `${outDir}/06-walkthrough.png` });
    });
    await test('no Content-Security-Policy violations were reported', async () => {
      check(cspViolations.length === 0, cspViolations.join(' | '));
    });
  } catch (err) {
    results.push({ name: 'workbench startup', ok: false, error: err instanceof Error ? err.message : String(err) });
    await page.screenshot({ path: `${outDir}/failure-startup.png` }).catch(() => undefined);
  } finally {
    await browser.close();
  }
  return reportResults('ui', results);
}

exitWith(main());
