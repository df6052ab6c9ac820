// Layout checks the UI suites share: the DLA panel's plots and headings do not overlap (at several window widths,
// after plotly's own resize has run), and the attribution graph's token labels under the canvas do not overlap.
import type { FrameLocator, Page } from 'playwright-core';
import { polygonsOverlap } from '../../webview/graph/tokenLabels';

/**
 * What overlaps in a DLA panel (empty when nothing does): every shown plot's drawing stays inside its element
 * (otherwise what follows it is drawn over it), and no heading meets a plot's drawing or its plot area.
 */
export async function dlaLayoutProblems(view: FrameLocator): Promise<string[]> {
  // A function body as text: tsx would wrap named inner functions in a helper the page does not have.
  return view.locator('#app').evaluate(
    new Function(`
      const box = (e) => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
      const meet = (a, b) => a[0] < b[2] - 1 && b[0] < a[2] - 1 && a[1] < b[3] - 1 && b[1] < a[3] - 1;
      const problems = [];
      const drawn = [];
      for (const id of ['heads', 'parts']) {
        const node = document.getElementById(id);
        const svg = node && node.querySelector('.main-svg');
        if (!node || !svg || node.closest('[hidden]')) continue;
        const n = box(node); const s = box(svg);
        if (s[3] > n[3] + 1 || s[1] < n[1] - 1) problems.push('#' + id + ' is drawn ' + Math.round(s[1]) + '-' + Math.round(s[3]) + ' px but its element is ' + Math.round(n[1]) + '-' + Math.round(n[3]) + ' px');
        drawn.push(['#' + id, s]);
        const area = node.querySelector('.nsewdrag');
        if (area) drawn.push(['#' + id + ' plot area', box(area)]);
      }
      for (const h of document.querySelectorAll('#app h1, #app h2')) {
        const hb = box(h);
        for (const [name, b] of drawn) if (meet(hb, b)) problems.push('heading "' + h.textContent + '" ' + hb.map(Math.round).join(',') + ' overlaps ' + name + ' ' + b.map(Math.round).join(','));
      }
      return problems;
    `) as () => string[],
  );
}

/**
 * Checks the DLA panel at each window width (narrow ones wrap the plots under each other), after plotly's
 * resize (100 ms after the window's) has run; a screenshot at each when `shot` names them. Back to 1440 px after.
 */
export async function checkDlaLayout(page: Page, view: FrameLocator, widths: number[], height: number, shot?: (width: number) => string): Promise<string[]> {
  const problems: string[] = [];
  for (const width of widths) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(900);
    for (const p of await dlaLayoutProblems(view)) problems.push(`at ${width} px: ${p}`);
    if (shot) {
      // The heatmap and the heading after it in the window (the check above does not depend on scrolling).
      await view.locator('#heads-box').evaluate((e) => e.scrollIntoView({ block: 'start' }));
      await page.waitForTimeout(200);
      await page.screenshot({ path: shot(width) });
      await view.locator('#app').evaluate(() => window.scrollTo(0, 0));
    }
  }
  await page.setViewportSize({ width: 1440, height });
  await page.waitForTimeout(900);
  for (const p of await dlaLayoutProblems(view)) problems.push(`back at 1440 px: ${p}`);
  return problems;
}

export interface GraphLabel {
  pos: number;
  /** The text drawn, and the whole token (they differ when the label is cut with …). */
  text: string;
  full: string;
  angle: number;
  corners: Array<[number, number]>;
}

export async function graphLabels(view: FrameLocator): Promise<GraphLabel[]> {
  return view.locator('#app').evaluate(() => (window as unknown as { mechlensGraph: { labels(): GraphLabel[] } }).mechlensGraph.labels());
}

/** Pairs of the graph's token labels whose drawn boxes overlap, and labels running past the canvas's right edge. */
export async function graphLabelProblems(view: FrameLocator): Promise<string[]> {
  const labels = await graphLabels(view);
  const width = await view.locator('#graph').evaluate((e) => e.clientWidth);
  const problems: string[] = [];
  for (let i = 0; i < labels.length; i++) {
    const a = labels[i]!;
    if (a.corners.some(([x]) => x > width + 1)) problems.push(`label ${a.pos} "${a.text}" runs past the canvas (${width} px)`);
    for (let j = i + 1; j < labels.length; j++) {
      const b = labels[j]!;
      if (polygonsOverlap(a.corners, b.corners)) problems.push(`labels ${a.pos} "${a.text}" and ${b.pos} "${b.text}" overlap`);
    }
  }
  return problems;
}
