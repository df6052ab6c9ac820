// The Inspector sidebar: the active prompt's next-token distribution as a compact table with bars.
import { byId, el } from '../common/dom';
import type { PanelHostProtocol, PanelNotifications, PromptView } from '../../src/shared/panelProtocol';
import { connectToHost } from '../common/rpc';
import { renderTopList } from '../common/topList';
import { displayToken } from '../../src/shared/tokenText';

const rpc = connectToHost<PanelHostProtocol, PanelNotifications>();

/** Quick links to the analysis views, for the active editor's prompt (command links the host allows). */
function renderLinks(name: string | null, uri?: string): void {
  let nav = document.getElementById('quick');
  if (!nav) {
    nav = el('nav', { id: 'quick', class: 'quick-links', 'aria-label': 'Open an analysis view' });
    nav.style.margin = '8px 0 4px';
    document.body.insertBefore(nav, byId('app'));
  }
  if (!name) {
    nav.replaceChildren(el('span', { class: 'muted' }, 'Open a prompt file to get the logit lens, attention and DLA views.'));
    return;
  }
  const links: Array<[string, string]> = [
    ['Logit lens', 'mechlens.showLogitLens'],
    ['Attention', 'mechlens.showAttention'],
    ['DLA', 'mechlens.showDla'],
  ];
  const parts: Node[] = [];
  links.forEach(([label, command], i) => {
    if (i > 0) parts.push(document.createTextNode(' · '));
    const args = uri ? `?${encodeURIComponent(JSON.stringify([{ uri }]))}` : '';
    parts.push(el('a', { href: `command:${command}${args}`, 'data-command': command, title: `${label} of ${name}` }, label));
  });
  parts.push(el('span', { class: 'muted', id: 'quick-target' }, ` — ${name}`));
  nav.replaceChildren(...parts);
}

function render(v: PromptView | null): void {
  const app = byId('app');
  if (!v) {
    app.replaceChildren(el('p', { class: 'muted', id: 'empty' }, 'Run "MechLens: Run Prompt" (or "Show Inspector") on an editor to see the model’s next-token distribution here.'));
    return;
  }
  const last = v.tokens[v.tokens.length - 1];
  const tail = v.tokens.slice(-12).map((t) => t.text).join('');
  const prompt = el('p', { class: 'prompt-tail', title: v.text }, `${v.tokens.length > 12 ? '…' : ''}${tail}`);
  const meta = el('p', { class: 'muted' }, `${v.modelName} · ${v.tokens.length} tokens · next after “${last ? displayToken(last.text) : ''}”`);
  const list = el('div', { id: 'top' });
  renderTopList(list, v.top);
  app.replaceChildren(el('h2', {}, 'Next token'), meta, prompt, list);
  app.dataset.tokens = String(v.tokens.length);
}

async function start(): Promise<void> {
  rpc.onNotification({
    'prompt/update': render,
    'editor/active': ({ name, uri }) => renderLinks(name, uri),
  });
  try {
    render(await rpc.call('prompt/get', {}));
  } catch (err) {
    byId('app').replaceChildren(el('p', { class: 'error' }, err instanceof Error ? err.message : String(err)));
  }
}

void start();
