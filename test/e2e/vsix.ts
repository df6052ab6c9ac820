// The packaged extension in a real VS Code: the VSIX from `npm run package` is installed into a fresh
// code-server (no development path, no test hooks), and a prompt is run through the bundled model.
// Usage: node --import tsx test/e2e/vsix.ts <port> <workspaceFolder> <outDir>
import { writeFileSync } from 'node:fs';
import { exitWith, findWebview, launchChromium, palette, runCommand } from './browser';

async function main(): Promise<number> {
  const [port = '8765', folder = process.cwd(), outDir = 'test-results/e2e'] = process.argv.slice(2);
  const browser = await launchChromium();
  const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  let ok = false;
  try {
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}`);
    await page.locator('.activitybar [aria-label^="MechLens"]').first().waitFor({ timeout: 90_000 });
    await palette(page, 'prompt.mlprompt');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'prompt.mlprompt' }).first().waitFor({ timeout: 15_000 });
    await page.keyboard.press('Enter');
    await page.locator('.monaco-editor .view-lines', { hasText: 'When Mary and John' }).first().waitFor({ timeout: 15_000 });
    await runCommand(page, 'MechLens: Run Prompt');
    const panel = await findWebview(page, 'body[data-view="prompt"] .token', 90_000);
    await panel.locator('#chart .main-svg').first().waitFor({ timeout: 30_000 });
    const bars = await panel.locator('#chart .bars .point').count();
    const chips = await panel.locator('.token').count();
    await page.screenshot({ path: `${outDir}/07-installed-vsix.png` });
    ok = bars === 10 && chips >= 5;
    console.log(`[vsix] installed VSIX ran a prompt: ${chips} tokens, ${bars} bars -> ${ok ? 'PASS' : 'FAIL'}`);
  } catch (err) {
    console.log(`[vsix] FAIL: ${err instanceof Error ? err.message : String(err)}`);
    await page.screenshot({ path: `${outDir}/failure-vsix.png` }).catch(() => undefined);
  } finally {
    await browser.close();
  }
  if (process.env.E2E_RESULT_FILE) writeFileSync(process.env.E2E_RESULT_FILE, JSON.stringify({ passed: ok ? 1 : 0, failed: ok ? 0 : 1 }));
  return ok ? 0 : 1;
}

exitWith(main());
