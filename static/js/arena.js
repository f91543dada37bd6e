// An arena's page (/arena/<id>): watches the arena over Socket.IO (no name needed) and redraws
// the standings and the podium as the server pushes them (arena_standings).
import { io } from '/vendor/socket.io.esm.min.js';

const article = document.querySelector('[data-arena-id]');
const arenaId = article?.dataset.arenaId;
const STATUS = { upcoming: 'Not started yet.', running: 'Running: standings update live.', finished: 'Finished.' };

function cell(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function draw(arena) {
  document.querySelector('#arena-status').textContent = STATUS[arena.status] ?? arena.status;
  const rows = (arena.standings ?? []).map((p) => {
    const tr = document.createElement('tr');
    tr.append(cell('td', String(p.rank)), cell('th', p.name, { scope: 'row' }),
      cell('td', String(p.score)), cell('td', String(p.played)), cell('td', String(p.wins)),
      cell('td', `${p.streak}${p.on_fire ? ' 🔥' : ''}`));
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement('tr');
    tr.append(cell('td', 'Nobody has joined yet.', { colspan: '6', class: 'empty' }));
    rows.push(tr);
  }
  document.querySelector('#arena-standings tbody').replaceChildren(...rows);
  if (arena.podium) {
    document.querySelector('#podium').hidden = false;
    document.querySelector('#podium-list').replaceChildren(
      ...arena.podium.map((p) => cell('li', `${p.name} · ${p.score} points`)));
  }
}

if (arenaId) {
  const socket = io();
  socket.on('connect', () => {
    socket.emit('arena_watch', { arena_id: arenaId }, (ack) => ack?.ok && draw(ack.arena));
  });
  socket.on('arena_standings', (arena) => arena.arena_id === arenaId && draw(arena));
}
