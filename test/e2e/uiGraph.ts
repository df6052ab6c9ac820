// UI end-to-end tests of the attribution-graph view (issue 10) in a real VS Code (code-server) in headless
// chromium: the three real graphs open (two as *.graph.json by default, one as plain .json through "Open as
// Attribution Graph"); hover and click latency on the 22,789-link graph from the webview's performance
// measures (p95 ≤ 100 ms; figures in <outDir>/graph-perf.json); pin, group into a supernode, filter,
// relabel (markup stays text), undo, save and reopen with the state restored from qParams; a graph of the
// bundled model built from a prompt file's CodeLens, exported as PNG, SVG and JSON; a malformed file gets a
// message; the feature panel of the built graph (dashboard contexts, search, top inputs and outputs), steering
// a feature until the continuation changes, "Build Feature Dashboards" on a small corpus cancelled and then
// resumed, read by the panel; click-to-patch in the graph canvas (a click on a prompt token under the graph
// opens the intervention menu, the chip shows, the graph is re-run under it and differs, the chip's × brings
// the clean graph back), and a transcoder feature zeroed from the same menu (its node gone in the re-run);
// light and dark screenshots (<outDir>/graph-*.png).
// Usage: node --import tsx test/e2e/uiGraph.ts <port> <extensionPath> <workspaceFolder> <outDir>
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { devPayload, exitWith, findWebview, launchChromium, openFile, reportResults, runCommand, setTheme, setValue, suitePage, suiteRunner, workbenchUrl } from './browser';
import { graphLabelProblems, graphLabels } from './layout';

const [port = '8765', extPath = process.cwd(), folder = process.cwd(), outDir = 'test-results/e2e'] = process.argv.slice(2);
const GRAPHS = join(extPath, '..', 'shared', 'reference', 'graphs');
const t0 = Date.now();
const log = (...a: unknown[]) => console.log(`[ui-graph +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const EVIL = '<img src=x onerror=alert(1)>';

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

/** The graph view whose #source names `file`, once drawn. */
async function graphView(page: Page, file: string): Promise<FrameLocator> {
  const view = await findWebview(page, `body[data-view="graph"] #source:has-text("${file}")`, 60_000);
  await view.locator('#app[data-ready]').waitFor({ timeout: 60_000 });
  return view;
}

interface NodePos {
  id: string;
  kind: string;
  x: number;
  y: number;
}

async function positions(view: FrameLocator): Promise<NodePos[]> {
  return view.locator('#app').evaluate(() => (window as unknown as { mechlensGraph: { positions(): NodePos[] } }).mechlensGraph.positions());
}

/** Page coordinates of a node (the canvas is inside two iframes; boundingBox is in page pixels). */
async function nodePoint(view: FrameLocator, p: NodePos): Promise<{ x: number; y: number }> {
  const box = await view.locator('#graph').boundingBox();
  check(box, 'the graph has a box');
  return { x: box.x + p.x, y: box.y + p.y };
}

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.min(s.length - 1, Math.ceil(q * s.length) - 1))] ?? NaN;
}
const p95 = (values: number[]) => quantile(values, 0.95);

async function saveThrough(page: Page, view: FrameLocator, button: string, file: string): Promise<Buffer> {
  rmSync(file, { force: true });
  await view.locator(button).click();
  const input = page.locator('.quick-input-widget input').filter({ visible: true });
  await input.waitFor({ timeout: 15_000 });
  await page.waitForTimeout(500);
  await input.fill(file);
  await page.keyboard.press('Enter');
  const until = Date.now() + 20_000;
  while (!existsSync(file) && Date.now() < until) await page.waitForTimeout(200);
  check(existsSync(file), `${file} was written`);
  await page.waitForTimeout(300);
  return readFileSync(file);
}

async function main(): Promise<number> {
  mkdirSync(outDir, { recursive: true });
  copyFileSync(join(GRAPHS, 'gemma-2-2b_gemmascope-plt-16k_3plus5.json'), join(folder, 'addition.graph.json'));
  copyFileSync(join(GRAPHS, 'llama-3.2-1b_clt-524k_dallas-austin.json'), join(folder, 'dallas.graph.json'));
  copyFileSync(join(GRAPHS, 'gemma-2-2b_clt-2.5M_meow.json'), join(folder, 'meow.json'));
  writeFileSync(join(folder, 'broken.graph.json'), '{"metadata": {"slug": "x"}, "nodes": []}');
  writeFileSync(join(folder, 'names.mlprompt'), 'When Mary and John went to the store, John gave a drink to');
  // A small corpus for "Build Feature Dashboards": the project's own docs, twice (tens of thousands of tokens).
  mkdirSync(join(folder, 'corpus'), { recursive: true });
  const docs = [join(extPath, 'README.md'), ...readdirSync(join(extPath, 'docs')).filter((n) => n.endsWith('.md')).map((n) => join(extPath, 'docs', n))].map((f) => readFileSync(f, 'utf8')).join('\n\n');
  writeFileSync(join(folder, 'corpus', 'docs-a.txt'), docs);
  writeFileSync(join(folder, 'corpus', 'docs-b.txt'), docs.split('\n').reverse().join('\n'));
  const browser = await launchChromium();
  const { page, alerts } = await suitePage(browser, 1000, /mechlens|webview|Content Security|graph/i);
  const { results, test } = suiteRunner(page, log, (n) => `${outDir}/graph-failure-${n}.png`);

  try {
    await page.goto(workbenchUrl(port, folder, devPayload(port, extPath)));
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    await page.locator('.activitybar [aria-label^="MechLens"]').first().waitFor({ timeout: 90_000 });
    log('workbench up');
    await setTheme(page, 'dark');
    // The side bar takes room from the graph.
    await runCommand(page, 'View: Close Primary Side Bar').catch(() => undefined);

    await test('the 22,789-link graph opens as *.graph.json; hover and click answer within 100 ms (p95)', async () => {
      await openFile(page, 'addition.graph.json');
      const view = await graphView(page, 'addition.graph.json');
      check((await view.locator('#app').getAttribute('data-links')) === '22789', 'all 22,789 links read');
      // A Gemma graph: feature requests need its model. The bundled model loads after activation (the workspace
      // holds a prompt file), and the note names it once it is loaded, also when that happens after the graph opened.
      await view.locator('#status', { hasText: /need the graph’s model \(gemma-2-2b\); the loaded model is mechlens-tiny/ }).waitFor({ timeout: 90_000 });
      const scores = view.locator('#scores');
      const replacement = Number(await scores.getAttribute('data-replacement'));
      check(replacement > 0 && replacement < 1, `replacement score ${replacement}`);
      const shown = await positions(view);
      const features = shown.filter((p) => p.kind === 'feature');
      check(features.length > 50, `${features.length} features drawn`);
      await page.screenshot({ path: `${outDir}/graph-01-addition-dark.png` });
      // Hovers: alternate between nodes spread over the graph.
      const step = Math.max(1, Math.floor(shown.length / 80));
      const targets = shown.filter((_, k) => k % step === 0).slice(0, 80);
      for (const p of targets) {
        const at = await nodePoint(view, p);
        await page.mouse.move(at.x, at.y);
        await page.waitForTimeout(25);
      }
      await view.locator('#card').waitFor({ state: 'visible', timeout: 5_000 });
      await page.screenshot({ path: `${outDir}/graph-02-hover-dark.png` });
      for (const p of features.filter((_, k) => k % Math.max(1, Math.floor(features.length / 30)) === 0).slice(0, 30)) {
        const at = await nodePoint(view, p);
        await page.mouse.click(at.x, at.y);
        await view.locator(`#details[data-node="${p.id}"]`).waitFor({ timeout: 5_000 });
      }
      await page.screenshot({ path: `${outDir}/graph-03-click-dark.png` });
      // (No named functions inside evaluate: tsx would wrap them in a helper the page does not have.)
      const [hover, hoverFrame, click, clickFrame] = await view.locator('#app').evaluate(() =>
        ['graph-hover', 'graph-hover-frame', 'graph-click', 'graph-click-frame'].map((n) => performance.getEntriesByName(n).map((e) => e.duration)),
      );
      const measures = { hover: hover!, hoverFrame: hoverFrame!, click: click!, clickFrame: clickFrame! };
      const figures = Object.fromEntries(Object.entries(measures).map(([k, v]) => [k, { n: v.length, p50: quantile(v, 0.5), p95: p95(v), max: Math.max(...v) }]));
      writeFileSync(join(outDir, 'graph-perf.json'), JSON.stringify({ graph: 'gemma-2-2b_gemmascope-plt-16k_3plus5.json', links: 22789, ...figures }, null, 2));
      log(`latency (ms) on 22,789 links: ${JSON.stringify(figures)}`);
      check(measures.hover.length >= 40 && measures.click.length >= 25, `measured ${measures.hover.length} hovers and ${measures.click.length} clicks`);
      check(p95(measures.hoverFrame) <= 100, `hover p95 ${p95(measures.hoverFrame).toFixed(1)} ms (to the next frame)`);
      check(p95(measures.clickFrame) <= 100, `click p95 ${p95(measures.clickFrame).toFixed(1)} ms (to the next frame)`);
      // Filters: a lower node threshold and an edge threshold show less.
      const before = Number(await view.locator('#app').getAttribute('data-shown-links'));
      await view.locator('#edge-threshold').evaluate((e) => {
        (e as HTMLInputElement).value = '0.05';
        e.dispatchEvent(new Event('input'));
      });
      const after = Number(await view.locator('#app').getAttribute('data-shown-links'));
      check(after < before, `edge threshold 0.05: ${after} links shown, ${before} before`);
    });

    await test('pin, group into a supernode, filter, relabel (markup stays text), undo, save and reopen', async () => {
      await openFile(page, 'dallas.graph.json');
      const view = await graphView(page, 'dallas.graph.json');
      const features = (await positions(view)).filter((p) => p.kind === 'feature');
      const picks = [features[3]!, features[Math.floor(features.length / 2)]!, features[features.length - 2]!];
      for (const p of picks) {
        const at = await nodePoint(view, p);
        await page.keyboard.down('Control');
        await page.mouse.click(at.x, at.y);
        await page.keyboard.up('Control');
        await view.locator(`#pinned li[data-pinned="${p.id}"]`).waitFor({ timeout: 5_000 });
      }
      await view.locator('#sg-scores', { hasText: 'replacement' }).waitFor({ timeout: 5_000 });
      await view.locator(`[data-tick="${picks[0]!.id}"]`).check();
      await view.locator(`[data-tick="${picks[1]!.id}"]`).check();
      await view.locator('#group-name').click();
      await page.keyboard.type('Texas');
      await view.locator('#group').click();
      await view.locator('#pinned li[data-supernode="Texas"]').waitFor({ timeout: 5_000 });
      check((await view.locator('#sg-svg g.group').count()) === 2, 'the subgraph shows the supernode and the lone pinned node');
      const shownAll = Number(await view.locator('#app').getAttribute('data-shown-nodes'));
      await view.locator('#node-threshold').evaluate((e) => {
        (e as HTMLInputElement).value = '0.4';
        e.dispatchEvent(new Event('input'));
      });
      const shownFew = Number(await view.locator('#app').getAttribute('data-shown-nodes'));
      check(shownFew < shownAll, `node threshold 0.4 shows ${shownFew} of ${shownAll} nodes`);
      // Select a node and label it with markup: shown as text, no element made from it.
      const target = picks[2]!;
      // The page below the graph (feature panel, subgraph) is taller than the editor: bring the graph back.
      await view.locator('#graph').evaluate((e) => e.scrollIntoView({ block: 'center' }));
      await page.waitForTimeout(200);
      const at = await nodePoint(view, (await positions(view)).find((p) => p.id === target.id)!);
      await page.mouse.click(at.x, at.y);
      await view.locator(`#details[data-node="${target.id}"]`).waitFor({ timeout: 5_000 });
      // Let the debounced state save (the click) land first, so the label is the last edit to undo.
      await page.waitForTimeout(800);
      await view.locator('#label input').fill(`capital ${EVIL}`);
      await view.locator('#save-label').click();
      await view.locator('#details h2', { hasText: EVIL }).waitFor({ timeout: 10_000 });
      check((await view.locator('#app img, #app script').count()) === 0, 'no element made from the label');
      await view.locator(`#app[data-saved]`).waitFor({ timeout: 10_000 });
      await page.waitForTimeout(600);
      await page.screenshot({ path: `${outDir}/graph-04-subgraph-dark.png` });
      // Undo the label (the document's own undo).
      // A text field in the webview keeps F1 to itself: blur it, then move focus to the workbench.
      await view.locator('#app').evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      await page.locator('.part.statusbar').click({ position: { x: 600, y: 5 } });
      await runCommand(page, 'Undo');
      await view.locator('#details h2', { hasText: EVIL }).waitFor({ state: 'detached', timeout: 10_000 });
      // Set it again (the document changed under the view: it shows the undone state, then the new edit).
      await view.locator('#label input').fill(`capital ${EVIL}`);
      await view.locator('#save-label').click();
      await view.locator('#details h2', { hasText: EVIL }).waitFor({ timeout: 10_000 });
      // A text field in the webview keeps F1 to itself: blur it, then move focus to the workbench.
      await view.locator('#app').evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      await page.locator('.part.statusbar').click({ position: { x: 600, y: 5 } });
      await runCommand(page, 'File: Save');
      // The save writes a megabyte: read the file once it parses and holds the label.
      type Saved = { qParams: Record<string, unknown>; nodes: Array<{ node_id: string; clerp: string }> };
      let saved: Saved | undefined;
      for (const until = Date.now() + 20_000; Date.now() < until && !saved; ) {
        await page.waitForTimeout(300);
        try {
          const s = JSON.parse(readFileSync(join(folder, 'dallas.graph.json'), 'utf8')) as Saved;
          if (s.nodes.some((n) => n.clerp.includes(EVIL))) saved = s;
        } catch {
          // still being written
        }
      }
      check(saved, 'the saved file parses and holds the label');
      log(`saved qParams: ${JSON.stringify(saved.qParams).slice(0, 300)}`);
      check(JSON.stringify(saved.qParams.pinnedIds) === JSON.stringify(picks.map((p) => p.id)), 'pinned ids saved');
      check(JSON.stringify(saved.qParams.supernodes) === JSON.stringify([['Texas', picks[0]!.id, picks[1]!.id]]), 'supernode saved');
      check(saved.qParams.clickedId === target.id && saved.qParams.pruningThreshold === 0.4, 'clicked node and threshold saved');
      check(saved.nodes.find((n) => n.node_id === target.id)?.clerp === `capital ${EVIL}`, 'label saved in clerp');
      // Reopen: the state comes back from the file.
      await runCommand(page, 'View: Close All Editors');
      await openFile(page, 'dallas.graph.json');
      const again = await graphView(page, 'dallas.graph.json');
      await again.locator('#pinned li[data-supernode="Texas"]').waitFor({ timeout: 10_000 });
      await again.locator(`#details[data-node="${target.id}"]`).waitFor({ timeout: 10_000 });
      check((await again.locator('#node-threshold').inputValue()) === '0.4', 'threshold restored');
    });

    await test('a Neuronpedia JSON without the .graph.json name opens with "Open as Attribution Graph"', async () => {
      await openFile(page, 'meow.json');
      await runCommand(page, 'MechLens: Open as Attribution Graph');
      const view = await graphView(page, 'meow.json');
      check((await view.locator('#app').getAttribute('data-nodes')) === '76', 'the 76 nodes of the meow graph');
      await page.screenshot({ path: `${outDir}/graph-05-meow-dark.png` });
    });

    await test('a malformed graph file gets a message naming the problem', async () => {
      await openFile(page, 'broken.graph.json');
      const view = await findWebview(page, 'body[data-view="graph"] #status.error', 30_000);
      const text = (await view.locator('#status').textContent()) ?? '';
      check(/broken\.graph\.json is not an attribution graph file/.test(text), `message "${text}"`);
    });

    await test('a graph of the bundled model from a prompt file\'s CodeLens, exported as PNG, SVG and JSON', async () => {
      await openFile(page, 'names.mlprompt');
      await page.locator('.codelens-decoration a', { hasText: 'Attribution graph' }).first().click({ timeout: 60_000 });
      const view = await graphView(page, 'names.graph.json');
      check(Number(await view.locator('#app').getAttribute('data-nodes')) > 10, 'the built graph has nodes');
      const status = (await view.locator('#status').textContent()) ?? '';
      check(status.includes('When Mary and John'), `status names the prompt: "${status.slice(0, 120)}"`);
      await page.screenshot({ path: `${outDir}/graph-06-built-dark.png` });
      const png = await saveThrough(page, view, '#export-png', join(folder, 'names-graph.png'));
      check(png.subarray(1, 4).toString('latin1') === 'PNG', 'PNG written');
      const svg = await saveThrough(page, view, '#export-svg', join(folder, 'names-graph.svg'));
      check(svg.toString('utf8').startsWith('<svg') && svg.toString('utf8').includes('<circle'), 'SVG written');
      const json = await saveThrough(page, view, '#export-json', join(folder, 'names-graph.json'));
      check((JSON.parse(json.toString('utf8')) as { nodes: unknown[] }).nodes.length > 10, 'JSON written');
    });

    /** Clicks feature nodes of the built graph until one's dashboard shows contexts; that node. */
    const openFeatureWithContexts = async (view: FrameLocator): Promise<NodePos> => {
      const feats = (await positions(view)).filter((p) => p.kind === 'feature');
      check(feats.length > 0, 'the built graph has feature nodes');
      for (const p of feats.slice(0, 8)) {
        const at = await nodePoint(view, p);
        await page.mouse.click(at.x, at.y);
        await view.locator(`#details[data-node="${p.id}"]`).waitFor({ timeout: 5_000 });
        await view.locator('#feature[data-details]').waitFor({ timeout: 60_000 });
        if ((await view.locator('#feature-contexts .ctx').count()) > 0) return p;
      }
      throw new Error('no feature of the graph shows top activating contexts');
    };

    await test('feature panel of the built graph: dashboard contexts shaded, search, top inputs and outputs', async () => {
      const view = await graphView(page, 'names.graph.json');
      const p = await openFeatureWithContexts(view);
      const source = (await view.locator('#feature').getAttribute('data-source')) ?? '';
      check(source.startsWith('shipped with mechlens-tiny'), `the shipped dashboards are read (${source})`);
      check((await view.locator('#feature-contexts .tok.centre').count()) > 0, 'the chosen tokens are marked');
      check((await view.locator('#feature-contexts .tok[style*="background"]').count()) > 0, 'tokens are shaded by activation');
      check((await view.locator('#feature svg.hist rect').count()) > 0, 'the histogram is drawn');
      check((await view.locator('#feature .logits.pos li').count()) > 0, 'top logits listed');
      await view.locator('#feature-inputs').click();
      await view.locator('#inputs-list button').first().waitFor({ timeout: 60_000 });
      await view.locator('#feature-outputs').click();
      await view.locator('#outputs-list button').first().waitFor({ timeout: 60_000 });
      await view.locator('#feature').scrollIntoViewIfNeeded();
      await page.waitForTimeout(400);
      await page.screenshot({ path: `${outDir}/graph-09-feature-dark.png` });
      // Search by token: features that fire on " John" or promote it; a result opens in the panel.
      await view.locator('#feature-search input').fill(' John');
      await view.locator('#feature-search-go').click();
      await view.locator('#feature-search-results[data-count]').waitFor({ timeout: 60_000 });
      check(Number(await view.locator('#feature-search-results').getAttribute('data-count')) > 0, 'the search finds features');
      const chip = view.locator('#feature-search-results .chip[data-feature]').first();
      const wanted = (await chip.getAttribute('data-feature'))!;
      await chip.click();
      await view.locator(`#feature[data-details="${wanted}"]`).waitFor({ timeout: 60_000 });
      log(`feature ${p.id}: ${source}; search " John" opened ${wanted}`);
    });

    await test('steer a feature from the panel: the continuation changes', async () => {
      const view = await graphView(page, 'names.graph.json');
      await openFeatureWithContexts(view);
      await view.locator('#steer-value input').fill('40');
      await view.locator('#feature-steer-add').click();
      await view.locator('#steer-list li[data-steer]').waitFor({ timeout: 5_000 });
      await view.locator('#steer-run').click();
      const result = view.locator('#steer-result[data-changed]');
      await result.waitFor({ timeout: 120_000 });
      const [before, after, changed] = [await result.getAttribute('data-before'), await result.getAttribute('data-after'), await result.getAttribute('data-changed')];
      log(`steering: before ${JSON.stringify(before)} after ${JSON.stringify(after)}`);
      check(changed === 'true' && before !== after, 'the steered continuation differs');
      await view.locator('#steer').scrollIntoViewIfNeeded();
      await page.waitForTimeout(400);
      await page.screenshot({ path: `${outDir}/graph-10-steer-dark.png` });
      // Saved as `mechlens steer --features` reads it, cleared, and loaded back through VS Code's open dialog.
      const file = join(folder, 'names.steering.json');
      const saved = JSON.parse((await saveThrough(page, view, '#steer-save', file)).toString('utf8')) as Array<Record<string, unknown>>;
      check(saved.length === 1 && saved[0]!.value === 40 && Number.isInteger(saved[0]!.layer) && Number.isInteger(saved[0]!.index), `saved steering set ${JSON.stringify(saved)}`);
      await view.locator('#steer-clear').click();
      check((await view.locator('#steer-list li[data-steer]').count()) === 0, 'the steering set is cleared');
      await view.locator('#steer-load').click();
      const input = page.locator('.quick-input-widget input').filter({ visible: true });
      await input.waitFor({ timeout: 15_000 });
      await page.waitForTimeout(500);
      await input.fill(file);
      await page.keyboard.press('Enter');
      await view.locator(`#steer-list li[data-steer="${String(saved[0]!.layer)}/${String(saved[0]!.index)}"]`).waitFor({ timeout: 20_000 });
      log(`steering set saved to and loaded from ${file}`);
    });

    await test('Build Feature Dashboards on a small corpus: cancel, resume, and the panel reads them', async () => {
      const view = await graphView(page, 'names.graph.json');
      // VS Code's own open dialog sometimes drops a keystroke or re-renders its box under a busy machine:
      // the whole pick (palette, menu, dialog) is retried from a closed dialog, up to three times.
      const pickCorpus = async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            await pickCorpusOnce();
            return;
          } catch (err) {
            log(`picking the corpus, attempt ${attempt}: ${String(err).split('\n')[0]}`);
            if (attempt >= 3) throw err;
            await page.keyboard.press('Escape');
            await page.keyboard.press('Escape');
            await page.waitForTimeout(1000);
          }
        }
      };
      const pickCorpusOnce = async () => {
        // Focus may be in the webview, where the palette key can be swallowed: retry from the workbench.
        for (let attempt = 0; ; attempt++) {
          try {
            await view.locator('#app').evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
            await page.locator('.tabs-container .tab.active').first().click();
            await page.keyboard.press('Escape');
            await page.keyboard.press('F1');
            const box = page.locator('.quick-input-widget input').filter({ visible: true });
            await box.waitFor({ timeout: 5_000 });
            await box.fill('>MechLens: Build Feature Dashboards', { timeout: 5_000 });
            await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Build Feature Dashboards' }).first().waitFor({ timeout: 10_000 });
            await page.keyboard.press('Enter');
            break;
          } catch (err) {
            if (attempt >= 2) throw err;
          }
        }
        await page.locator('.quick-input-list .monaco-list-row', { hasText: 'A folder of text files' }).first().click({ timeout: 15_000 });
        // VS Code's own (remote) open dialog. A typed folder name without the trailing slash only selects its
        // row, and the first accept goes into the folder; with the slash the dialog moves into the folder as
        // it is typed, and an accept with no row active takes the folder the box names.
        const dialog = page.locator('.quick-input-widget', { hasText: 'Corpus for the feature dashboards' });
        const input = dialog.locator('input').filter({ visible: true });
        await input.waitFor({ timeout: 15_000 });
        await page.waitForTimeout(500);
        const corpus = `${join(folder, 'corpus')}/`;
        await input.fill(corpus, { timeout: 15_000 });
        // In the folder: its only row is ".." (the dialog lists folders, and it has none).
        const rows = dialog.locator('.quick-input-list .monaco-list-row');
        for (const until = Date.now() + 15_000; Date.now() < until; await page.waitForTimeout(250)) {
          if ((await rows.allTextContents()).map((t) => t.trim()).join('|') === '..') break;
        }
        await page.waitForTimeout(500);
        check((await input.inputValue()) === corpus, `the dialog names the corpus folder (${await input.inputValue()})`);
        await dialog.locator('.monaco-button', { hasText: 'Use as corpus' }).click();
        await dialog.waitFor({ state: 'hidden', timeout: 15_000 });
      };
      // Headless and unfocused, the workbench shows no toasts: read the notification center.
      const center = page.locator('.notifications-center');
      const notification = async (text: string, timeout: number) => {
        if (!(await center.isVisible())) {
          await view.locator('#app').evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
          await page.locator('.tabs-container .tab.active').first().click();
          await runCommand(page, 'Notifications: Show Notifications');
        }
        const row = center.locator('.monaco-list-row', { hasText: text }).first();
        await row.waitFor({ timeout });
        return row;
      };
      await pickCorpus();
      // The progress notification shows the percentage; its Cancel stops the build.
      const progress = await notification('feature dashboards of', 30_000);
      await center.locator('.monaco-list-row', { hasText: 'feature dashboards of' }).filter({ hasText: '%' }).first().waitFor({ timeout: 90_000 });
      await page.screenshot({ path: `${outDir}/graph-11-dashboards-progress-dark.png` });
      await progress.locator('.monaco-button', { hasText: 'Cancel' }).click();
      // The bundled model's four layers are built in one pass: a cancel may keep none of them, and says which.
      const cancelled = (await (await notification('build was cancelled', 30_000)).textContent()) ?? '';
      check(/no layer was finished yet|\d of \d layers are finished and kept/.test(cancelled), `the cancel says what was kept: "${cancelled}"`);
      await pickCorpus();
      const built = (await (await notification('built on corpus', 300_000)).textContent()) ?? '';
      log(`cancelled: "${cancelled.slice(0, 160)}"; then: "${built.slice(0, 160)}"`);
      await view.locator('#feature[data-source^="built on corpus"][data-details]').waitFor({ timeout: 60_000 });
      check((await view.locator('#feature-contexts .ctx, #feature-contexts p').count()) > 0, 'the panel shows the new dashboard');
      await view.locator('#feature').scrollIntoViewIfNeeded();
      await page.waitForTimeout(400);
      await page.screenshot({ path: `${outDir}/graph-12-built-dashboards-dark.png` });
    });

    await test('the inline hover on a prompt token opens the attribution graph of the prompt', async () => {
      await openFile(page, 'names.mlprompt');
      await page.locator('.codelens-decoration a', { hasText: 'Attribution graph' }).first().waitFor({ timeout: 60_000 });
      const word = page.locator('.view-lines span', { hasText: 'store' }).last();
      await word.waitFor({ timeout: 30_000 });
      const link = page.locator('.monaco-hover a', { hasText: 'Open attribution graph' });
      // The inspection may still be running: hover again until its hover (with the link) shows.
      for (let k = 0; k < 10 && !(await link.isVisible()); k++) {
        await page.mouse.move(0, 0);
        await word.hover();
        await page.waitForTimeout(1500);
      }
      await link.click();
      await graphView(page, 'names-2.graph.json');
    });

    await test('click a prompt token under the graph: ablate it, see the chip, re-run the graph under it, remove it', async () => {
      await openFile(page, 'names.graph.json');
      const view = await graphView(page, 'names.graph.json');
      const app = view.locator('#app');
      const cleanNodes = Number(await app.getAttribute('data-nodes'));
      // The token labels are the graph's bottom edge: bring it into the window.
      await view.locator('#graph').evaluate((e) => e.scrollIntoView({ block: 'end' }));
      await page.waitForTimeout(300);
      const tokens = await view.locator('#app').evaluate(() => (window as unknown as { mechlensGraph: { tokens(): Array<{ pos: number; text: string; x: number; y: number }> } }).mechlensGraph.tokens());
      const mary = tokens.find((t) => t.text.replace(/^Ġ/, ' ').trim() === 'Mary');
      check(mary, `a Mary token under the graph (${tokens.map((t) => t.text).join('|')})`);
      const box = await view.locator('#graph').boundingBox();
      check(box, 'the graph has a box');
      await page.mouse.click(box.x + mary.x, box.y + mary.y);
      await view.locator('#iv-menu').waitFor({ timeout: 30_000 });
      await view.locator('#iv-menu vscode-single-select#iv-kind').waitFor();
      await page.waitForTimeout(150);
      const title = (await view.locator('#iv-menu h3').textContent()) ?? '';
      check(title.includes('Mary'), `the menu names the token: "${title}"`);
      await setValue(view, '#iv-kind', 'zero');
      await setValue(view, '#iv-site', 'resid_pre');
      await setValue(view, '#iv-from', '1');
      await setValue(view, '#iv-to', '3');
      const menuBox = await view.locator('#iv-menu').boundingBox();
      check(menuBox && menuBox.y >= 0 && menuBox.y + menuBox.height <= 1000, `the menu is inside the window (${JSON.stringify(menuBox)})`);
      await page.screenshot({ path: `${outDir}/graph-14-token-menu-dark.png` });
      await view.locator('#iv-apply').click();
      const chip = view.locator('#iv-chips .iv-chip');
      await chip.first().waitFor({ timeout: 30_000 });
      const label = (await chip.first().textContent()) ?? '';
      check((await view.locator('#iv-chips').getAttribute('data-count')) === '1' && label.includes('Mary') && label.includes('resid pre'), `one chip naming Mary: "${label}"`);
      // The graph's BOS is not one of the prompt's tokens: the chip names Mary's position in the prompt, as the other views do.
      check(label.includes(`@${mary.pos - 1}`), `the chip names the prompt's position ${mary.pos - 1}: "${label}"`);
      const kl = view.locator('#iv-compare .kl[data-kl]');
      await kl.waitFor({ timeout: 60_000 });
      check(Number(await kl.getAttribute('data-kl')) > 0, 'the comparison shows a KL above 0');
      await view.locator('#rerun').click();
      await view.locator('#app[data-shown="intervened"]').waitFor({ timeout: 120_000 });
      await view.locator('#graph-diff[data-appeared]').waitFor({ timeout: 10_000 });
      const diff = view.locator('#graph-diff');
      const [appeared, disappeared] = [Number(await diff.getAttribute('data-appeared')), Number(await diff.getAttribute('data-disappeared'))];
      const changed = await view.locator('#diff-changed li').count();
      const nodes = Number(await app.getAttribute('data-nodes'));
      log(`under the ablation: ${nodes} nodes (clean ${cleanNodes}), ${appeared} feature nodes appeared, ${disappeared} disappeared, ${changed} changed listed`);
      check(appeared + disappeared > 0 && changed > 0, 'the graph under the ablation differs from the clean one');
      check((await view.locator('#graph-diff').textContent())?.includes('Graph under the interventions'), 'the diff panel says what it shows');
      await page.waitForTimeout(500);
      await page.screenshot({ path: `${outDir}/graph-15-intervened-dark.png` });
      // The canvas under the interventions, down to the token labels (the ablated token underlined).
      await view.locator('#graph').evaluate((e) => e.scrollIntoView({ block: 'end' }));
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${outDir}/graph-16-intervened-canvas-dark.png` });
      await setTheme(page, 'light');
      await findWebview(page, 'body.vscode-light[data-view="graph"] #source:has-text("names.graph.json")');
      await page.waitForTimeout(800);
      await page.screenshot({ path: `${outDir}/graph-17-intervened-canvas-light.png` });
      await view.locator('#app').evaluate(() => window.scrollTo(0, 0));
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${outDir}/graph-18-intervened-light.png` });
      await setTheme(page, 'dark');
      // The document keeps the clean graph: removing the chip brings it back.
      await view.locator('#iv-chips [data-remove]').first().click();
      await view.locator('#app[data-shown="clean"]').waitFor({ timeout: 30_000 });
      check(Number(await app.getAttribute('data-nodes')) === cleanNodes, 'the clean graph is shown again');
      check((await view.locator('#iv-chips').getAttribute('data-count')) === '0', 'no chip left');
    });

    await test('a transcoder feature from the token menu: zeroed, the graph re-run under it has no node for it there', async () => {
      await openFile(page, 'names.graph.json');
      const view = await graphView(page, 'names.graph.json');
      const app = view.locator('#app');
      await view.locator('#graph').evaluate((e) => e.scrollIntoView({ block: 'end' }));
      await page.waitForTimeout(300);
      const tokens = await app.evaluate(() => (window as unknown as { mechlensGraph: { tokens(): Array<{ pos: number; text: string; x: number; y: number }> } }).mechlensGraph.tokens());
      const last = tokens[tokens.length - 1]!;
      const box = await view.locator('#graph').boundingBox();
      check(box, 'the graph has a box');
      await page.mouse.click(box.x + last.x, box.y + last.y);
      await view.locator('#iv-menu').waitFor({ timeout: 30_000 });
      await page.waitForTimeout(150);
      await setValue(view, '#iv-site', 'feature');
      // The host lists the features most active at the token; zero the most active one.
      await view.locator('#iv-factive[data-count]').waitFor({ timeout: 30_000 });
      const options = await view.locator('#iv-factive vscode-option').evaluateAll((els) => els.map((e) => e.getAttribute('value') ?? '').filter((v) => v.includes(':')));
      check(options.length > 0, 'features are active at the last token');
      const acts = (await view.locator('#iv-factive vscode-option').allTextContents()).slice(1).map((t) => Number(t.trim().split(/\s+/).pop()));
      const top = options[acts.indexOf(Math.max(...acts))]!;
      const [layer, index] = top.split(':');
      await setValue(view, '#iv-factive', top);
      await setValue(view, '#iv-fkind', 'zero');
      await page.screenshot({ path: `${outDir}/graph-19-feature-menu-dark.png` });
      await view.locator('#iv-apply').click();
      const chip = view.locator('#iv-chips .iv-chip');
      await chip.first().waitFor({ timeout: 30_000 });
      const label = (await chip.first().textContent()) ?? '';
      check(label.includes(`feature L${layer}#${index}`) && label.includes(`@${last.pos - 1}`), `the chip names the feature and the prompt's position ${last.pos - 1}: "${label}"`);
      const id = `${layer}_${index}_${last.pos}`;
      const wasShown = (await positions(view)).some((p) => p.id === id);
      await view.locator('#rerun').click();
      await view.locator('#app[data-shown="intervened"]').waitFor({ timeout: 120_000 });
      await view.locator('#graph-diff[data-appeared]').waitFor({ timeout: 10_000 });
      const ids = (await positions(view)).map((p) => p.id);
      check(ids.length > 0 && !ids.includes(id), `the zeroed feature ${id} has no node in the re-run graph`);
      const disappeared = Number(await view.locator('#graph-diff').getAttribute('data-disappeared'));
      log(`feature L${layer}#${index} zeroed at the last token (a node of the clean graph: ${wasShown}): ${ids.length} nodes shown, ${disappeared} feature nodes disappeared`);
      if (wasShown) check(disappeared > 0, 'the diff lists the zeroed feature among the disappeared');
      await page.waitForTimeout(500);
      await page.screenshot({ path: `${outDir}/graph-20-feature-intervened-dark.png` });
      await view.locator('#graph').evaluate((e) => e.scrollIntoView({ block: 'end' }));
      await setTheme(page, 'light');
      await findWebview(page, 'body.vscode-light[data-view="graph"] #source:has-text("names.graph.json")');
      await page.waitForTimeout(800);
      await page.screenshot({ path: `${outDir}/graph-21-feature-intervened-light.png` });
      await setTheme(page, 'dark');
      await view.locator('#iv-chips [data-remove]').first().click();
      await view.locator('#app[data-shown="clean"]').waitFor({ timeout: 30_000 });
    });

    await test('narrow and wide: the token labels under the graph never overlap; a click on a token still opens its menu', async () => {
      for (const file of ['names.graph.json', 'dallas.graph.json']) {
        await openFile(page, file);
        const view = await graphView(page, file);
        for (const width of [760, 1100, 1440]) {
          await page.setViewportSize({ width, height: 1000 });
          await page.waitForTimeout(900);
          const problems = await graphLabelProblems(view);
          const labels = await graphLabels(view);
          log(`${file} at ${width} px: ${labels.length} labels drawn, ${labels.filter((l) => l.angle > 0).length} slanted, ${labels.filter((l) => l.text !== l.full).length} cut`);
          check(problems.length === 0, `${file} at ${width} px: ${problems.slice(0, 5).join('; ')}`);
          await view.locator('#graph').evaluate((e) => e.scrollIntoView({ block: 'end' }));
          await page.waitForTimeout(200);
          await page.screenshot({ path: `${outDir}/graph-22-labels-${file.split('.')[0]}-${width}-dark.png` });
        }
      }
      await openFile(page, 'names.graph.json');
      const view = await graphView(page, 'names.graph.json');
      await page.setViewportSize({ width: 760, height: 1000 });
      await page.waitForTimeout(900);
      await view.locator('#graph').evaluate((e) => e.scrollIntoView({ block: 'end' }));
      await page.waitForTimeout(200);
      const tokens = await view.locator('#app').evaluate(() => (window as unknown as { mechlensGraph: { tokens(): Array<{ pos: number; text: string; x: number; y: number }> } }).mechlensGraph.tokens());
      const mary = tokens.find((t) => t.text.replace(/^Ġ/, ' ').trim() === 'Mary');
      check(mary, 'a Mary token under the graph');
      const box = await view.locator('#graph').boundingBox();
      check(box, 'the graph has a box');
      await page.mouse.move(box.x + mary.x, box.y + mary.y);
      await view.locator(`#card[data-token="${mary.pos}"]`).waitFor({ state: 'visible', timeout: 5_000 });
      check(((await view.locator('#card .title').textContent()) ?? '').includes('Mary'), 'the hover card names Mary');
      await page.mouse.click(box.x + mary.x, box.y + mary.y);
      await view.locator('#iv-menu').waitFor({ timeout: 30_000 });
      check(((await view.locator('#iv-menu h3').textContent()) ?? '').includes('Mary'), 'the menu names Mary at 760 px');
      await page.screenshot({ path: `${outDir}/graph-23-token-menu-760-dark.png` });
      await page.keyboard.press('Escape');
      await page.setViewportSize({ width: 1440, height: 1000 });
      await page.waitForTimeout(600);
    });

    await test('light theme: the graph and the subgraph follow it', async () => {
      await setTheme(page, 'light');
      await openFile(page, 'addition.graph.json');
      await graphView(page, 'addition.graph.json');
      await findWebview(page, 'body.vscode-light[data-view="graph"] #source:has-text("addition.graph.json")');
      await page.waitForTimeout(800);
      await page.screenshot({ path: `${outDir}/graph-07-addition-light.png` });
      await openFile(page, 'dallas.graph.json');
      await findWebview(page, 'body.vscode-light[data-view="graph"] #source:has-text("dallas.graph.json")');
      await page.waitForTimeout(800);
      await page.screenshot({ path: `${outDir}/graph-08-dallas-light.png` });
      await openFile(page, 'names.graph.json');
      const names = await findWebview(page, 'body.vscode-light[data-view="graph"] #source:has-text("names.graph.json")');
      await names.locator('#feature').scrollIntoViewIfNeeded();
      await page.waitForTimeout(800);
      await page.screenshot({ path: `${outDir}/graph-13-feature-light.png` });
      await setTheme(page, 'dark');
    });

    check(alerts.length === 0, `no alert() ran (saw ${alerts.join(', ')})`);
  } catch (err) {
    results.push({ name: 'graph suite', ok: false, error: err instanceof Error ? err.message : String(err) });
    await page.screenshot({ path: `${outDir}/graph-failure-startup.png` }).catch(() => undefined);
  } finally {
    await browser.close();
  }
  return reportResults('ui-graph', results);
}

exitWith(main());
