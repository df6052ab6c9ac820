// A top-k table (token, probability, bar) in plain DOM: the accessible, always-present companion of the chart.
import type { TopToken } from '../../src/shared/protocol';
import { el } from './dom';
import { displayToken, formatProb } from '../../src/shared/tokenText';

export function renderTopList(container: HTMLElement, top: readonly TopToken[]): void {
  const table = el('table', { class: 'top-list' });
  const head = el('tr');
  head.append(el('th', {}, 'Token'), el('th', {}, 'Probability'), el('th', { 'aria-hidden': 'true' }));
  table.append(head);
  const max = Math.max(1e-9, ...top.map((t) => t.prob));
  for (const t of top) {
    const row = el('tr', { 'data-token-id': String(t.id) });
    const bar = el('div', { class: 'bar' });
    bar.style.width = `${Math.round((t.prob / max) * 100)}%`;
    const barCell = el('td', { class: 'bar-cell', 'aria-hidden': 'true' });
    barCell.append(bar);
    row.append(el('td', { class: 'tok', title: `id ${t.id}` }, displayToken(t.text)), el('td', { class: 'prob' }, formatProb(t.prob)), barCell);
    table.append(row);
  }
  container.replaceChildren(table);
}
