// UI end-to-end tests of click-to-patch (issue 11) in a real VS Code workbench (code-server) in headless
// chromium: a right-click on a prompt token opens the intervention menu; an ablation applied there shows as
// a chip in every open view (prompt panel, logit lens, attention, DLA, Patching) with the before/after
// comparison (Δ logit, Δ p, KL) and the views re-run under it; chips are removed, undone and cleared; the
// Patching panel makes a counterfactual with a helper (alignment checked), runs a sweep and a click on a
// heatmap cell applies that patch everywhere; the editor's "Ablate or Patch Selected Tokens…" adds one from
// a selection; a transcoder feature active at the clicked token is zeroed from the same menu (every view
// re-runs, the lens saves it in an experiment that replays), and a typed feature is scaled and undone; the
// editor's quick picks zero a feature active at the selected token and scale a typed one (chips in the views,
// their comparisons move); on a model without transcoders the feature site is disabled with the reason (in the
// editor: listed as unavailable, refused when picked), and the host refuses it anyway. No token text or head is hard-coded: positions come from the views themselves, so the suite
// runs on whichever bundled model ships. Screenshots dark and light go to <outDir>/patch-*.png.
// Usage: node --import tsx test/e2e/uiPatch.ts <port> <extensionPath> <workspaceFolder> <outDir>
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameLocator, Locator, Page } from 'playwright-core';
import { answerDialog, devPayload, exitWith, findWebview, hoverText, launchChromium, openFile, reportResults, runCommand, setTheme, setValue, suitePage, suiteRunner, workbenchUrl } from './browser';

const [port = '8765', extPath = process.cwd(), folder = process.cwd(), outDir = 'test-results/e2e'] = process.argv.slice(2);
const t0 = Date.now();
const log = (...a: unknown[]) => console.log(`[ui-patch +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

const PROMPT = 'When Mary and John went to the store, John gave a drink to';

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

async function chipCount(view: FrameLocator): Promise<number> {
  return Number((await view.locator('#iv-chips').getAttribute('data-count')) ?? '-1');
}

async function waitChips(view: FrameLocator, n: number, where: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if ((await chipCount(view).catch(() => -1)) === n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${where}: expected ${n} chips, saw ${await chipCount(view).catch(() => -1)}`);
}

/** The KL shown under the chips once the comparison has arrived. */
async function shownKl(view: FrameLocator): Promise<number> {
  const kl = view.locator('#iv-compare .kl[data-kl]');
  await kl.waitFor({ timeout: 30_000 });
  return Number(await kl.getAttribute('data-kl'));
}

/** Right-clicks token `pos` in `view`, picks kind/site/layers in the menu and applies. */
async function intervene(view: FrameLocator, pos: number, choice: { kind: string; site: string; from: string; to?: string; all?: boolean }): Promise<number> {
  await view.locator(`#tokens .token[data-pos="${pos}"], #align .token[data-pos="${pos}"]`).first().click({ button: 'right' });
  await view.locator('#iv-menu').waitFor({ timeout: 10_000 });
  await view.locator('#iv-menu vscode-single-select#iv-kind').waitFor();
  await new Promise((r) => setTimeout(r, 150));
  await setValue(view, '#iv-kind', choice.kind);
  await setValue(view, '#iv-site', choice.site);
  await setValue(view, '#iv-from', choice.from);
  if (choice.to) await setValue(view, '#iv-to', choice.to);
  if (choice.all) await view.locator('#iv-all').evaluate((e) => ((e as HTMLElement & { checked: boolean }).checked = true));
  const clicked = Date.now();
  await view.locator('#iv-apply').click();
  check((await view.locator('#iv-menu').count()) === 0, 'the menu closes on Apply');
  return clicked;
}

/** Waits until the comparison under the chips was recomputed after `since` (its data-ready counter moved past `before`). */
async function comparisonAfter(view: FrameLocator, before: number): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if (Number((await view.locator('#iv-compare').getAttribute('data-ready')) ?? 0) > before) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('the comparison was not recomputed');
}

/** Waits until the KL under the chips differs from `from`: the view re-ran under a new intervention. */
async function klMoved(view: FrameLocator, from: number, where: string): Promise<void> {
  const until = Date.now() + 60_000;
  let kl = from;
  while (Date.now() < until) {
    kl = Number((await view.locator('#iv-compare .kl[data-kl]').getAttribute('data-kl', { timeout: 1000 }).catch(() => null)) ?? from);
    if (Math.abs(kl - from) > 1e-6) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${where}: the KL stayed ${from} (saw ${kl})`);
}

/** Answers VS Code's simple file dialog (code-server's open and save dialogs are a quick input) with a path. */
async function answerFileDialog(page: Page, file: string): Promise<void> {
  const input = page.locator('.quick-input-widget input').filter({ visible: true });
  await input.waitFor({ timeout: 15_000 });
  await page.waitForTimeout(500);
  await input.fill(file);
  await page.keyboard.press('Enter');
}

/** Picks the row labelled `label` in the open quick pick. */
async function quickPick(page: Page, label: string): Promise<void> {
  const input = page.locator('.quick-input-widget input').filter({ visible: true });
  await input.waitFor({ timeout: 15_000 });
  await input.fill(label);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first().click();
}

/** Selects the prompt's last word in its editor (`tab`) and runs "Ablate or Patch Selected Tokens…" on it. */
async function interveneOnLastWord(page: Page, tab: Locator): Promise<void> {
  await tab.click();
  await page.locator('.monaco-editor .view-lines', { hasText: 'Mary' }).first().click();
  await page.keyboard.press('Control+End');
  await page.keyboard.press('Shift+Control+ArrowLeft');
  // The palette opened straight from the editor (runCommand's Escape would clear the selection).
  await page.locator('.monaco-editor .selected-text').first().waitFor({ timeout: 10_000 });
  await page.keyboard.press('F1');
  const box = page.locator('.quick-input-widget input').filter({ visible: true });
  await box.waitFor({ timeout: 15_000 });
  await box.fill('>MechLens: Ablate or Patch Selected Tokens');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Ablate or Patch Selected Tokens…' }).first().click();
}

/** Opens a file written during the test: Quick Open lists it once the workspace watcher has seen it. */
async function openNewFile(page: Page, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await openFile(page, name);
      return;
    } catch (err) {
      if (attempt >= 4) throw err;
      await page.keyboard.press('Escape');
      await page.waitForTimeout(3000);
    }
  }
}

async function main(): Promise<number> {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(folder, 'ioi.prompt'), PROMPT);
  const browser = await launchChromium();
  const { page, alerts } = await suitePage(browser, 1000, /mechlens|webview|Content Security|plotly/i);
  const { results, test } = suiteRunner(page, log, (n) => `${outDir}/patch-failure-${n}.png`);
  let last = 0;

  const promptView = () => findWebview(page, 'body[data-view="prompt"] #tokens .token');
  const tab = (title: string) => page.locator('.tabs-container .tab', { hasText: title }).first();

  try {
    await page.goto(workbenchUrl(port, folder, devPayload(port, extPath)));
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    await page.locator('.activitybar [aria-label^="MechLens"]').first().waitFor({ timeout: 90_000 });
    log('workbench up');
    await setTheme(page, 'dark');

    await test('a right-click on a prompt token ablates it: chip, before/after comparison with a KL, changed top-k', async () => {
      await openFile(page, 'ioi.prompt');
      await page.locator('.monaco-editor .view-lines', { hasText: 'Mary' }).first().click();
      await runCommand(page, 'MechLens: Run Prompt');
      const view = await promptView();
      last = (await view.locator('#tokens .token').count()) - 1;
      check(last > 4, `the prompt has ${last + 1} tokens`);
      await view.locator('#iv-chips[data-count="0"]').waitFor({ timeout: 30_000 });
      await intervene(view, last, { kind: 'zero', site: 'attn_out', from: 'all' });
      await waitChips(view, 1, 'prompt panel');
      const kl = await shownKl(view);
      check(kl > 1e-3, `zero-ablating every attention output at the last token changes the prediction (KL ${kl})`);
      const label = (await view.locator('.iv-chip .iv-label').first().textContent()) ?? '';
      check(/^zero · attn out · L0–\d+ · “.*”@\d+$/.test(label), `chip label "${label}"`);
      const rows = await view.locator('#iv-compare tr[data-token-id]').count();
      check(rows >= 5, `${rows} compared tokens`);
      const deltas = await view.locator('#iv-compare td.up, #iv-compare td.down').count();
      check(deltas > 0, 'some top tokens moved');
      await page.screenshot({ path: `${outDir}/patch-01-prompt-ablated-dark.png` });
    });

    await test('every view shows the chip and re-runs under it; a chip added in the lens appears in the prompt panel', async () => {
      await tab('ioi.prompt').click();
      await runCommand(page, 'MechLens: Show Logit Lens');
      const lens = await findWebview(page, 'body[data-view="lens"] #heatmap .main-svg', 90_000);
      await lens.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
      await waitChips(lens, 1, 'logit lens');
      check((await shownKl(lens)) > 1e-3, 'the lens shows the comparison');
      const ready = Number(await lens.locator('#app').getAttribute('data-ready'));
      await intervene(lens, 1, { kind: 'mean', site: 'mlp_out', from: '0' });
      await waitChips(lens, 2, 'logit lens');
      const until = Date.now() + 30_000;
      while (Number(await lens.locator('#app').getAttribute('data-ready')) <= ready && Date.now() < until) await page.waitForTimeout(100);
      check(Number(await lens.locator('#app').getAttribute('data-ready')) > ready, 'the lens re-ran under the new intervention');
      await shownKl(lens);
      await page.screenshot({ path: `${outDir}/patch-02-lens-dark.png` });
      for (const [command, kind, selector] of [
        ['MechLens: Show Attention', 'attention', '#grid .main-svg'],
        ['MechLens: Show Direct Logit Attribution', 'dla', '#heads .main-svg'],
      ] as const) {
        await tab('ioi.prompt').click();
        await runCommand(page, command);
        const v = await findWebview(page, `body[data-view="${kind}"] ${selector}`, 90_000);
        await v.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
        await waitChips(v, 2, kind);
        check((await shownKl(v)) > 1e-3, `${kind} shows the comparison`);
      }
      await page.screenshot({ path: `${outDir}/patch-03-dla-dark.png` });
      // A hidden panel reloads when revealed and shows the shared state.
      await tab('MechLens: Prompt').click();
      await waitChips(await promptView(), 2, 'prompt panel');
    });

    await test('click-to-patch round trip in the prompt panel (Apply → chip and comparison), p50 / p95 logged', async () => {
      const view = await promptView();
      // In the page: Apply click to the comparison drawn (performance.now()); outside: as playwright sees it (polling included).
      const times: number[] = [];
      const outside: number[] = [];
      for (let k = 0; k < 8; k++) {
        const before = Number((await view.locator('#iv-compare').getAttribute('data-ready')) ?? 0);
        const n = await chipCount(view);
        const clicked = await intervene(view, last - (k % 3), { kind: k % 2 ? 'zero' : 'mean', site: 'resid_post', from: String(k % 4), to: String(k % 4) });
        await waitChips(view, n + 1, 'round trip');
        await comparisonAfter(view, before);
        outside.push(Date.now() - clicked);
        times.push(Number(await view.locator('#iv-compare').getAttribute('data-round-trip-ms')));
        await view.locator('.iv-chip button[data-remove]').last().click();
        await waitChips(view, n, 'round trip removal');
      }
      const sorted = [...times].sort((a, b) => a - b);
      const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
      log(`click-to-patch round trip (Apply → chips in every view + comparison drawn, in the page): p50 ${p(0.5)} ms, p95 ${p(0.95)} ms over ${times.length}: ${times.join(', ')}; seen from playwright: ${outside.join(', ')} ms`);
      check(times.every((t) => Number.isFinite(t) && t > 0), `round trips measured (${times.join(', ')})`);
      writeFileSync(join(outDir, 'patch-perf.json'), JSON.stringify({ roundTripMs: times, p50: p(0.5), p95: p(0.95), playwrightMs: outside }, null, 2));
    });

    await test('remove a chip, undo, clear: every view follows', async () => {
      const prompt = await promptView();
      await prompt.locator('.iv-chip button[data-remove]').first().click();
      await waitChips(prompt, 1, 'prompt after remove');
      await tab('DLA: ioi.prompt').click();
      const dla = await findWebview(page, 'body[data-view="dla"] #iv-chips');
      await waitChips(dla, 1, 'DLA after remove');
      await dla.locator('#iv-undo').click();
      await waitChips(dla, 2, 'DLA after undo');
      await dla.locator('#iv-clear').click();
      await waitChips(dla, 0, 'DLA after clear');
      await dla.locator('#iv-compare table').waitFor({ state: 'detached', timeout: 10_000 });
      await tab('MechLens: Prompt').click();
      await waitChips(await promptView(), 0, 'prompt after clear');
    });

    await test('a transcoder feature active at the clicked token is zeroed from the menu: chip, comparison, every view re-runs, saved and replayed', async () => {
      await waitChips(await promptView(), 0, 'prompt panel before the feature site');
      // From the logit lens (visible while it re-runs): a right-click on the last token, the feature site.
      await tab('Logit lens: ioi.prompt').click();
      const lens = await findWebview(page, 'body[data-view="lens"] #app[data-ready]', 60_000);
      await waitChips(lens, 0, 'logit lens before the feature site');
      const lensReady = Number(await lens.locator('#app').getAttribute('data-ready'));
      await lens.locator(`#tokens .token[data-pos="${last}"]`).click({ button: 'right' });
      await lens.locator('#iv-menu').waitFor({ timeout: 10_000 });
      await page.waitForTimeout(150);
      await setValue(lens, '#iv-site', 'feature');
      // The host lists the features most active at this token (largest first), per layer.
      await lens.locator('#iv-factive[data-count]').waitFor({ timeout: 30_000 });
      const options = await lens.locator('#iv-factive vscode-option').evaluateAll((els) => els.map((e) => e.getAttribute('value') ?? '').filter((v) => v.includes(':')));
      check(options.length > 0, 'features are active at the last token');
      check((await lens.locator('#iv-feature-reason').isHidden()) && (await lens.locator('#iv-site vscode-option[value="feature"][disabled]').count()) === 0, 'the bundled model offers the site');
      const acts = (await lens.locator('#iv-factive vscode-option').allTextContents()).slice(1).map((t) => Number(t.trim().split(/\s+/).pop()));
      const top = options[acts.indexOf(Math.max(...acts))]!;
      const [layer, index] = top.split(':');
      await setValue(lens, '#iv-factive', top);
      check((await lens.locator('#iv-findex').evaluate((e) => (e as HTMLElement & { value: string }).value)) === index, 'picking an active feature fills in its index');
      await setValue(lens, '#iv-fkind', 'zero');
      await page.screenshot({ path: `${outDir}/patch-18-feature-menu-dark.png` });
      await lens.locator('#iv-apply').click();
      await waitChips(lens, 1, 'logit lens after the feature ablation');
      const label = (await lens.locator('.iv-chip .iv-label').first().textContent()) ?? '';
      check(label.startsWith(`zero · feature L${layer}#${index} · “`) && label.endsWith(`@${last}`), `chip label "${label}"`);
      const kl = await shownKl(lens);
      log(`feature L${layer}#${index} (the most active at the last token, of ${options.length} listed) zeroed: KL ${kl}`);
      check(kl > 1e-4, `switching off the most active feature at the last token changes the prediction (KL ${kl})`);
      const until = Date.now() + 30_000;
      while (Number(await lens.locator('#app').getAttribute('data-ready')) <= lensReady && Date.now() < until) await page.waitForTimeout(100);
      check(Number(await lens.locator('#app').getAttribute('data-ready')) > lensReady, 'the lens re-ran under the feature ablation');
      await page.screenshot({ path: `${outDir}/patch-19-feature-lens-dark.png` });
      // Every other view shows the chip and re-runs under it.
      for (const [title, kind] of [
        ['MechLens: Prompt', 'prompt'],
        ['Attention: ioi.prompt', 'attention'],
        ['DLA: ioi.prompt', 'dla'],
      ] as const) {
        await tab(title).click();
        const v = await findWebview(page, `body[data-view="${kind}"] #iv-chips[data-count="1"]`, 60_000);
        check((await shownKl(v)) > 1e-4, `${kind} shows the comparison`);
      }
      await page.screenshot({ path: `${outDir}/patch-19-feature-dla-dark.png` });
      // The lens saves its analysis with the feature intervention; the experiment re-runs identically.
      await tab('Logit lens: ioi.prompt').click();
      const shown = await findWebview(page, 'body[data-view="lens"] #save-experiment', 60_000);
      await shown.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
      const file = join(folder, 'lens-feature.mlexp.json');
      rmSync(file, { force: true });
      await shown.locator('#save-experiment').click();
      await answerFileDialog(page, file);
      const exp = await findWebview(page, 'body[data-view="experiment"] #rerun', 60_000);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { params: { interventions?: Array<Record<string, unknown>> } };
      const iv = saved.params.interventions?.[0];
      check(iv?.kind === 'feature' && iv.layer === Number(layer) && iv.index === Number(index) && iv.value === 0, `the experiment holds the feature intervention (${JSON.stringify(iv)})`);
      await exp.locator('#rerun').click();
      await exp.locator('#status[data-outcome="identical"]').waitFor({ timeout: 60_000 });
      await page.screenshot({ path: `${outDir}/patch-20-feature-experiment-dark.png` });
      await runCommand(page, 'View: Close Editor');
      // A typed feature, scaled, at another token; then undo.
      await tab('MechLens: Prompt').click();
      const view = await promptView();
      await view.locator(`#tokens .token[data-pos="${last - 1}"]`).click({ button: 'right' });
      await view.locator('#iv-menu').waitFor({ timeout: 10_000 });
      await page.waitForTimeout(150);
      await setValue(view, '#iv-site', 'feature');
      await setValue(view, '#iv-fkind', 'scale');
      await setValue(view, '#iv-flayer', '0');
      await setValue(view, '#iv-findex', '5');
      await setValue(view, '#iv-fvalue', '2');
      await view.locator('#iv-apply').click();
      await waitChips(view, 2, 'prompt panel after the typed feature');
      const second = (await view.locator('.iv-chip .iv-label').allTextContents())[1] ?? '';
      check(second.startsWith('scale ×2 · feature L0#5 · ') && second.endsWith(`@${last - 1}`), `chip "${second}"`);
      await view.locator('#iv-undo').click();
      await waitChips(view, 1, 'prompt panel after undo');
      await runCommand(page, 'MechLens: Clear Interventions');
      await waitChips(view, 0, 'prompt panel after clearing the feature ablation');
    });

    await test('Patching panel: a helper makes the counterfactual, the alignment is checked, a sweep runs and a cell click applies its patch', async () => {
      await tab('ioi.prompt').click();
      await runCommand(page, 'MechLens: Clear Interventions');
      await runCommand(page, 'MechLens: Open Patching (Counterfactual Pair and Sweeps)');
      const view = await findWebview(page, 'body[data-view="patch"] #align .token', 60_000);
      await view.locator('#move-name').click();
      await view.locator('#align[data-same-length="true"]').waitFor({ timeout: 30_000 });
      const mism = ((await view.locator('#align').getAttribute('data-mismatches')) ?? '').split(',').filter(Boolean);
      check(mism.length >= 1, `moving the repeated name changes its tokens (${mism.join(',')})`);
      check((await view.locator('#align .token.mismatch').count()) === 2 * mism.length, 'the differing tokens are highlighted in both prompts');
      check(((await view.locator('#target').evaluate((e) => (e as HTMLElement & { value: string }).value)) ?? '').length > 0, 'the answer is suggested');
      await setValue(view, '#sweep', 'resid_pre');
      await setValue(view, '#method', 'both');
      await view.locator('#run-sweep').click();
      await view.locator('#sweeps[data-ready] #sweep-1 .main-svg').first().waitFor({ timeout: 90_000 });
      const summary = (await view.locator('#sweep-summary').textContent()) ?? '';
      check(/logit_diff_norm: clean 1\.000, corrupted 0\.000/.test(summary), `summary "${summary}"`);
      await page.screenshot({ path: `${outDir}/patch-04-sweep-dark.png` });
      // A cell of the exact heatmap: the first layer at the differing position.
      const cell = await view.locator('#sweep-0 .nsewdrag').first().boundingBox();
      check(cell, 'the heatmap has a plot area');
      // Columns are the clean prompt's positions; row 0 (the first layer) is on top.
      const cols = last + 1;
      const pos = Number(mism[0]);
      await view.locator('#sweep-0 .nsewdrag').first().click({ position: { x: ((pos + 0.5) / cols) * cell.width, y: 4 } });
      await waitChips(view, 1, 'patching panel after a cell click');
      const label = (await view.locator('.iv-chip .iv-label').first().textContent()) ?? '';
      check(label.startsWith('patch · resid pre · L0 · ') && label.endsWith(`@${pos}`), `chip "${label}"`);
      check((await shownKl(view)) > 1e-3, 'patching the differing token at layer 0 changes the prediction');
      await page.screenshot({ path: `${outDir}/patch-05-cell-applied-dark.png` });
    });

    await test('a bad pair is refused with a clear message and nothing is lost', async () => {
      const view = await findWebview(page, 'body[data-view="patch"] #align');
      await setValue(view, '#counterfactual', `${PROMPT} and then`);
      await view.locator('#align[data-same-length="false"]').waitFor({ timeout: 30_000 });
      await view.locator('#status.error', { hasText: 'position-wise patching needs equal lengths' }).waitFor({ timeout: 10_000 });
      await view.locator('#run-sweep').click();
      await view.locator('#status.error', { hasText: /equal token lengths/ }).waitFor({ timeout: 30_000 });
      await setValue(view, '#target', 'Marylandish');
      await view.locator('#move-name').click();
      await view.locator('#align[data-same-length="true"]').waitFor({ timeout: 30_000 });
      await view.locator('#run-sweep').click();
      await view.locator('#status.error', { hasText: /the metric needs a single token/ }).waitFor({ timeout: 30_000 });
      await waitChips(view, 1, 'the chip survived the errors');
      await page.screenshot({ path: `${outDir}/patch-06-bad-pair-dark.png` });
    });

    await test('a reference set of prompts (a file) for mean ablation is picked, shown and cleared', async () => {
      const view = await findWebview(page, 'body[data-view="patch"] #reference-pick');
      const file = join(folder, 'refs.txt');
      writeFileSync(file, 'The cat sat on the mat.\n\nA dog ran to the park and back.\nWhen Bob met Ann at the library, Ann read a book.\n');
      await view.locator('#reference-pick').click();
      await answerFileDialog(page, file);
      await view.locator('#reference[data-count="3"]', { hasText: 'refs.txt (3 prompts)' }).waitFor({ timeout: 30_000 });
      await view.locator('#reference-clear').click();
      await view.locator('#reference[data-count="0"]').waitFor({ timeout: 30_000 });
    });

        await test('the editor: Ablate or Patch Selected Tokens… on a selection adds a chip for its tokens', async () => {
      await interveneOnLastWord(page, tab('ioi.prompt'));
      for (const pick of ['MLP out', 'zero', 'all layers']) {
        await quickPick(page, pick);
      }
      const view = await promptView();
      await waitChips(view, 2, 'prompt panel after the editor command');
      const labels = (await view.locator('.iv-chip .iv-label').allTextContents()).join(' | ');
      check(labels.includes(`zero · MLP out · L0–`) && labels.includes(`@${last}`), `chips "${labels}"`);
      await page.screenshot({ path: `${outDir}/patch-07-editor-dark.png` });
      // The inline inspection hover's link does the same for the hovered token.
      await page.locator('.monaco-editor .view-lines', { hasText: 'gave' }).first().click();
      await hoverText(page, 'gave', 1);
      const link = page.locator('.monaco-hover a', { hasText: 'Ablate or patch this token' }).first();
      await link.waitFor({ timeout: 30_000 });
      await link.click();
      for (const pick of ['resid post', 'resample', 'layer 1']) {
        await quickPick(page, pick);
      }
      await waitChips(view, 3, 'prompt panel after the hover link');
      const third = (await view.locator('.iv-chip .iv-label').allTextContents())[2] ?? '';
      check(/^resample · resid post · L1 · “·gave”@\d+$/.test(third), `chip "${third}"`);
      // And the CodeLens that appears over a selection.
      await tab('ioi.prompt').click();
      await page.locator('.monaco-editor .view-lines', { hasText: 'Mary' }).first().click();
      await page.keyboard.press('Control+End');
      await page.keyboard.press('Shift+Control+ArrowLeft');
      const selectionLens = page.locator('.codelens-decoration a', { hasText: 'Ablate or patch selection' }).first();
      await selectionLens.waitFor({ timeout: 30_000 });
      await page.screenshot({ path: `${outDir}/patch-07b-selection-codelens-dark.png` });
      await selectionLens.click();
      for (const pick of ['attn out', 'zero', 'layer 0']) {
        await quickPick(page, pick);
      }
      await waitChips(view, 4, 'prompt panel after the selection CodeLens');
      const fourth = (await view.locator('.iv-chip .iv-label').allTextContents())[3] ?? '';
      check(fourth.startsWith('zero · attn out · L0') && fourth.includes(`@${last}`), `chip "${fourth}"`);
    });

    await test('the editor: a transcoder feature active at the selected token is zeroed from the quick picks, a typed one scaled: chips in every view', async () => {
      // Each view's KL under the chips so far: the feature chip must change it (a hidden view is rebuilt when shown,
      // so its own counters do not say whether it re-ran).
      const view = await promptView();
      const before = await chipCount(view);
      const promptKl = await shownKl(view);
      await tab('Logit lens: ioi.prompt').click();
      const lens = await findWebview(page, 'body[data-view="lens"] #app[data-ready]', 60_000);
      await waitChips(lens, before, 'logit lens before the editor\'s feature site');
      const lensKl = await shownKl(lens);
      await interveneOnLastWord(page, tab('ioi.prompt'));
      await quickPick(page, 'transcoder feature');
      // The host lists the features most active at the selected token, largest first, then "Type layer:index…".
      const first = page.locator('.quick-input-list .monaco-list-row', { hasText: /L\d+ #\d+/ }).first();
      await first.waitFor({ timeout: 60_000 });
      const rows = await page.locator('.quick-input-list .monaco-list-row').allTextContents();
      const acts = rows.flatMap((r) => /activation ([\d.]+)/.exec(r)?.[1] ?? []).map(Number);
      check(acts.length > 0 && acts.every((a, i) => i === 0 || a <= acts[i - 1]!), `the feature rows, largest first (${rows.join(' | ')})`);
      const [, layer, index] = /L(\d+) #(\d+)/.exec((await first.textContent()) ?? '')!;
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${outDir}/patch-24-editor-feature-pick-dark.png` });
      await first.click();
      await quickPick(page, 'zero (feature off)');
      const after = await findWebview(page, `body[data-view="prompt"] #iv-chips[data-count="${before + 1}"]`, 60_000);
      const label = (await after.locator('.iv-chip .iv-label').allTextContents())[before] ?? '';
      check(label.startsWith(`zero · feature L${layer}#${index} · “`) && label.endsWith(`@${last}`), `chip "${label}"`);
      await klMoved(after, promptKl, 'the prompt panel');
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${outDir}/patch-25-editor-feature-chip-dark.png` });
      await tab('Logit lens: ioi.prompt').click();
      const lensAfter = await findWebview(page, `body[data-view="lens"] #iv-chips[data-count="${before + 1}"]`, 60_000);
      await klMoved(lensAfter, lensKl, 'the logit lens');
      // Light: the hover's link on another token, a typed feature (one beyond the transcoders is refused as
      // the host would, while typing), scaled.
      await setTheme(page, 'light');
      await tab('ioi.prompt').click();
      await page.locator('.monaco-editor .view-lines', { hasText: 'gave' }).first().click();
      await hoverText(page, 'gave', 1);
      const link = page.locator('.monaco-hover a', { hasText: 'Ablate or patch this token' }).first();
      await link.waitFor({ timeout: 30_000 });
      await link.click();
      await quickPick(page, 'transcoder feature');
      // Typing filters the features out; the "Type layer:index…" row always shows.
      await quickPick(page, 'Type layer:index');
      // The input box, once it shows its prompt (a validation message then takes the prompt's place).
      await page.locator('.quick-input-widget', { hasText: 'layer:index: layers' }).filter({ visible: true }).waitFor({ timeout: 15_000 });
      const typed = page.locator('.quick-input-widget input').filter({ visible: true });
      await typed.fill('99:0');
      await page.locator('.quick-input-widget .quick-input-message', { hasText: 'layer 99 is beyond the transcoders' }).waitFor({ timeout: 10_000 });
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${outDir}/patch-26-editor-feature-typed-light.png` });
      await typed.fill('0:5');
      await page.locator('.quick-input-widget .quick-input-message', { hasText: 'beyond' }).waitFor({ state: 'hidden', timeout: 10_000 });
      await page.keyboard.press('Enter');
      await quickPick(page, 'scale by');
      await page.locator('.quick-input-widget', { hasText: 'factor to scale' }).filter({ visible: true }).waitFor({ timeout: 15_000 });
      const factor = page.locator('.quick-input-widget input').filter({ visible: true });
      await factor.fill('2');
      await page.keyboard.press('Enter');
      await tab('MechLens: Prompt').click();
      const light = await findWebview(page, `body.vscode-light[data-view="prompt"] #iv-chips[data-count="${before + 2}"]`, 60_000);
      const scaled = (await light.locator('.iv-chip .iv-label').allTextContents())[before + 1] ?? '';
      check(/^scale ×2 · feature L0#5 · “·gave”@\d+$/.test(scaled), `chip "${scaled}"`);
      await shownKl(light);
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${outDir}/patch-27-editor-feature-chips-light.png` });
      await setTheme(page, 'dark');
      // Back to the chips the later tests expect.
      const back = await promptView();
      for (let n = before + 1; n >= before; n--) {
        await back.locator('#iv-undo').click();
        await waitChips(back, n, 'prompt panel after undoing the editor\'s feature chips');
      }
    });

    await test('the graph view shows the shared chips and the comparison on the graph\'s prompt', async () => {
      const file = join(folder, 'ioi.graph.json');
      execFileSync(process.execPath, [join(extPath, 'dist', 'cli.js'), 'graph', '--model', join(extPath, 'models', 'mechlens-tiny'), '--prompt', PROMPT, '--out', file], { stdio: 'ignore' });
      const n = await chipCount(await promptView());
      check(n > 0, 'interventions are active');
      await openNewFile(page, 'ioi.graph.json');
      const graph = await findWebview(page, 'body[data-view="graph"] #app[data-ready]', 90_000);
      await waitChips(graph, n, 'graph view');
      // When the graph's prompt carries a BOS circuit-tracer prepends, it is one token longer than the
      // counterfactual: position-wise patches are refused there with the reason, and removed here; the
      // zero ablation stays and applies.
      const refused = graph.locator('#status.error', { hasText: 'position-wise' });
      await refused.or(graph.locator('#iv-compare .kl[data-kl]')).first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: `${outDir}/patch-17-graph-dark.png` });
      if ((await refused.count()) > 0) {
        let left = n;
        for (const kind of ['patch ·', 'resample ·']) {
          const chip = graph.locator('.iv-chip', { hasText: kind });
          if ((await chip.count()) === 0) continue;
          await chip.first().locator('button[data-remove]').click();
          await waitChips(graph, --left, `graph view after removing ${kind}`);
        }
      }
      const kl = await shownKl(graph);
      check(Number.isFinite(kl) && kl >= 0 && (await graph.locator('#iv-compare tr[data-token-id]').count()) >= 5, `the graph view shows the comparison (KL ${kl})`);
    });

    await test('Save as Experiment… writes a *.mlexp.json that opens in the experiment editor, shows the sweep and re-runs identically', async () => {
      await tab('MechLens: Patching').click();
      const view = await findWebview(page, 'body[data-view="patch"] #sweep-0 .main-svg', 60_000);
      const file = join(folder, 'patch-resid_pre.mlexp.json');
      rmSync(file, { force: true });
      await view.locator('#save-sweep').click();
      await answerFileDialog(page, file);
      const exp = await findWebview(page, 'body[data-view="experiment"] #result-0 .main-svg', 60_000);
      check(existsSync(file), `${file} was written`);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { analysis: string; model: { sha256: string }; results: { exact: number[] } };
      check(saved.analysis === 'patchSweep' && saved.model.sha256.length === 64 && saved.results.exact.length > 0, 'the file holds the analysis, the model hash and the results');
      check(((await exp.locator('#title').textContent()) ?? '').includes('patchSweep'), 'the editor names the analysis');
      await page.screenshot({ path: `${outDir}/patch-08-experiment-dark.png` });
      await exp.locator('#rerun').click();
      await exp.locator('#status[data-outcome="identical"]').waitFor({ timeout: 60_000 });
      log(`re-run: ${(await exp.locator('#status').textContent()) ?? ''}`);
    });

    await test('the logit lens saves its analysis with the active interventions as an experiment, which re-runs identically', async () => {
      await tab('Logit lens: ioi.prompt').click();
      const lens = await findWebview(page, 'body[data-view="lens"] #save-experiment', 60_000);
      await lens.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
      const file = join(folder, 'lens-under-interventions.mlexp.json');
      rmSync(file, { force: true });
      await lens.locator('#save-experiment').click();
      await answerFileDialog(page, file);
      const exp = await findWebview(page, 'body[data-view="experiment"][data-kind="lens"], body[data-view="experiment"] #app[data-kind="lens"]', 60_000);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { analysis: string; params: { interventions?: unknown[] } };
      check(saved.analysis === 'lens' && (saved.params.interventions?.length ?? 0) > 0, 'the experiment holds the lens params with the active interventions');
      await exp.locator('#rerun').click();
      await exp.locator('#status[data-outcome="identical"]').waitFor({ timeout: 60_000 });
    });

        await test('an experiment of a type this version does not know is shown as JSON with a hint, not refused', async () => {
      writeFileSync(join(folder, 'future.mlexp.json'), `${JSON.stringify({ mechlens_experiment: 1, model: { dir: '.', sha256: '' }, analysis: 'causalFuture', params: { hypothesis: 'x' } }, null, 2)}\n`);
      await openNewFile(page, 'future.mlexp.json');
      const exp = await findWebview(page, 'body[data-view="experiment"] #unknown', 60_000);
      const hint = (await exp.locator('#unknown').textContent()) ?? '';
      check(/causalFuture/.test(hint) && /newer MechLens or another tool/.test(hint), `hint "${hint}"`);
      check(((await exp.locator('pre.json').textContent()) ?? '').includes('"hypothesis": "x"'), 'the JSON is shown');
      check((await exp.locator('#rerun[disabled]').count()) === 1, 'no re-run of an unknown type');
      await page.screenshot({ path: `${outDir}/patch-09-experiment-unknown-dark.png` });
    });

    await test('input saliency in the editor: tokens tinted by sign and size, a hover with the score', async () => {
      await tab('ioi.prompt').click();
      await page.locator('.monaco-editor .view-lines', { hasText: 'Mary' }).first().click();
      await page.keyboard.press('Control+End');
      await runCommand(page, 'MechLens: Show Input Saliency…');
      // The command's own box (the palette's closes first; Enter there would type into the editor).
      const box = page.locator('.quick-input-widget', { hasText: 'saliency for which next token' }).filter({ visible: true });
      await box.waitFor({ timeout: 30_000 });
      const input = box.locator('input');
      const predicted = await input.inputValue();
      check(predicted.length > 0, 'the target box starts with the model\'s top prediction');
      await input.press('Enter');
      await page.locator('.quick-input-widget', { hasText: 'saliency method' }).filter({ visible: true }).waitFor({ timeout: 15_000 });
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'gradient × input' }).first().click();
      const tints = async () =>
        page.evaluate(() => {
          const boxes = Array.from(document.querySelectorAll<HTMLElement>('.monaco-editor .view-overlays .cdr')).map((e) => getComputedStyle(e).backgroundColor);
          return { blue: boxes.filter((c) => c.startsWith('rgba(55, 148, 255')).length, red: boxes.filter((c) => c.startsWith('rgba(240, 80, 60')).length };
        });
      const until = Date.now() + 60_000;
      let t = await tints();
      while (t.blue + t.red === 0 && Date.now() < until) {
        await page.waitForTimeout(250);
        t = await tints();
      }
      log(`saliency tints: ${t.blue} raising, ${t.red} lowering the target ${JSON.stringify(predicted)}`);
      check(t.blue + t.red >= 5, `tokens tinted (${t.blue} + ${t.red})`);
      await hoverText(page, 'gave', 1);
      await page.locator('.monaco-hover', { hasText: 'MechLens saliency' }).first().waitFor({ timeout: 20_000 });
      const hover = (await page.locator('.monaco-hover', { hasText: 'MechLens saliency' }).first().innerText()).replace(/\s+/g, ' ');
      check(/gradient × input\) of .* for the next token .*: [+-]?[\d.e-]+ \(rank \d+ of \d+/.test(hover), `hover "${hover.slice(0, 200)}"`);
      await page.screenshot({ path: `${outDir}/patch-14-saliency-dark.png` });
      await page.mouse.move(10, 10);
    });

    await test('the random-init control: every view runs the re-initialised architecture, and back', async () => {
      await tab('MechLens: Prompt').click();
      const view = await findWebview(page, 'body[data-view="prompt"] #iv-random', 60_000);
      const trainedTop = (await view.locator('#top tr[data-token-id] td.tok').first().textContent()) ?? '';
      await view.locator('#iv-random').click();
      await view.locator('#iv-chips[data-random-init="0"]').waitFor({ timeout: 60_000 });
      await view.locator('#model', { hasText: 'random init, seed 0' }).waitFor({ timeout: 60_000 });
      const randomTop = (await view.locator('#top tr[data-token-id] td.tok').first().textContent()) ?? '';
      log(`top next token: trained ${JSON.stringify(trainedTop)}, random init ${JSON.stringify(randomTop)}`);
      check(randomTop !== trainedTop, 'the re-initialised model predicts something else');
      await page.screenshot({ path: `${outDir}/patch-16-random-init-dark.png` });
      await tab('Logit lens: ioi.prompt').click();
      const lens = await findWebview(page, 'body[data-view="lens"] #iv-chips[data-random-init="0"]', 60_000);
      await lens.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
      await lens.locator('#iv-random').click();
      await lens.locator('#iv-chips[data-random-init=""]').waitFor({ timeout: 60_000 });
      await tab('MechLens: Prompt').click();
      const back = await findWebview(page, 'body[data-view="prompt"] #iv-chips[data-random-init=""]', 60_000);
      await back.locator('#model', { hasNotText: 'random init' }).waitFor({ timeout: 60_000 });
    });

    await test('light theme: the views follow it', async () => {
      await setTheme(page, 'light');
      await tab('MechLens: Patching').click();
      await findWebview(page, 'body.vscode-light[data-view="patch"] #sweep-0 .main-svg', 60_000);
      await page.waitForTimeout(800);
      await page.screenshot({ path: `${outDir}/patch-10-sweep-light.png` });
      await tab('MechLens: Prompt').click();
      const view = await findWebview(page, 'body.vscode-light[data-view="prompt"] #iv-compare table', 60_000);
      await view.locator('.token').first().click({ button: 'right' });
      await view.locator('#iv-menu').waitFor({ timeout: 10_000 });
      await page.waitForTimeout(400);
      await page.screenshot({ path: `${outDir}/patch-11-prompt-menu-light.png` });
      await page.keyboard.press('Escape');
      await view.locator(`.token[data-pos="${last}"]`).click({ button: 'right' });
      await view.locator('#iv-menu').waitFor({ timeout: 10_000 });
      await setValue(view, '#iv-site', 'feature');
      await view.locator('#iv-factive[data-count]').waitFor({ timeout: 30_000 });
      await page.waitForTimeout(400);
      await page.screenshot({ path: `${outDir}/patch-21-feature-menu-light.png` });
      await page.keyboard.press('Escape');
      await tab('Logit lens: ioi.prompt').click();
      await findWebview(page, 'body.vscode-light[data-view="lens"] #heatmap .main-svg');
      await page.waitForTimeout(800);
      await page.screenshot({ path: `${outDir}/patch-12-lens-light.png` });
      await tab('patch-resid_pre.mlexp.json').click();
      await findWebview(page, 'body.vscode-light[data-view="experiment"] #result-0 .main-svg', 60_000);
      await page.waitForTimeout(600);
      await page.screenshot({ path: `${outDir}/patch-13-experiment-light.png` });
      await tab('ioi.prompt').click();
      await page.waitForTimeout(600);
      await page.screenshot({ path: `${outDir}/patch-15-saliency-light.png` });
      await setTheme(page, 'dark');
    });

    await test('another model: the Patching panel drops the previous model\'s sweep; without transcoders the feature site is disabled with the reason, and the host refuses it', async () => {
      await runCommand(page, 'MechLens: Clear Interventions');
      // The bundled model's own checkpoint in a folder without its transcoders/ (and features/).
      const bare = join(folder, 'tiny-no-transcoders');
      mkdirSync(bare, { recursive: true });
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(extPath, 'models', 'mechlens-tiny', f), join(bare, f));
      await runCommand(page, 'MechLens: Add Model Folder…');
      await answerDialog(page, `${bare}/`);
      await page.locator('.activitybar [aria-label^="MechLens"]').first().click();
      const row = page.locator('.pane-body .monaco-list-row', { has: page.locator('.label-name', { hasText: 'tiny-no-transcoders' }) }).first();
      await row.waitFor({ timeout: 60_000 });
      await row.click();
      await row.locator('.label-description').filter({ hasText: /active/ }).waitFor({ timeout: 60_000 });
      // The Patching panel's heatmaps were mechlens-tiny's: the switch removed them and said why.
      await tab('MechLens: Patching').click();
      const patch = await findWebview(page, 'body[data-view="patch"] #sweep-summary', 60_000);
      await patch.locator('#sweep-summary', { hasText: 'active model changed' }).waitFor({ timeout: 60_000 });
      await patch.locator('#model', { hasText: 'tiny-no-transcoders' }).waitFor({ timeout: 60_000 });
      check((await patch.locator('#sweeps .plot').count()) === 0, 'the previous model\'s sweep heatmaps are gone');
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${outDir}/patch-30-model-switched-dark.png` });
      await tab('ioi.prompt').click();
      await page.locator('.monaco-editor .view-lines', { hasText: 'Mary' }).first().click();
      await runCommand(page, 'MechLens: Run Prompt');
      const view = await findWebview(page, 'body[data-view="prompt"] #tokens .token', 60_000);
      await view.locator('#model', { hasText: 'tiny-no-transcoders' }).waitFor({ timeout: 60_000 });
      await view.locator(`#tokens .token[data-pos="${last}"]`).click({ button: 'right' });
      await view.locator('#iv-menu').waitFor({ timeout: 10_000 });
      await view.locator('#iv-site vscode-option[value="feature"][disabled]').waitFor({ state: 'attached', timeout: 30_000 });
      const reason = (await view.locator('#iv-feature-reason').textContent()) ?? '';
      check(/tiny-no-transcoders has no transcoders: .*transcoders\/.*Download Transcoder Files/.test(reason) && (await view.locator('#iv-feature-reason').isVisible()), `the reason is shown ("${reason}")`);
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${outDir}/patch-22-no-transcoders-dark.png` });
      // Light: the menu again (the theme switch may reload the page), then forced past the disabled option: the
      // host still refuses it, with the same reason.
      await setTheme(page, 'light');
      const light = await findWebview(page, 'body.vscode-light[data-view="prompt"] #tokens .token', 60_000);
      if ((await light.locator('#iv-menu').count()) === 0) await light.locator(`#tokens .token[data-pos="${last}"]`).click({ button: 'right' });
      await light.locator('#iv-site vscode-option[value="feature"][disabled]').waitFor({ state: 'attached', timeout: 30_000 });
      await light.locator('#iv-feature-reason').waitFor({ timeout: 10_000 });
      await page.waitForTimeout(600);
      await page.screenshot({ path: `${outDir}/patch-23-no-transcoders-light.png` });
      await setValue(light, '#iv-site', 'feature');
      await setValue(light, '#iv-findex', '0');
      await light.locator('#iv-apply').click();
      await light.locator('#status.error', { hasText: 'has no transcoders' }).waitFor({ timeout: 30_000 });
      check((await chipCount(light)) === 0, 'no chip was added');
      // The editor's quick picks: the site is listed with the reason (a quick pick has no disabled items) and
      // refused with it when picked.
      await page.keyboard.press('Escape');
      await tab('ioi.prompt').click();
      await page.locator('.monaco-editor .view-lines', { hasText: 'Mary' }).first().click();
      await runCommand(page, 'MechLens: Ablate or Patch Selected Tokens…');
      const filter = page.locator('.quick-input-widget', { hasText: 'at which activation' }).filter({ visible: true }).locator('input');
      await filter.waitFor({ timeout: 30_000 });
      await filter.fill('transcoder feature');
      const site = page.locator('.quick-input-list .monaco-list-row', { hasText: 'transcoder feature' }).first();
      await site.waitFor({ timeout: 30_000 });
      const siteText = (await site.textContent()) ?? '';
      check(/unavailable for this model/.test(siteText) && /tiny-no-transcoders has no transcoders/.test(siteText), `the site's row says why ("${siteText}")`);
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${outDir}/patch-28-editor-no-transcoders-light.png` });
      await site.click();
      // Headless and unfocused, the workbench may show no toast: read the notification center.
      await page.waitForTimeout(1000);
      await runCommand(page, 'Notifications: Show Notifications');
      await page.locator('.notifications-center .monaco-list-row, .notifications-toasts .notification-toast', { hasText: 'tiny-no-transcoders has no transcoders' }).first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: `${outDir}/patch-29-editor-no-transcoders-refused-light.png` });
      await runCommand(page, 'Notifications: Clear All Notifications');
      await tab('MechLens: Prompt').click();
      check((await chipCount(await findWebview(page, 'body[data-view="prompt"] #iv-chips'))) === 0, 'no chip was added from the editor');
      await setTheme(page, 'dark');
    });

    check(alerts.length === 0, `no alert() ran (saw ${alerts.join(', ')})`);
  } catch (err) {
    results.push({ name: 'patch suite', ok: false, error: err instanceof Error ? err.message : String(err) });
    await page.screenshot({ path: `${outDir}/patch-failure-startup.png` }).catch(() => undefined);
  } finally {
    await browser.close();
  }
  return reportResults('ui-patch', results);
}

exitWith(main());
