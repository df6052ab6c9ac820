// The packaged extension in a real VS Code: the VSIX from `npm run package` is installed into a fresh
// code-server (no development path, no test hooks), and a prompt is run through the bundled model. First it
// reports the package's size and its largest files (issue #13: what the download costs; reported, not asserted).
// Usage: node --import tsx test/e2e/vsix.ts <port> <workspaceFolder> <outDir>   (run from the repository root)
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { exitWith, findWebview, launchChromium, palette, runCommand } from './browser';

const MB = 2 ** 20;

/** The VSIX's size and its files by compressed size (read from the zip's directory; nothing is unpacked). */
function reportSize(vsix: string, outDir: string): void {
  const bytes = readFileSync(vsix);
  const files: Array<{ name: string; size: number; originalSize: number }> = [];
  unzipSync(bytes, {
    filter: (f) => {
      files.push({ name: f.name, size: f.size, originalSize: f.originalSize });
      return false;
    },
  });
  files.sort((a, b) => b.size - a.size);
  const group = (f: { name: string }) => /^extension\/(node_modules\/[^/]+|models\/[^/]+|dist\/webview|dist|[^/]+)/.exec(f.name)?.[1] ?? f.name;
  const groups = new Map<string, number>();
  for (const f of files) groups.set(group(f), (groups.get(group(f)) ?? 0) + f.size);
  console.log(`[vsix] ${vsix}: ${(bytes.length / MB).toFixed(1)} MiB, ${files.length} files`);
  console.log(`[vsix] by part: ${[...groups].sort((a, b) => b[1] - a[1]).map(([g, n]) => `${g} ${(n / MB).toFixed(2)}`).join(', ')} (MiB compressed)`);
  for (const f of files.slice(0, 10)) console.log(`[vsix]   ${(f.size / MB).toFixed(2)} MiB (${(f.originalSize / MB).toFixed(2)} unpacked)  ${f.name}`);
  writeFileSync(join(outDir, 'vsix-size.json'), JSON.stringify({ bytes: bytes.length, files: files.length, parts: Object.fromEntries(groups), largest: files.slice(0, 10) }, null, 1));
}

async function main(): Promise<number> {
  const [port = '8765', folder = process.cwd(), outDir = 'test-results/e2e'] = process.argv.slice(2);
  reportSize(join(process.cwd(), 'mechlens-linux-x64.vsix'), outDir);
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
