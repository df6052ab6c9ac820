// Shared playwright-core setup: Debian's chromium, headless, nothing reaching out to the network.
import { chromium } from 'playwright-core';
import type { Browser, FrameLocator, Page } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
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
  throw new Error(`no webview contains ${selector}`);
}

export async function palette(page: Page, text: string): Promise<void> {
  await page.keyboard.press('Escape');
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(text);
}

export async function runCommand(page: Page, title: string): Promise<void> {
  await palette(page, `>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 15_000 });
  await page.keyboard.press('Enter');
}
