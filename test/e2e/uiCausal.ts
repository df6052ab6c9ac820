// UI end-to-end test of causal abstraction (issue #16) in a real VS Code workbench (code-server) in headless
// chromium: MechLens: Causal Abstraction opens with a hypothesis for the bundled model's IOI behaviour;
// interchange interventions give the IIA and a layer x position heatmap; DAS trains with its controls (the
// verdict and the table with the rank beside the IIA, loss curves); a probe runs with its causal check; the
// DAS result is saved as an experiment file and a subspace, the panel is closed, and the experiment file
// re-opens into it; bad input (an unknown site, a rank larger than the site) gets a message; a long DAS run
// is cancelled; the trained subspace goes into the views as a patching site (the prediction on the prompt
// moves), a steering direction and, through the views' Subspace… button, the saved file projected out.
// Screenshots in dark and light themes: <outDir>/causal-*.png.
// Usage: node --import tsx test/e2e/uiCausal.ts <port> <extensionPath> <workspaceFolder> <outDir>
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { answerDialog, devPayload, exitWith, findWebview, launchChromium, openFile, reportResults, runCommand, setTheme, suitePage, suiteRunner, workbenchUrl } from './browser';

const [port = '8765', extPath = process.cwd(), folder = process.cwd(), outDir = 'test-results/e2e'] = process.argv.slice(2);
const t0 = Date.now();
const log = (...a: unknown[]) => console.log(`[ui-causal +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const OPEN = 'MechLens: Causal Abstraction (Interchange Interventions, DAS, Probes)';

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

/** Sets a vscode-textfield's value as a user would (click, select all, type), again if a key was lost to the focus change. */
async function typeInto(page: Page, view: FrameLocator, selector: string, text: string): Promise<void> {
  const field = view.locator(selector);
  for (let attempt = 0; attempt < 3; attempt++) {
    await field.click();
    await page.waitForTimeout(200);
    await page.keyboard.press('Control+a');
    await page.keyboard.type(text, { delay: 20 });
    if ((await field.evaluate((e) => (e as HTMLInputElement).value)) === text) return;
  }
  throw new Error(`${selector} does not take "${text}"`);
}

async function main(): Promise<number> {
  mkdirSync(outDir, { recursive: true });
  const browser = await launchChromium();
  const { page, alerts } = await suitePage(browser, 1000, /mechlens|webview|Content Security|plotly/i);
  const { results, test } = suiteRunner(page, log, (n) => `${outDir}/causal-failure-${n}.png`);
  let view!: FrameLocator;
  const status = () => view.locator('#status');

  try {
    await page.goto(workbenchUrl(port, folder, devPayload(port, extPath)));
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    await page.locator('.activitybar [aria-label^="MechLens"]').first().waitFor({ timeout: 90_000 });
    log('workbench up');
    await setTheme(page, 'dark');

    await test('the panel opens with a hypothesis for the bundled model; interchange interventions give IIA and a layer x position heatmap', async () => {
      await runCommand(page, OPEN);
      view = await findWebview(page, 'body[data-view="causal"] #hypothesis', 120_000);
      await view.locator('#model', { hasText: 'layers' }).waitFor({ timeout: 120_000 });
      const text = await view.locator('#hypothesis').inputValue();
      const h = JSON.parse(text) as { name: string; seed: number; templates: string[]; slots: Record<string, string[]>; variables: Array<{ name: string }> };
      check(h.variables[0]!.name === 'IO' && h.templates[0]!.includes('{IO}'), `example hypothesis ${text.slice(0, 200)}`);
      // The test's own hypothesis: the example's template and single-token names (they fit any shipped tokenizer), its own name and seed.
      const mine = { ...h, name: 'IOI (e2e)', seed: 7 };
      await view.locator('#hypothesis').fill(JSON.stringify(mine, null, 2));
      await view.locator('#run-iia').click();
      const sum = view.locator('#iia-section .sum', { hasText: 'IIA interchanging IO' });
      await sum.waitFor({ timeout: 120_000 });
      const line = (await sum.textContent()) ?? '';
      const iia = Number(/: ([\d.]+)% \(chance/.exec(line)?.[1]);
      check(iia >= 90, `IIA line "${line}"`);
      check((await view.locator('#iia-section td.ok').count()) >= 6, 'the examples show the model giving the counterfactual');
      await view.locator('#run-sweep').click();
      await view.locator('#sweep-plot .main-svg').first().waitFor({ timeout: 180_000 });
      const rows = (await view.locator('#sweep-plot .ytick text').allTextContents()).join(',');
      check(rows.includes('L0'), `heatmap rows "${rows}"`);
      const cols = await view.locator('#sweep-plot .xtick text').allTextContents();
      check(cols.join('|').includes('to'), `heatmap columns "${cols.join('|').slice(0, 200)}"`);
      await view.locator('#sweep-plot').scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${outDir}/causal-01-iia-dark.png` });
      // A click on the last layer's last-position cell puts the variable's site there (an absolute position now).
      const box = await view.locator('#sweep-plot .nsewdrag').first().boundingBox();
      check(box, 'the heatmap has a plot area');
      const L = (await view.locator('#sweep-plot .ytick text').allTextContents()).length;
      const T = cols.length;
      await view.locator('#sweep-plot .nsewdrag').first().click({ position: { x: ((T - 0.5) * box.width) / T, y: ((L - 0.5) * box.height) / L } });
      await view.locator('#status', { hasText: 'site is now' }).waitFor({ timeout: 15_000 });
      const moved = JSON.parse(await view.locator('#hypothesis').inputValue()) as { variables: Array<{ site: { hook: string; positions: number[] } }> };
      check(moved.variables[0]!.site.positions[0] === T - 1 && moved.variables[0]!.site.hook === `blocks.${L - 1}.hook_resid_post`, `site after the click ${JSON.stringify(moved.variables[0]!.site)}`);
    });

    await test('DAS trains with its controls: aligned verdict, rank beside IIA, loss curves', async () => {
      await view.locator('#run-das').click();
      const verdict = view.locator('#das-verdict');
      await verdict.waitFor({ timeout: 300_000 });
      const v = (await verdict.textContent()) ?? '';
      check(v.startsWith('Aligned'), `verdict "${v}"`);
      const summary = (await view.locator('#das-summary').textContent()) ?? '';
      check(/rank 16 of \d+, held-out IIA [\d.]+%/.test(summary), `summary "${summary}"`);
      const runs = (await view.locator('#das-section td:first-child').allTextContents()).join('|');
      check(runs.includes('trained model') && runs.includes('random labels') && runs.includes('random init'), `runs "${runs}"`);
      await view.locator('#loss-plot .main-svg').first().waitFor({ timeout: 30_000 });
      check((await view.locator('#loss-plot .scatterlayer .trace').count()) === 3, 'three loss curves');
      await view.locator('#das-section').scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${outDir}/causal-02-das-dark.png` });
    });

    await test('a probe runs with its causal check', async () => {
      await view.locator('#run-probe').click();
      await view.locator('#probe-plot .main-svg').first().waitFor({ timeout: 180_000 });
      const cells = await view.locator('#probe-section tr').count();
      check(cells >= 2, `probe table rows ${cells}`);
      await view.locator('#probe-section').scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${outDir}/causal-03-probe-dark.png` });
    });

    await test('the DAS result is saved as an experiment file and a subspace', async () => {
      await view.locator('#save-das').click();
      const file = join(folder, 'causal-das.mlexp.json');
      await answerDialog(page, file);
      for (let i = 0; i < 60 && !existsSync(file); i++) await page.waitForTimeout(500);
      check(existsSync(file), `${file} was written`);
      const e = JSON.parse(readFileSync(file, 'utf8')) as { analysis: string; results: { trained: { testIia: number } }; params: { rank: number } };
      check(e.analysis === 'das' && e.params.rank === 16 && e.results.trained.testIia >= 0.8, `experiment ${JSON.stringify({ analysis: e.analysis, rank: e.params.rank })}`);
      // The saved file opens in the experiment editor; back in the panel, its results are drawn again.
      await page.locator('.tabs-container .tab', { hasText: 'causal-das.mlexp.json' }).first().waitFor({ timeout: 30_000 });
      await page.locator('.tabs-container .tab', { hasText: 'Causal abstraction' }).first().click();
      view = await findWebview(page, 'body[data-view="causal"] #das-verdict', 60_000);
      check(((await view.locator('#das-verdict').textContent()) ?? '').startsWith('Aligned'), 'the DAS result is shown again');
      check((await view.locator('#sweep-plot .main-svg').count()) > 0 && (await view.locator('#probe-plot').count()) > 0, 'and the IIA heatmap and the probes');
      await view.locator('#save-subspace').click();
      await answerDialog(page, join(folder, 'IO-subspace.safetensors'));
      await status().filter({ hasText: '.safetensors' }).waitFor({ timeout: 30_000 });
      check(existsSync(join(folder, 'IO-subspace.safetensors')) && existsSync(join(folder, 'IO-subspace.json')), 'subspace files written');
    });

    await test('the saved subspace is a site: IIA interchanging only it', async () => {
      await view.locator('#run-subspace').click();
      await answerDialog(page, join(folder, 'IO-subspace.safetensors'));
      const sum = view.locator('#iia-section .sum', { hasText: 'subspace, rank 16' });
      await sum.waitFor({ timeout: 120_000 });
      const line = (await sum.textContent()) ?? '';
      check(Number(/: ([\d.]+)% \(chance/.exec(line)?.[1]) >= 80, `subspace IIA line "${line}"`);
    });

    await test('after closing the panel, the experiment file re-opens into it (light theme)', async () => {
      await page.locator('.tabs-container .tab', { hasText: 'Causal abstraction' }).first().click();
      await runCommand(page, 'View: Close Editor');
      await page.locator('.tabs-container .tab', { hasText: 'Causal abstraction' }).first().waitFor({ state: 'detached', timeout: 15_000 });
      // The saved file is open in the experiment editor already (Quick Open's keys may not reach the workbench
      // from its webview): activate that tab, or open the file when it is not there.
      const fileTab = page.locator('.tabs-container .tab', { hasText: 'causal-das.mlexp.json' }).first();
      if ((await fileTab.count()) > 0) await fileTab.click();
      else await openFile(page, 'causal-das.mlexp.json');
      await runCommand(page, 'MechLens: Open Causal Results (Experiment File)');
      view = await findWebview(page, 'body[data-view="causal"] #das-verdict', 120_000);
      const v = (await view.locator('#das-verdict').textContent()) ?? '';
      check(v.startsWith('Aligned'), `re-opened verdict "${v}"`);
      await status().filter({ hasText: 'Opened' }).waitFor({ timeout: 30_000 });
      await setTheme(page, 'light');
      await view.locator('#das-section').scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${outDir}/causal-04-reopened-light.png` });
    });

    await test('bad input gets a message: an unknown site, a rank larger than the site', async () => {
      const text = await view.locator('#hypothesis').inputValue();
      await view.locator('#hypothesis').fill(text.replace(/hook_resid_post/, 'hook_resid_psot'));
      await view.locator('#run-iia').click();
      await status().filter({ hasText: 'Unknown hook' }).waitFor({ timeout: 60_000 });
      check(((await status().textContent()) ?? '').includes('Did you mean'), 'the message suggests hooks');
      await page.screenshot({ path: `${outDir}/causal-05-bad-site-light.png` });
      await view.locator('#hypothesis').fill(text);
      await typeInto(page, view, '#rank', '100000');
      await view.locator('#run-das').click();
      await status().filter({ hasText: 'Rank 100000 is larger than the site' }).waitFor({ timeout: 60_000 });
    });

    await test('a long DAS run is cancelled', async () => {
      await typeInto(page, view, '#rank', '16');
      await typeInto(page, view, '#epochs', '500');
      await view.locator('#run-das').click();
      await status().filter({ hasText: 'DAS trained model: step' }).waitFor({ timeout: 120_000 });
      const at = Date.now();
      await view.locator('#cancel').click();
      await status().filter({ hasText: 'Cancelled' }).waitFor({ timeout: 30_000 });
      log(`cancelled in ${Date.now() - at} ms`);
      await typeInto(page, view, '#epochs', '8');
    });

    await test('the trained subspace in the views: a patching site, a steering direction, a saved file (dark and light)', async () => {
      // The workspace's prompt (the hypothesis' template) in the prompt panel, and its names swapped as the counterfactual.
      await openFile(page, 'prompt.mlprompt');
      await page.locator('.monaco-editor .view-lines', { hasText: 'Mary' }).first().click();
      await runCommand(page, 'MechLens: Run Prompt');
      await findWebview(page, 'body[data-view="prompt"] #tokens .token', 120_000);
      await runCommand(page, 'MechLens: Open Patching (Counterfactual Pair and Sweeps)');
      const patch = await findWebview(page, 'body[data-view="patch"] #align .token', 60_000);
      await patch.locator('#swap-names').click();
      await patch.locator('#align[data-same-length="true"]').waitFor({ timeout: 30_000 });
      // Back in the Causal panel: the last DAS result as a patching site.
      await page.locator('.tabs-container .tab', { hasText: 'Causal abstraction' }).first().click();
      view = await findWebview(page, 'body[data-view="causal"] #use-subspace-patch', 60_000);
      await view.locator('#use-subspace-patch').click();
      await status().filter({ hasText: 'Added' }).waitFor({ timeout: 30_000 });
      const added = (await status().textContent()) ?? '';
      check(/subspace r=16 “IO” · patch · blocks\.\d+\.hook_resid_post · /.test(added), `status "${added}"`);
      // Every view has the chip and re-runs under it; the Patching panel (revealed beside) compares the prompt before and after.
      let prompt = await findWebview(page, 'body[data-view="patch"] #iv-chips[data-count="1"]', 60_000);
      const label = (await prompt.locator('.iv-chip .iv-label').first().textContent()) ?? '';
      check(label.startsWith('subspace r=16 “IO” · patch'), `chip "${label}"`);
      const kl = Number(await prompt.locator('#iv-compare .kl[data-kl]').getAttribute('data-kl', { timeout: 60_000 }));
      const rows = await prompt.locator('#iv-compare tr[data-token-id]').allTextContents();
      log(`subspace patch: KL ${kl}; ${rows.slice(0, 4).join(' | ')}`);
      check(kl > 0.05, `patching the IO subspace from the swapped-names prompt moves the prediction (KL ${kl})`);
      await page.screenshot({ path: `${outDir}/causal-06-subspace-patch-light.png` });
      await setTheme(page, 'dark');
      await page.screenshot({ path: `${outDir}/causal-07-subspace-patch-dark.png` });
      // As a steering direction: a second chip.
      await page.locator('.tabs-container .tab', { hasText: 'Causal abstraction' }).first().click();
      view = await findWebview(page, 'body[data-view="causal"] #use-subspace-steer', 60_000);
      await view.locator('#use-subspace-steer').click();
      await status().filter({ hasText: '· steer dir 1 ×' }).waitFor({ timeout: 30_000 });
      prompt = await findWebview(page, 'body[data-view="patch"] #iv-chips[data-count="2"]', 60_000);
      // The saved file through the views' own button: the host's dialog, then what to do with it.
      await prompt.locator('#iv-subspace').click();
      await answerDialog(page, join(folder, 'IO-subspace.safetensors'), 'Use the subspace as');
      const pick = page.locator('.quick-input-widget input').filter({ visible: true });
      await pick.waitFor({ timeout: 15_000 });
      await pick.fill('Project out');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Project out' }).first().click();
      prompt = await findWebview(page, 'body[data-view="patch"] #iv-chips[data-count="3"]', 60_000);
      const labels = await prompt.locator('.iv-chip .iv-label').allTextContents();
      check(labels[2]!.startsWith('subspace r=16 “IO” · project out · '), `chips ${labels.join(' | ')}`);
      await page.screenshot({ path: `${outDir}/causal-08-subspace-chips-dark.png` });
      await runCommand(page, 'MechLens: Clear Interventions');
      await findWebview(page, 'body[data-view="patch"] #iv-chips[data-count="0"]', 30_000);
    });

    await test('another model: the panel drops the previous model\'s results and says so; the user\'s hypothesis stays', async () => {
      await page.locator('.activitybar [aria-label^="MechLens"]').first().click();
      const stories = page.locator('.monaco-list-row', { hasText: 'stories260K (bundled)' }).first();
      await stories.waitFor({ timeout: 30_000 });
      await stories.click();
      await stories.locator('.label-description').filter({ hasText: /· active$/ }).waitFor({ timeout: 60_000 });
      await page.locator('.tabs-container .tab', { hasText: 'Causal abstraction' }).first().click();
      view = await findWebview(page, 'body[data-view="causal"] #hypothesis', 60_000);
      await status().filter({ hasText: 'The active model is now stories260K' }).waitFor({ timeout: 60_000 });
      await view.locator('#model', { hasText: 'stories260K' }).waitFor({ timeout: 30_000 });
      for (const kind of ['iia', 'das', 'probe']) check(await view.locator(`#${kind}-section`).isHidden(), `the ${kind} results of mechlens-tiny are gone`);
      const h = JSON.parse(await view.locator('#hypothesis').inputValue()) as { name: string };
      check(h.name === 'IOI (e2e)', `the user's hypothesis is kept (${h.name})`);
      check(/check its layers/.test((await status().textContent()) ?? ''), 'the status asks to check the hypothesis against the new model');
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${outDir}/causal-09-model-switched-dark.png` });
    });

    check(alerts.length === 0, `no alert() ran (saw ${alerts.join(', ')})`);
  } catch (err) {
    results.push({ name: 'causal suite', ok: false, error: err instanceof Error ? err.message : String(err) });
    await page.screenshot({ path: `${outDir}/causal-failure-startup.png` }).catch(() => undefined);
  } finally {
    await browser.close();
  }
  return reportResults('ui-causal', results);
}

exitWith(main());
