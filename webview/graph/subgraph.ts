// The pinned subgraph as SVG (a few dozen nodes at most, so DOM elements are cheap and clickable): one box
// per supernode or lone pinned node, placed by its members' mean position (x) and layer (y), links summed
// between boxes and coloured like the main graph. Labels go in through textContent.
import type { GraphModel, Subgraph } from './model';
import { bucketWidth, linkColor, widthBucket } from './model';
import type { GraphColors } from './render';

const NS = 'http://www.w3.org/2000/svg';

function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

export function drawSubgraph(svg: SVGSVGElement, model: GraphModel, sub: Subgraph, colors: GraphColors, onSelect: (node: number) => void): void {
  const width = Math.max(300, svg.clientWidth || 800);
  const height = Math.max(160, svg.clientHeight || 280);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.replaceChildren();
  if (sub.groups.length === 0) return;
  const boxW = 132;
  const boxH = 34;
  const nRows = model.rowLabels.length;
  const px = (x: number) => 8 + boxW / 2 + (x / Math.max(1, model.nPositions - 1)) * (width - boxW - 16);
  const py = (y: number) => height - 8 - boxH / 2 - (y / Math.max(1, nRows - 1)) * (height - boxH - 16);
  // Boxes in the same band are pushed apart left to right.
  const pos = sub.groups.map((g) => ({ x: px(g.x), y: py(g.y) }));
  const order = sub.groups.map((_, i) => i).sort((a, b) => pos[a]!.y - pos[b]!.y || pos[a]!.x - pos[b]!.x);
  for (let k = 1; k < order.length; k++) {
    const a = pos[order[k - 1]!]!;
    const b = pos[order[k]!]!;
    if (Math.abs(a.y - b.y) < boxH && b.x - a.x < boxW + 6) b.x = a.x + boxW + 6;
  }
  const right = Math.max(...pos.map((p) => p.x + boxW / 2 + 8), width);
  svg.setAttribute('viewBox', `0 0 ${right} ${height}`);
  for (const l of sub.links) {
    const a = pos[l.source]!;
    const b = pos[l.target]!;
    const line = svgEl('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y, stroke: linkColor(l.pct, colors.dark), 'stroke-width': bucketWidth(widthBucket(l.pct)) + 0.5, 'stroke-opacity': 0.85 });
    const title = svgEl('title', {});
    title.textContent = `${sub.groups[l.source]!.label} → ${sub.groups[l.target]!.label}: ${l.weight.toPrecision(3)} (${(l.pct * 100).toFixed(1)}% of input)`;
    line.append(title);
    svg.append(line);
  }
  sub.groups.forEach((g, i) => {
    const p = pos[i]!;
    const group = svgEl('g', { class: 'group', 'data-group': i, tabindex: 0 });
    const rect = svgEl('rect', {
      x: p.x - boxW / 2,
      y: p.y - boxH / 2,
      width: boxW,
      height: boxH,
      rx: 5,
      fill: colors.background,
      stroke: g.supernode ? colors.pinned : colors.feature,
      'stroke-width': g.supernode ? 2.5 : 1.2,
    });
    const text = svgEl('text', { x: p.x, y: p.y - 2, 'text-anchor': 'middle' });
    text.textContent = g.label.length > 22 ? `${g.label.slice(0, 21)}…` : g.label;
    const sub2 = svgEl('text', { x: p.x, y: p.y + 11, 'text-anchor': 'middle', 'fill-opacity': 0.7 });
    const first = model.nodes[g.members[0]!]!;
    sub2.textContent = g.supernode ? `${g.members.length} nodes` : first.kind === 'feature' ? `L${first.layer} · pos ${first.position}` : `${first.kind} · pos ${first.position}`;
    const title = svgEl('title', {});
    title.textContent = g.label;
    group.append(rect, text, sub2, title);
    group.addEventListener('click', () => onSelect(g.members[0]!));
    svg.append(group);
  });
}
