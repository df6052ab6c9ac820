// UI end-to-end test of the second bundled model, stories260K (Karpathy's TinyStories Llama, SentencePiece
// tokenizer, <s> prepended), in a real VS Code (code-server) in headless chromium: the Models view lists both
// bundled models and switches to it; then every view on it: the prompt panel, inline inspection, logit lens,
// attention (its previous-token heads ranked as its card says), DLA (parts sum to the logit), an attribution graph
// built with its shipped transcoders, and the feature panel reading its shipped dashboards; dark and light
// screenshots (<outDir>/stories-*.png).
// Usage: node --import tsx test/e2e/uiStories.ts <port> <extensionPath> <workspaceFolder> <outDir>
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { devPayload, exitWith, findWebview, launchChromium, openFile, reportResults, runCommand, setTheme, suitePage, suiteRunner, workbenchUrl } from './browser';
import { checkDlaLayout, graphLabelProblems, graphLabels } from './layout';

const [port = '8765', extPath = process.cwd(), folder = process.cwd(), outDir = 'test-results/e2e'] = process.argv.slice(2);
const t0 = Date.now();
const log = (...a: unknown[]) => console.log(`[ui-stories +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const PROMPT = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big';

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

async function tab(page: Page, title: string): Promise<void> {
  await page.locator('.tabs-container .tab', { hasText: title }).first().click();
}

async function main(): Promise<number> {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(folder, 'story.mlprompt'), PROMPT);
  const card = JSON.parse(readFileSync(join(extPath, 'models', 'stories260K', 'card.json'), 'utf8')) as { heads: Record<string, Array<[string, number]>> };
  const browser = await launchChromium();
  const { page, alerts } = await suitePage(browser, 1000, /mechlens|webview|Content Security|graph|plotly/i);
  const { results, test } = suiteRunner(page, log, (n) => `${outDir}/stories-failure-${n}.png`);

  try {
    await page.goto(workbenchUrl(port, folder, devPayload(port, extPath)));
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    const activity = page.locator('.activitybar [aria-label^="MechLens"]').first();
    await activity.waitFor({ timeout: 90_000 });
    log('workbench up');
    await setTheme(page, 'dark');

    await test('the Models view lists both bundled models; a click makes stories260K the active model', async () => {
      await activity.click();
      const tiny = page.locator('.monaco-list-row', { hasText: 'mechlens-tiny (bundled)' }).first();
      const stories = page.locator('.monaco-list-row', { hasText: 'stories260K (bundled)' }).first();
      await tiny.waitFor({ timeout: 30_000 });
      await stories.waitFor({ timeout: 30_000 });
      await stories.locator('.label-description').filter({ hasText: /llama · [\d.]+[KMB]? params/ }).waitFor({ timeout: 60_000 });
      await stories.click();
      await stories.locator('.label-description').filter({ hasText: /· active$/ }).waitFor({ timeout: 60_000 });
      check(!/active/.test((await tiny.locator('.label-description').textContent()) ?? ''), 'mechlens-tiny is no longer active');
      await page.screenshot({ path: `${outDir}/stories-01-models-dark.png` });
    });

    await test('prompt panel: the story\'s tokens (SentencePiece pieces after <s>) and the next-token chart', async () => {
      await openFile(page, 'story.mlprompt');
      await runCommand(page, 'MechLens: Run Prompt');
      await page.locator('.tabs-container .tab', { hasText: 'MechLens: Prompt' }).waitFor({ timeout: 60_000 });
      const panel = await findWebview(page, 'body[data-view="prompt"] .token');
      await panel.locator('#chart .main-svg').first().waitFor({ timeout: 60_000 });
      const chips = (await panel.locator('.token').allTextContents()).join('');
      check(chips.includes('Lily') && chips.includes('park'), `chips spell "${chips.slice(0, 200)}"`);
      await page.screenshot({ path: `${outDir}/stories-02-prompt-dark.png` });
    });

    await test('inline inspection and the logit lens (5 layers) on the story', async () => {
      await tab(page, 'story.mlprompt');
      await page.locator('.statusbar-item', { hasText: / ms · \d+ tok/ }).first().waitFor({ timeout: 90_000 });
      await page.locator('.codelens-decoration a', { hasText: 'MechLens: Logit lens' }).first().click({ timeout: 60_000 });
      await page.locator('.tabs-container .tab', { hasText: 'Logit lens: story.mlprompt' }).waitFor({ timeout: 60_000 });
      const view = await findWebview(page, 'body[data-view="lens"] #heatmap .main-svg', 90_000);
      await view.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
      const ticks = (await view.locator('#heatmap .ytick text').allTextContents()).join(',');
      check(ticks.includes('4_post') || ticks.includes('final_post'), `layer labels "${ticks}"`);
      await page.screenshot({ path: `${outDir}/stories-03-lens-dark.png` });
    });

    await test('attention: the head grid ranks the card\'s strongest previous-token head first', async () => {
      await tab(page, 'story.mlprompt');
      await runCommand(page, 'MechLens: Show Attention');
      await page.locator('.tabs-container .tab', { hasText: 'Attention: story.mlprompt' }).waitFor({ timeout: 60_000 });
      const view = await findWebview(page, 'body[data-view="attention"] #grid .main-svg', 90_000);
      await view.locator('#app[data-ready]').waitFor({ timeout: 90_000 });
      await view.locator('#ranked[data-top-previous_token]').waitFor({ timeout: 60_000 });
      const ranked = ((await view.locator('#ranked').getAttribute('data-top-previous_token')) ?? '').split(',');
      const best = card.heads.previous_token?.[0]?.[0];
      log(`previous-token heads ranked ${ranked.slice(0, 4).join(',')}; card's best ${best}`);
      check(best !== undefined && ranked[0] === best, `grid ranks ${ranked.join(',')}; the card's best previous-token head is ${best}`);
      await view.locator('#arcs svg path').first().waitFor({ timeout: 10_000 });
      await page.screenshot({ path: `${outDir}/stories-04-attention-dark.png` });
    });

    await test('DLA: heads and MLPs of the 5 layers, parts sum to the logit', async () => {
      await tab(page, 'story.mlprompt');
      await page.locator('.codelens-decoration a', { hasText: 'DLA' }).first().click({ timeout: 30_000 });
      await page.locator('.tabs-container .tab', { hasText: 'DLA: story.mlprompt' }).waitFor({ timeout: 60_000 });
      const view = await findWebview(page, 'body[data-view="dla"] #heads .main-svg', 90_000);
      await view.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
      const sum = Number(await view.locator('#sum').getAttribute('data-sum'));
      const logit = Number(await view.locator('#sum').getAttribute('data-logit'));
      check(Number.isFinite(sum) && Math.abs(sum - logit) < 1e-3 * Math.max(1, Math.abs(logit)), `sum of parts ${sum} vs logit ${logit}`);
      const bars = (await view.locator('#parts .ytick text').allTextContents()).join('|');
      check(bars.includes('L4 MLP') && bars.includes('embed'), `bars "${bars}"`);
      await page.screenshot({ path: `${outDir}/stories-05-dla-dark.png` });
      // 5 layers: the heatmap is taller than the plots' minimum; after a resize its heading and the next one stay clear of it.
      const problems = await checkDlaLayout(page, view, [1100, 860, 2200], 1000, (w) => `${outDir}/stories-05-dla-${w}-dark.png`);
      check(problems.length === 0, `the DLA panel's layout: ${problems.join('; ')}`);
    });

    let graph: FrameLocator | undefined;
    await test('an attribution graph of the story with the shipped transcoders; the feature panel reads the shipped dashboards', async () => {
      await tab(page, 'story.mlprompt');
      await runCommand(page, 'View: Close Primary Side Bar').catch(() => undefined);
      await page.locator('.codelens-decoration a', { hasText: 'Attribution graph' }).first().click({ timeout: 60_000 });
      graph = await findWebview(page, 'body[data-view="graph"] #source:has-text("story.graph.json")', 180_000);
      await graph.locator('#app[data-ready]').waitFor({ timeout: 180_000 });
      check(Number(await graph.locator('#app').getAttribute('data-nodes')) > 10, 'the built graph has nodes');
      const status = (await graph.locator('#status').textContent()) ?? '';
      check(status.includes('Once upon a time'), `status names the prompt: "${status.slice(0, 120)}"`);
      await page.screenshot({ path: `${outDir}/stories-06-graph-dark.png` });
      type NodePos = { id: string; kind: string; x: number; y: number };
      const feats = (await graph.locator('#app').evaluate(() => (window as unknown as { mechlensGraph: { positions(): NodePos[] } }).mechlensGraph.positions())).filter((p) => p.kind === 'feature');
      check(feats.length > 0, 'the graph has feature nodes');
      const box = await graph.locator('#graph').boundingBox();
      check(box, 'the graph has a box');
      let shown = false;
      for (const p of feats.slice(0, 8)) {
        await page.mouse.click(box.x + p.x, box.y + p.y);
        await graph.locator(`#details[data-node="${p.id}"]`).waitFor({ timeout: 5_000 });
        await graph.locator('#feature[data-details]').waitFor({ timeout: 60_000 });
        if ((await graph.locator('#feature-contexts .ctx').count()) > 0) {
          shown = true;
          break;
        }
      }
      check(shown, 'a feature of the graph shows top activating contexts');
      const source = (await graph.locator('#feature').getAttribute('data-source')) ?? '';
      log(`feature panel source: ${source}`);
      check(source.startsWith('shipped with stories260K'), `the shipped dashboards are read (${source})`);
      check((await graph.locator('#feature svg.hist rect').count()) > 0, 'the histogram is drawn');
      await graph.locator('#feature').scrollIntoViewIfNeeded();
      await page.waitForTimeout(400);
      await page.screenshot({ path: `${outDir}/stories-07-feature-dark.png` });
    });

    await test('the graph\'s token labels: no two overlap at narrow and wide widths; hover names a token, a click opens its menu', async () => {
      check(graph, 'the graph is open');
      const g = graph;
      await g.locator('#graph').evaluate((e) => e.scrollIntoView({ block: 'end' }));
      for (const width of [1440, 900, 2200]) {
        await page.setViewportSize({ width, height: 1000 });
        await page.waitForTimeout(900);
        const labels = await graphLabels(g);
        const canvasWidth = await g.locator('#graph').evaluate((e) => e.clientWidth);
        log(`at ${width} px (canvas ${canvasWidth} px): ${labels.length} token labels drawn, ${labels.filter((l) => l.angle > 0).length} slanted, ${labels.filter((l) => l.text.endsWith('…')).length} cut`);
        const problems = await graphLabelProblems(g);
        check(problems.length === 0, `token labels at ${width} px: ${problems.slice(0, 5).join('; ')}`);
        check(labels.length >= 2 && labels[labels.length - 1]!.pos === Number(await g.locator('#app').evaluate(() => (window as unknown as { mechlensGraph: { tokens(): unknown[] } }).mechlensGraph.tokens().length)) - 1, `the last token is labelled at ${width} px`);
        await g.locator('#graph').evaluate((e) => e.scrollIntoView({ block: 'end' }));
        await page.waitForTimeout(200);
        await page.screenshot({ path: `${outDir}/stories-07b-graph-labels-${width}-dark.png` });
      }
      await page.setViewportSize({ width: 900, height: 1000 });
      await page.waitForTimeout(900);
      await g.locator('#graph').evaluate((e) => e.scrollIntoView({ block: 'end' }));
      await page.waitForTimeout(200);
      // A token whose label is left out or cut at this width: the hover card names it whole.
      type Tok = { pos: number; text: string; x: number; y: number };
      const tokens = await g.locator('#app').evaluate(() => (window as unknown as { mechlensGraph: { tokens(): Tok[] } }).mechlensGraph.tokens());
      const drawn = new Map((await graphLabels(g)).map((l) => [l.pos, l]));
      const hidden = tokens.find((t) => t.pos > 0 && t.text.trim().length > 1 && (!drawn.has(t.pos) || drawn.get(t.pos)!.text !== drawn.get(t.pos)!.full)) ?? tokens[tokens.length - 1]!;
      const whole = (drawn.get(hidden.pos)?.full ?? hidden.text).trim();
      const box = await g.locator('#graph').boundingBox();
      check(box, 'the graph has a box');
      await page.mouse.move(box.x + hidden.x, box.y + hidden.y);
      await g.locator(`#card[data-token="${hidden.pos}"]`).waitFor({ state: 'visible', timeout: 5_000 });
      const card = (await g.locator('#card .title').textContent()) ?? '';
      log(`hover on position ${hidden.pos} (drawn "${drawn.get(hidden.pos)?.text ?? '(left out)'}"): card "${card}"`);
      check(card.includes(whole), `the card names the token "${whole}": "${card}"`);
      await page.screenshot({ path: `${outDir}/stories-07c-graph-token-hover-dark.png` });
      await page.mouse.click(box.x + hidden.x, box.y + hidden.y);
      await g.locator('#iv-menu').waitFor({ timeout: 30_000 });
      const title = (await g.locator('#iv-menu h3').textContent()) ?? '';
      check(title.includes(whole), `the menu names the token "${whole}": "${title}"`);
      await page.keyboard.press('Escape');
      await g.locator('#iv-menu').waitFor({ state: 'detached', timeout: 5_000 }).catch(() => undefined);
      await page.setViewportSize({ width: 1440, height: 1000 });
      await page.waitForTimeout(600);
    });

    await test('light theme: graph, DLA, lens and attention follow it', async () => {
      await setTheme(page, 'light');
      await findWebview(page, 'body.vscode-light[data-view="graph"]');
      await page.waitForTimeout(800);
      await page.screenshot({ path: `${outDir}/stories-08-graph-light.png` });
      await page.setViewportSize({ width: 900, height: 1000 });
      await page.waitForTimeout(900);
      check((await graphLabelProblems(graph!)).length === 0, 'token labels do not overlap at 900 px in the light theme');
      await graph!.locator('#graph').evaluate((e) => e.scrollIntoView({ block: 'end' }));
      await page.waitForTimeout(200);
      await page.screenshot({ path: `${outDir}/stories-08b-graph-labels-900-light.png` });
      await page.setViewportSize({ width: 1440, height: 1000 });
      await page.waitForTimeout(600);
      for (const [title, view, n] of [['DLA: story.mlprompt', 'dla', '09'], ['Logit lens: story.mlprompt', 'lens', '10'], ['Attention: story.mlprompt', 'attention', '11']] as const) {
        await tab(page, title);
        const frame = await findWebview(page, `body.vscode-light[data-view="${view}"]`);
        await page.waitForTimeout(800);
        await page.screenshot({ path: `${outDir}/stories-${n}-${view}-light.png` });
        if (view === 'dla') {
          const problems = await checkDlaLayout(page, frame, [1000], 1000, (w) => `${outDir}/stories-09-dla-${w}-light.png`);
          check(problems.length === 0, `the DLA panel's layout (light): ${problems.join('; ')}`);
        }
      }
    });

    check(alerts.length === 0, `no alert() ran (saw ${alerts.join(', ')})`);
  } catch (err) {
    results.push({ name: 'stories suite', ok: false, error: err instanceof Error ? err.message : String(err) });
    await page.screenshot({ path: `${outDir}/stories-failure-startup.png` }).catch(() => undefined);
  } finally {
    await browser.close();
  }
  return reportResults('ui-stories', results);
}

exitWith(main());
