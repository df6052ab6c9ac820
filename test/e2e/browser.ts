// Shared playwright-core setup: Debian's chromium, headless, nothing reaching out to the network; the
// workbench helpers (palette, commands, Quick Open, theme) and the suites' test runner and result file.
import { writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser, FrameLocator, Page } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/**
 * A page for a suite: `alerts` records (and dismisses) every alert() a webview runs, which the suites assert
 * never happens (untrusted text must stay text); console errors matching `echo` are printed.
 */
export async function suitePage(browser: Browser, height: number, echo: RegExp): Promise<{ page: Page; alerts: string[] }> {
  const page = await (await browser.newContext({ viewport: { width: 1440, height } })).newPage();
  const alerts: string[] = [];
  page.on('dialog', (d) => {
    alerts.push(d.message());
    void d.dismiss();
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && echo.test(m.text())) console.log('  [browser console.error]', m.text().slice(0, 300));
  });
  return { page, alerts };
}

/** The workbench URL; with the smoke-test driver on, `payload` loads MechLens from its source folder. */
export function workbenchUrl(port: string, folder: string, payload: Array<[string, string]>): string {
  return `http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

export function devPayload(port: string, extensionPath: string, testsPath?: string): Array<[string, string]> {
  const authority = `127.0.0.1:${port}`;
  const p: Array<[string, string]> = [['extensionDevelopmentPath', `vscode-remote://${authority}${extensionPath}`]];
  if (testsPath) p.push(['extensionTestsPath', `vscode-remote://${authority}${testsPath}`]);
  return p;
}

/** Webviews are two nested iframes; returns the one whose page contains `selector`. */
export async function findWebview(page: Page, selector: string, timeoutMs = 60_000): Promise<FrameLocator> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const n = await page.locator('iframe.webview.ready').count();
    for (let k = 0; k < n; k++) {
      const f = page.frameLocator('iframe.webview.ready').nth(k).frameLocator('#active-frame');
      if ((await f.locator(selector).count().catch(() => 0)) > 0) return f;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no webview contains ${selector}; ${await webviewDiagnosis(page)}`);
}

/**
 * What the workbench shows when a wait for a webview fails: each webview's view and status line, the
 * visible tabs and any notification, so a failure in CI says why (an engine error, a view still busy, a
 * panel never shown) without its screenshots.
 */
async function webviewDiagnosis(page: Page): Promise<string> {
  const clip = (s: string | null | undefined) => (s ?? '').replace(/\s+/g, ' ').trim().slice(0, 200);
  const views: string[] = [];
  const n = await page.locator('iframe.webview.ready').count().catch(() => 0);
  for (let k = 0; k < n; k++) {
    const f = page.frameLocator('iframe.webview.ready').nth(k).frameLocator('#active-frame');
    const view = await f.locator('body').getAttribute('data-view', { timeout: 1000 }).catch(() => null);
    const ready = await f.locator('#app').getAttribute('data-ready', { timeout: 1000 }).catch(() => null);
    const status = await f.locator('#status').first().textContent({ timeout: 1000 }).catch(() => null);
    views.push(`${view ?? '?'}${ready ? ` ready=${ready}` : ''} status "${clip(status)}"`);
  }
  const tabs = await page.locator('.tabs-container .tab').allTextContents().catch(() => []);
  const active = await page.locator('.tabs-container .tab.active').allTextContents().catch(() => []);
  const toasts = await page.locator('.notifications-toasts .notification-list-item-message').allTextContents().catch(() => []);
  return `webviews: [${views.join(' | ')}]; tabs: [${tabs.map(clip).join(', ')}]; active: [${active.map(clip).join(', ')}]; notifications: [${toasts.map(clip).join(' | ')}]`;
}

export async function palette(page: Page, text: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.keyboard.press('Escape');
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input').filter({ visible: true });
      await input.waitFor({ state: 'visible', timeout: 15_000 });
      await input.fill(text, { timeout: 5_000 });
      return;
    } catch (err) {
      if (attempt >= 3) throw err;
      // A webview holding the focus swallows F1 (or the box closes as it opens): give the focus back to
      // the workbench through the active editor tab and open the palette again.
      await page.locator('.tabs-container .tab.active').first().click({ timeout: 5_000 }).catch(() => undefined);
      await page.waitForTimeout(500);
    }
  }
}

/**
 * Runs the palette command labelled exactly `title`, by a click on its row. Enter would run the first row,
 * and the palette lists fuzzy matches alphabetically: ">File: Save" lists "File: Compare Active File with
 * Saved" first.
 */
export async function runCommand(page: Page, title: string): Promise<void> {
  await palette(page, `>${title}`);
  const exact = new RegExp(`^${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  const row = page.locator('.quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: exact }) }).first();
  await row.waitFor({ timeout: 15_000 });
  await row.click();
}

/** Opens a workspace file through Quick Open (with its default editor); waits for its tab to be active. */
export async function openFile(page: Page, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+p');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(name);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first();
    await row.waitFor({ timeout: 15_000 });
    await row.click();
    try {
      await page.locator('.tabs-container .tab.active', { hasText: name }).first().waitFor({ timeout: 15_000 });
      return;
    } catch (err) {
      // Quick Open re-renders its list as results arrive: a click landing during that can miss the row
      // (seen once in CI). One more try; a second miss is a failure, with what the workbench showed.
      if (attempt >= 2) throw new Error(`${name} did not open from Quick Open: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}; ${await webviewDiagnosis(page)}`);
    }
  }
}

/** Sets a @vscode-elements select (or text field) in a webview and fires its change event. */
export async function setValue(view: FrameLocator, selector: string, value: string): Promise<void> {
  await view.locator(selector).evaluate((e, v) => {
    (e as HTMLElement & { value: string }).value = v;
    e.dispatchEvent(new Event('change', { bubbles: true }));
  }, value);
}

/** Switches the workbench to a light or dark theme (toggling only when needed), then lets webviews repaint. */
export async function setTheme(page: Page, kind: 'light' | 'dark', settleMs = 1200): Promise<void> {
  const selector = kind === 'dark' ? '.monaco-workbench.vs-dark' : '.monaco-workbench.vs';
  if ((await page.locator(selector).count()) === 0) {
    await runCommand(page, 'Preferences: Toggle between Light/Dark Themes');
    await page.locator(selector).waitFor({ timeout: 15_000 });
  }
  await page.waitForTimeout(settleMs);
}

export interface TestResult {
  name: string;
  ok: boolean;
  error?: string;
}

/**
 * A suite's tests, run one after another: `test(name, fn)` records a pass or a failure (with a screenshot at
 * `failureShot(n)`, n counting the results so far) and never throws, so the suite goes on.
 */
export function suiteRunner(page: Page, log: (...a: unknown[]) => void, failureShot: (n: number) => string) {
  const results: TestResult[] = [];
  const test = async (name: string, fn: () => Promise<void>): Promise<void> => {
    const started = Date.now();
    try {
      await fn();
      results.push({ name, ok: true });
      log(`PASS ${name} (${Date.now() - started} ms)`);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      results.push({ name, ok: false, error });
      log(`FAIL ${name}: ${error}`);
      await page.screenshot({ path: failureShot(results.length) }).catch(() => undefined);
    }
  };
  return { results, test };
}

/** Prints the failures and the count, writes them to E2E_RESULT_FILE (read by run.sh); the exit code. */
export function reportResults(tag: string, results: TestResult[]): number {
  const failed = results.filter((r) => !r.ok);
  for (const f of failed) console.log(`  ✗ ${f.name}: ${f.error}`);
  console.log(`[${tag}] ${results.length - failed.length} passed, ${failed.length} failed`);
  if (process.env.E2E_RESULT_FILE) writeFileSync(process.env.E2E_RESULT_FILE, JSON.stringify({ passed: results.length - failed.length, failed: failed.length, results }));
  return failed.length === 0 ? 0 : 1;
}

/** A suite script's end: exits with the code its main returned, or 2 (and the error) when main itself threw. */
export function exitWith(main: Promise<number>): void {
  main.then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(2);
    },
  );
}

/** Moves the mouse onto character `at` of the first occurrence of `needle` in the editor's text. */
export async function hoverText(page: Page, needle: string, at = 1): Promise<void> {
  const box = await page.evaluate(
    ({ needle, at }) => {
      for (const line of Array.from(document.querySelectorAll('.monaco-editor .view-lines .view-line'))) {
        const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const text = (n.textContent ?? '').replace(/\u00a0/g, ' ');
          const i = text.indexOf(needle);
          if (i < 0) continue;
          const r = document.createRange();
          r.setStart(n, i + at);
          r.setEnd(n, i + at + 1);
          const b = r.getBoundingClientRect();
          return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
        }
      }
      return null;
    },
    { needle, at },
  );
  if (!box) throw new Error(`"${needle}" is not on screen`);
  await page.mouse.move(box.x, box.y);
}

/**
 * Answers code-server's simple file dialog (save or open) with `path`. The dialog fills in its folder once it
 * has listed it, which can overwrite a path typed too early: (re)type the path until the box holds it, then
 * accept, until the dialog closes.
 */
export async function answerDialog(page: Page, path: string, then?: string): Promise<void> {
  const input = page.locator('.quick-input-widget input').filter({ visible: true });
  // When the host asks something next (`then`: that quick input's title), the widget stays open with it.
  const next = page.locator('.quick-input-widget .quick-input-title', { hasText: then ?? '\u0000' }).filter({ visible: true });
  const done = async () => !(await input.isVisible()) || (then !== undefined && (await next.isVisible()));
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  for (let i = 0; i < 8 && !(await done()); i++) {
    await page.waitForTimeout(800);
    if (await done()) break;
    if ((await input.inputValue()) !== path) await input.fill(path);
    await page.waitForTimeout(400);
    await page.keyboard.press('Enter');
  }
  if (!(await done())) throw new Error(then ? `the file dialog did not give way to "${then}"` : 'the file dialog did not close');
}
