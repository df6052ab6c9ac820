// UI end-to-end tests of the views (issue 5) in a real VS Code workbench (code-server) in headless chromium:
// inline inspection in a .prompt file (surprisal decorations, hover with top predictions, status bar
// latency, CodeLens), the logit lens, attention and DLA panels opened from the CodeLens and from the
// palette, token clicks, a light and a dark theme, and a prompt with markup shown as text everywhere.
// Screenshots go to <outDir>/views-*.png.
// Usage: node --import tsx test/e2e/uiViews.ts <port> <extensionPath> <workspaceFolder> <outDir>
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameLocator } from 'playwright-core';
import { devPayload, exitWith, findWebview, hoverText, launchChromium, openFile, reportResults, runCommand, setTheme, setValue, suitePage, suiteRunner, workbenchUrl } from './browser';
import { checkDlaLayout } from './layout';

const [port = '8765', extPath = process.cwd(), folder = process.cwd(), outDir = 'test-results/e2e'] = process.argv.slice(2);
const t0 = Date.now();
const log = (...a: unknown[]) => console.log(`[ui-views +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

const EVIL = '<img src=x onerror=alert(1)>';
const PROMPT = `When Mary and John went to the store, John gave a drink to Mary.\n${EVIL} </script>\nThe cat sat on the mat. The cat sat on the`;

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

/** Checks that a webview shows `EVIL` literally and holds no element made from it. */
async function assertMarkupIsText(view: FrameLocator, where: string): Promise<void> {
  const chips = (await view.locator('#tokens .token').allTextContents()).join('').replace(/·/g, ' ');
  check(chips.includes(EVIL) && chips.includes('</script>'), `${where}: the token chips spell the markup literally ("${chips.slice(0, 160)}")`);
  check(await view.locator('#tokens .token', { hasText: '<' }).first().isVisible(), `${where}: a chip with "<" is visible`);
  check((await view.locator('img, #app script').count()) === 0, `${where}: no img or script element was created from token text`);
}

async function main(): Promise<number> {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(folder, 'views.prompt'), PROMPT);
  writeFileSync(join(folder, 'notes.txt'), 'The cat sat on the mat.\n');
  const browser = await launchChromium();
  const { page, alerts } = await suitePage(browser, 900, /mechlens|webview|Content Security|plotly/i);
  const { results, test } = suiteRunner(page, log, (n) => `${outDir}/views-failure-${n}.png`);

  try {
    await page.goto(workbenchUrl(port, folder, devPayload(port, extPath)));
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    await page.locator('.activitybar [aria-label^="MechLens"]').first().waitFor({ timeout: 90_000 });
    log('workbench up');
    await setTheme(page, 'dark');

    await test('inline inspection: a .prompt file gets surprisal tints, a latency in the status bar and a CodeLens', async () => {
      await openFile(page, 'views.prompt');
      // Issue #13: the first inline decorations after opening a prompt file (goal <= 1 s), timed in the page from
      // the file's tab becoming active to the first token box drawn. Reported, not asserted.
      const opened = await page.evaluate(() => performance.now());
      const painted = await page.waitForFunction(
        () => Array.from(document.querySelectorAll<HTMLElement>('.monaco-editor .view-overlays .cdr')).some((s) => getComputedStyle(s).borderLeftWidth === '1px') && performance.now(),
        undefined,
        { polling: 'raf', timeout: 90_000 },
      );
      const firstMs = ((await painted.jsonValue()) as number) - opened;
      check(firstMs > 0, `first decorations timed: ${firstMs}`);
      log(`first inline decorations ${firstMs.toFixed(0)} ms after the prompt file's tab opened`);
      writeFileSync(join(outDir, 'views-perf.json'), JSON.stringify({ firstInlineDecorationsMs: Math.round(firstMs) }));
      await page.locator('.monaco-editor .view-lines', { hasText: 'Mary' }).first().waitFor({ timeout: 15_000 });
      const status = page.locator('.statusbar-item', { hasText: / ms · \d+ tok/ }).first();
      await status.waitFor({ timeout: 90_000 });
      log(`status bar: ${(await status.textContent()) ?? ''}`);
      await page.locator('.codelens-decoration', { hasText: 'MechLens: Logit lens' }).first().waitFor({ timeout: 30_000 });
      const lens = (await page.locator('.codelens-decoration').first().innerText()).replace(/\s+/g, ' ');
      check(/MechLens: Logit lens \| Attention \| DLA/.test(lens), `CodeLens "${lens}"`);
      // Decorations are spans with a generated class carrying a background colour: count tinted spans.
      // Decorations with a background are drawn in the overlay layer: one box per token, with its boundary.
      const boxes = await page.evaluate(() => {
        const all = Array.from(document.querySelectorAll<HTMLElement>('.monaco-editor .view-overlays .cdr'));
        const bounded = all.filter((s) => getComputedStyle(s).borderLeftWidth === '1px');
        const tints = new Set(bounded.map((s) => getComputedStyle(s).backgroundColor));
        return { bounded: bounded.length, tints: tints.size };
      });
      check(boxes.bounded >= 20, `only ${boxes.bounded} token boxes carry a boundary`);
      check(boxes.tints >= 2, `surprisal tints: ${boxes.tints} distinct backgrounds`);
      await page.screenshot({ path: `${outDir}/views-01-inline-dark.png` });
    });

    await test('hovering a token shows top predictions, the actual token probability and rank, and a one-line lens', async () => {
      await hoverText(page, 'cat sat', 5);
      const hover = page.locator('.monaco-hover .hover-contents, .monaco-hover-content').first();
      await hover.filter({ hasText: 'Top next-token predictions' }).waitFor({ timeout: 20_000 });
      const text = (await hover.innerText()).replace(/\s+/g, ' ');
      check(/Actual token: p = [\d.e%-]+ · rank \d+ · surprisal [\d.]+ bits/.test(text), `hover "${text.slice(0, 300)}"`);
      check(/Logit lens \(top token per layer\): 0_pre/.test(text), 'hover has the one-line lens');
      await page.screenshot({ path: `${outDir}/views-02-hover.png` });
      // The lens line is decoded as the hover opens and ends it, below the fold of a small hover: scrolled to.
      await page.locator('.monaco-hover').getByText('Logit lens (top token per layer)').scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${outDir}/views-02b-hover-lens.png` });
      // The markup token hovered: its text shows literally.
      await page.mouse.move(10, 10);
      await page.keyboard.press('Escape');
      await hoverText(page, '<img', 2);
      const h2 = page.locator('.monaco-hover').first();
      await h2.filter({ hasText: 'MechLens' }).waitFor({ timeout: 20_000 });
      check((await page.locator('.monaco-hover img').count()) === 0, 'no img element in the hover');
      await page.mouse.move(10, 10);
    });

    await test('typing updates the inspection (debounced), without waiting for it', async () => {
      const before = (await page.locator('.statusbar-item', { hasText: / ms · \d+ tok/ }).first().textContent()) ?? '';
      await page.locator('.monaco-editor .view-lines').first().click();
      await page.keyboard.press('Control+End');
      await page.keyboard.type(' mat', { delay: 30 });
      const n0 = Number(/(\d+) tok/.exec(before)?.[1]);
      await page.waitForFunction(
        (n) => Array.from(document.querySelectorAll('.statusbar-item')).some((e) => { const m = / ms · (\d+) tok/.exec(e.textContent ?? ''); return m !== null && Number(m[1]) > n; }),
        n0,
        { timeout: 30_000 },
      );
      await page.keyboard.press('Control+s');
    });

    await test('the CodeLens opens the logit lens: heatmap with top tokens, markup shown as text', async () => {
      await page.locator('.codelens-decoration a', { hasText: 'MechLens: Logit lens' }).first().click();
      await page.locator('.tabs-container .tab', { hasText: 'Logit lens: views.prompt' }).waitFor({ timeout: 60_000 });
      const view = await findWebview(page, 'body[data-view="lens"] #heatmap .main-svg', 90_000);
      await view.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
      const cells = await view.locator('#heatmap .heatmaplayer text').count();
      log(`lens heatmap cell texts: ${cells}`);
      const ticks = (await view.locator('#heatmap .ytick text').allTextContents()).join(',');
      check(ticks.includes('0_pre') && ticks.includes('final_post'), `layer labels "${ticks}"`);
      // Issue #13: the positions on screen are decoded and drawn first (the heatmap shows as many as fit at a
      // readable width, ending at the last); the panel times its first paint and the whole result. Reported.
      const app = view.locator('#app');
      const firstPaint = Number(await app.getAttribute('data-lens-first-paint-ms'));
      const full = Number(await app.getAttribute('data-lens-full-ms'));
      check(firstPaint > 0 && full >= firstPaint, `lens paint timed: first ${firstPaint}, full ${full}`);
      log(`logit lens first paint ${firstPaint.toFixed(0)} ms after its request, whole result ${full.toFixed(0)} ms (bundled model)`);
      const perfFile = join(outDir, 'views-perf.json');
      writeFileSync(perfFile, JSON.stringify({ ...(existsSync(perfFile) ? (JSON.parse(readFileSync(perfFile, 'utf8')) as object) : {}), lensFirstPaintMs: firstPaint, lensFullMs: full }));
      check(cells > 0, 'the cells on screen are wide enough to carry their top token');
      await page.screenshot({ path: `${outDir}/views-03-lens-dark.png` });
      await assertMarkupIsText(view, 'logit lens');
      // The markup is before the positions on screen: focusing its chip brings it into the heatmap's window.
      await view.locator('#tokens .token', { hasText: /^<$/ }).first().click();
      await view.locator('#tokens .token.focused', { hasText: /^<$/ }).waitFor({ timeout: 10_000 });
      await page.waitForTimeout(500);
      const tickText = (await view.locator('#heatmap .xtick text').allTextContents()).join('|');
      check(tickText.includes('<'), `token tick labels show markup literally ("${tickText.slice(0, 200)}")`);
    });

    await test('logit lens: typed target tokens give probability and rank trajectories; a token click focuses it', async () => {
      const view = await findWebview(page, 'body[data-view="lens"] #heatmap .main-svg');
      const field = view.locator('#targets');
      await field.click();
      await page.keyboard.type('Mary, John');
      await page.keyboard.press('Enter');
      await view.locator('#trajectory .main-svg').first().waitFor({ timeout: 60_000 });
      const legend = (await view.locator('#trajectory .legendtext').allTextContents()).join('|');
      check(legend.includes('p ·Mary') && legend.includes('rank ·John'), `legend "${legend}"`);
      await view.locator('.token[data-pos="3"]').click();
      await view.locator('.token.focused[data-pos="3"]').waitFor({ timeout: 10_000 });
      const title = (await view.locator('#trajectory-title').textContent()) ?? '';
      check(title.includes('position 3'), `trajectory title "${title}"`);
      await page.screenshot({ path: `${outDir}/views-04-lens-targets.png` });
    });

    await test('logit lens export: CSV (data) and PNG (plotly image) saved through the save dialog', async () => {
      const view = await findWebview(page, 'body[data-view="lens"] #heatmap .main-svg');
      for (const [format, check1] of [
        ['csv', (b: Buffer) => b.toString('utf8').startsWith('layer,label,position,token,top1,top1_prob')],
        ['png', (b: Buffer) => b.subarray(1, 4).toString('latin1') === 'PNG'],
      ] as const) {
        const file = join(folder, `logit-lens.${format}`);
        rmSync(file, { force: true });
        await view.locator(`vscode-button[data-export="${format}"]`).click();
        const input = page.locator('.quick-input-widget input').filter({ visible: true });
        await input.waitFor({ timeout: 15_000 });
        await page.waitForTimeout(500);
        await input.fill(file);
        await page.keyboard.press('Enter');
        const until = Date.now() + 20_000;
        while (!existsSync(file) && Date.now() < until) await page.waitForTimeout(200);
        check(existsSync(file), `${file} was written`);
        await page.waitForTimeout(300);
        check(check1(readFileSync(file)), `${format} content`);
        await view.locator('#status', { hasText: `logit-lens.${format}` }).waitFor({ timeout: 10_000 });
      }
    });

    await test('attention from the palette: pattern, head-detector grid (card heads first), arcs; a click focuses a token everywhere', async () => {
      await page.locator('.tabs-container .tab', { hasText: 'views.prompt' }).first().click();
      await runCommand(page, 'MechLens: Show Attention');
      await page.locator('.tabs-container .tab', { hasText: 'Attention: views.prompt' }).waitFor({ timeout: 60_000 });
      const view = await findWebview(page, 'body[data-view="attention"] #grid .main-svg', 90_000);
      await view.locator('#app[data-ready]').waitFor({ timeout: 90_000 });
      await view.locator('#ranked', { hasText: 'on repeated random tokens' }).waitFor({ timeout: 60_000 });
      await view.locator('#arcs svg path').first().waitFor({ timeout: 10_000 });
      await view.locator('.token[data-pos="2"]').click();
      await view.locator('.token.focused[data-pos="2"]').waitFor({ timeout: 10_000 });
      check((await view.locator('#arcs svg text.focused[data-pos="2"]').count()) === 1, 'the arc view highlights the token');
      check((await view.locator('#pattern .shapelayer path').count()) >= 1, 'the heatmap outlines the focused row');
      await view.locator('#arcs svg text[data-pos="4"]').click();
      await view.locator('.token.focused[data-pos="4"]').waitFor({ timeout: 10_000 });
      await assertMarkupIsText(view, 'attention');
      await page.screenshot({ path: `${outDir}/views-05-attention-dark.png` });
      const cardFile = join(extPath, 'models', 'mechlens-tiny', 'card.json');
      check(existsSync(cardFile), 'the default model has a card.json');
      const card = JSON.parse(readFileSync(cardFile, 'utf8')) as { heads: Record<string, Array<[string, number]>> };
      for (const kind of ['induction', 'previous_token']) {
        const listed = card.heads[kind]?.map(([h]) => h) ?? [];
        const ranked = ((await view.locator('#ranked').getAttribute(`data-top-${kind}`)) ?? '').split(',');
        log(`grid ${kind}: ${ranked.slice(0, 4).join(',')}; card: ${listed.join(',')}`);
        check(listed.length > 0, `the card lists ${kind} heads`);
        const top = ranked.slice(0, listed.length);
        check(listed.every((h) => top.includes(h)), `grid ranks ${ranked.join(',')} for ${kind}; the card lists ${listed.join(',')}`);
      }
      // Issue #13: the layer on screen came first; another layer is asked for when picked, then kept.
      check(Number(await view.locator('#app').getAttribute('data-attention-first-paint-ms')) > 0, 'the first layer was drawn before the scores of every layer');
      await setValue(view, '#layer', '3');
      await view.locator('#app[data-layer="3"]').waitFor({ timeout: 30_000 });
      await view.locator('#pattern-title', { hasText: 'Pattern of L3H' }).waitFor({ timeout: 10_000 });
      check(!((await view.locator('#pattern-title').textContent()) ?? '').includes('computing'), 'layer 3 drawn');
      await view.locator('#arcs-title', { hasText: 'L3' }).waitFor({ timeout: 10_000 });
      await setValue(view, '#layer', '0');
      await view.locator('#pattern-title', { hasText: 'Pattern of L0H' }).waitFor({ timeout: 10_000 });
      check(!((await view.locator('#pattern-title').textContent()) ?? '').includes('computing'), 'layer 0 drawn again from the panel\'s own copy');
      await runCommand(page, 'MechLens: Show Attention');
    });

    await test('attention: Save as Experiment… writes every layer\'s patterns and scores; the file re-runs identically', async () => {
      await page.locator('.tabs-container .tab', { hasText: 'Attention: views.prompt' }).click();
      const view = await findWebview(page, 'body[data-view="attention"] #save-experiment', 60_000);
      await view.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
      const file = join(folder, 'attention.mlexp.json');
      rmSync(file, { force: true });
      await view.locator('#save-experiment').click();
      const input = page.locator('.quick-input-widget input').filter({ visible: true });
      await input.waitFor({ timeout: 15_000 });
      await page.waitForTimeout(500);
      await input.fill(file);
      await page.keyboard.press('Enter');
      const exp = await findWebview(page, 'body[data-view="experiment"] #rerun', 60_000);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { analysis: string; params: { layers?: number[] }; results: { patterns: number[][]; scores: { induction: number[][] } } };
      check(saved.analysis === 'attention' && saved.params.layers === undefined, 'a short prompt saves every layer');
      check(saved.results.patterns.length === 4 && saved.results.scores.induction.length === 4, `${saved.results.patterns.length} layers of patterns saved`);
      await exp.locator('#rerun').click();
      await exp.locator('#status[data-outcome="identical"]').waitFor({ timeout: 60_000 });
      await runCommand(page, 'View: Close Editor');
    });

    await test('DLA from the CodeLens: heads heatmap, MLP bars, parts sum to the logit', async () => {
      await page.locator('.tabs-container .tab', { hasText: 'views.prompt' }).first().click();
      await page.locator('.codelens-decoration a', { hasText: 'DLA' }).first().click();
      await page.locator('.tabs-container .tab', { hasText: 'DLA: views.prompt' }).waitFor({ timeout: 60_000 });
      const view = await findWebview(page, 'body[data-view="dla"] #heads .main-svg', 90_000);
      await view.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
      const sum = Number(await view.locator('#sum').getAttribute('data-sum'));
      const logit = Number(await view.locator('#sum').getAttribute('data-logit'));
      check(Number.isFinite(sum) && Math.abs(sum - logit) < 1e-3, `sum of parts ${sum} vs logit ${logit}`);
      const shown = (await view.locator('#sum').innerText()).replace(/\s+/g, ' ');
      check(shown.includes(sum.toFixed(4)) && shown.includes(logit.toFixed(4)), `both numbers displayed: "${shown}"`);
      const bars = (await view.locator('#parts .ytick text').allTextContents()).join('|');
      check(bars.includes('L0 MLP') && bars.includes('embed'), `bars "${bars}"`);
      await view.locator('#target').click();
      await page.keyboard.type('Mary');
      await view.locator('#baseline').click();
      await page.keyboard.type('John');
      await page.keyboard.press('Enter');
      await view.locator('#status', { hasText: '− logit' }).waitFor({ timeout: 60_000 });
      // The IOI position ("… gave a drink to" → Mary): the card's name-mover head (measured as a mean over the
      // IOI eval set, where it is the top head) writes for Mary − John here too, among the two strongest heads.
      const chip = view.locator('.token[data-pos="13"]');
      check(((await chip.textContent()) ?? '').includes('to'), `token 13 is "to" (${await chip.textContent()})`);
      await chip.click();
      await view.locator('#status', { hasText: 'at position 13' }).waitFor({ timeout: 60_000 });
      const card = JSON.parse(readFileSync(join(extPath, 'models', 'mechlens-tiny', 'card.json'), 'utf8')) as { heads: { ioi_movers?: Array<[string, number, number]> } };
      const mover = card.heads.ioi_movers?.[0]?.[0];
      const positive = ((await view.locator('#heads').getAttribute('data-positive')) ?? '').split(',');
      log(`DLA heads writing for Mary − John after "to", strongest first: ${positive.join(',')}; card's IOI mover: ${mover}`);
      check(mover !== undefined && positive.slice(0, 2).includes(mover), `the card's IOI name mover ${mover} is among the two strongest heads (${positive.join(',')})`);
      const logitDiff = Number(await view.locator('#sum').getAttribute('data-logit'));
      check(logitDiff > 0, `the model prefers Mary over John there (logit difference ${logitDiff})`);
      await assertMarkupIsText(view, 'DLA');
      await page.screenshot({ path: `${outDir}/views-06-dla-dark.png` });
      // Resized narrower and wider: no heading meets a plot, each plot stays inside its element.
      const problems = await checkDlaLayout(page, view, [1100, 860, 2200], 900, (w) => `${outDir}/views-06-dla-${w}-dark.png`);
      check(problems.length === 0, `the DLA panel's layout: ${problems.join('; ')}`);
    });

    await test('light theme: the views follow it', async () => {
      await setTheme(page, 'light');
      const dla = await findWebview(page, 'body.vscode-light[data-view="dla"] #heads .main-svg');
      check((await dla.locator('#heads .main-svg').count()) > 0, 'DLA re-rendered');
      await page.screenshot({ path: `${outDir}/views-07-dla-light.png` });
      const problems = await checkDlaLayout(page, dla, [1000], 900, (w) => `${outDir}/views-07-dla-${w}-light.png`);
      check(problems.length === 0, `the DLA panel's layout (light): ${problems.join('; ')}`);
      await page.locator('.tabs-container .tab', { hasText: 'Logit lens: views.prompt' }).click();
      await findWebview(page, 'body.vscode-light[data-view="lens"] #heatmap .main-svg');
      await page.waitForTimeout(800);
      await page.screenshot({ path: `${outDir}/views-08-lens-light.png` });
      await page.locator('.tabs-container .tab', { hasText: 'Attention: views.prompt' }).click();
      await findWebview(page, 'body.vscode-light[data-view="attention"] #grid .main-svg');
      await page.waitForTimeout(800);
      await page.screenshot({ path: `${outDir}/views-09-attention-light.png` });
      await page.locator('.tabs-container .tab', { hasText: 'views.prompt' }).first().click();
      await page.waitForTimeout(800);
      await page.screenshot({ path: `${outDir}/views-10-inline-light.png` });
      await setTheme(page, 'dark');
    });

    await test('Inspect Selection decorates a selection in any file', async () => {
      await openFile(page, 'notes.txt');
      await page.locator('.monaco-editor .view-lines', { hasText: 'The cat sat' }).first().click();
      await page.keyboard.press('Control+a');
      await runCommand(page, 'MechLens: Inspect Selection');
      await page.locator('.codelens-decoration', { hasText: 'MechLens: Logit lens' }).first().waitFor({ timeout: 60_000 });
      await hoverText(page, 'cat sat', 1);
      await page.locator('.monaco-hover', { hasText: 'Top next-token predictions' }).first().waitFor({ timeout: 20_000 });
      await page.screenshot({ path: `${outDir}/views-11-selection.png` });
    });

    await test('Inspector quick links follow the active editor and open the views', async () => {
      await page.locator('.activitybar [aria-label^="MechLens"]').first().click();
      await openFile(page, 'views.prompt');
      const inspector = await findWebview(page, '#quick a[data-command="mechlens.showLogitLens"]');
      await inspector.locator('#quick-target', { hasText: 'views.prompt' }).waitFor({ timeout: 15_000 });
      await openFile(page, 'notes.txt');
      await inspector.locator('#quick-target', { hasText: 'notes.txt' }).waitFor({ timeout: 15_000 });
      await page.screenshot({ path: `${outDir}/views-12-inspector-links.png` });
      await inspector.locator('#quick a[data-command="mechlens.showLogitLens"]').click();
      await page.locator('.tabs-container .tab', { hasText: 'Logit lens: notes.txt' }).waitFor({ timeout: 30_000 });
      // A short prompt: each heatmap cell carries its top token's text.
      const lens = await findWebview(page, 'body[data-view="lens"] #source:has-text("notes.txt")');
      await lens.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
      const n = await lens.locator('#tokens .token').count();
      const cells = await lens.locator('#heatmap .heatmaplayer text').count();
      check(cells >= n * 5, `${cells} cell labels for ${n} tokens × 5 layers`);
      await page.screenshot({ path: `${outDir}/views-13-lens-short-prompt.png` });
    });

    check(alerts.length === 0, `no alert() ran (saw ${alerts.join(', ')})`);
  } catch (err) {
    results.push({ name: 'views suite', ok: false, error: err instanceof Error ? err.message : String(err) });
    await page.screenshot({ path: `${outDir}/views-failure-startup.png` }).catch(() => undefined);
  } finally {
    await browser.close();
  }
  return reportResults('ui-views', results);
}

exitWith(main());
