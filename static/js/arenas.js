// Arenas in the chat page (protocol "Arenas"): the arenas scheduled or running, each with
// Join / Leave (claimed names play) and a link to its page, where the standings update live.
import { $, el, showError } from './ui.js';
import { socket, request, on as onConnection } from './connection.js';

const ui = { toggle: $('#arenas-toggle'), panel: $('#arenas-panel'), list: $('#arenas-list'), badge: $('#arenas-badge') };
const arenas = new Map(); // arena id -> arena
const joined = new Set(); // arena ids this page joined

const when = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

function draw() {
  const items = [...arenas.values()].sort((a, b) => a.starts_at - b.starts_at).map((a) => {
    const inIt = joined.has(a.arena_id);
    const status = a.status === 'running' ? 'running now' : `starts at ${when(a.starts_at)}`;
    return el('li', { class: 'arena-item' },
      el('span', {}, `Arena, best of ${a.best_of}, ${status}, until ${when(a.ends_at)} · by ${a.created_by}`),
      el('button', { type: 'button', class: inIt ? 'small' : 'small primary',
        on: { click: () => (inIt ? leave(a.arena_id) : join(a.arena_id)) } }, inIt ? 'Leave' : 'Join'),
      el('a', { href: `/arena/${encodeURIComponent(a.arena_id)}`, target: '_blank', rel: 'noopener' }, 'Standings'));
  });
  if (!items.length) items.push(el('li', { class: 'empty' }, 'No arena is scheduled.'));
  ui.list.replaceChildren(...items);
  ui.badge.textContent = arenas.size ? String(arenas.size) : '';
  ui.badge.hidden = !arenas.size;
}

async function load() {
  const ack = await request('arenas', {});
  if (!ack.ok) return;
  arenas.clear();
  for (const a of ack.arenas ?? []) arenas.set(a.arena_id, a);
  draw();
}

async function join(id) {
  const ack = await request('arena_join', { arena_id: id });
  if (!ack.ok) return showError(ack.error);
  joined.add(id);
  draw();
}

async function leave(id) {
  const ack = await request('arena_leave', { arena_id: id });
  if (!ack.ok && ack.code !== 'not_in_arena') return showError(ack.error);
  joined.delete(id);
  draw();
}

export function initArenas() {
  ui.toggle.addEventListener('click', () => {
    const open = ui.toggle.getAttribute('aria-expanded') !== 'true';
    ui.toggle.setAttribute('aria-expanded', String(open));
    ui.panel.hidden = !open;
    if (open) load();
  });
  onConnection('named', load);
  socket.on('arena_scheduled', (a) => { arenas.set(a.arena_id, a); draw(); });
  socket.on('arena_standings', (a) => {
    if (a.status === 'finished') arenas.delete(a.arena_id);
    else if (arenas.has(a.arena_id)) arenas.set(a.arena_id, { ...arenas.get(a.arena_id), status: a.status });
    draw();
  });
}
