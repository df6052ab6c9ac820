// Shared playwright-core setup: Debian's chromium, headless, nothing reaching out to the network.
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

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
