// Issue 25 in the direct messages: ↑ on an empty DM box edits your last DM there, your DMs'
// menu deletes them, reactions on any DM; dm_edited, dm_deleted and dm_reactions keep the
// conversation current (protocol "Editing and deleting your messages").
import { $, el, showError } from './ui.js';
import { request, username } from './connection.js';
import * as store from './storage.js';
import * as dm from './dm.js';
import { toggleMenu } from './menu.js';
import { ask } from './dialogs.js';
import { EMOJI } from './edits.js';

const seqs = new Map(); // DM id -> the highest change seq applied
let editing = null; // the id of the DM being edited

function fresh(id, seq) {
  if (!Number.isInteger(seq)) return true;
  store.noteChange(seq);
  if ((seqs.get(id) ?? -1) >= seq) return false;
  seqs.set(id, seq);
  return true;
}

async function react(id, emoji) {
  const ack = await request('react', { id, emoji, dm: true });
  if (!ack.ok) return showError(ack.error);
  onReactions(ack);
}

function menu(button, m, own) {
  const items = [{ label: 'React…', run: () => toggleMenu(button, 'Pick a reaction',
    EMOJI.map((emoji) => ({ label: emoji, run: () => react(m.id, emoji) }))) }];
  if (own) {
    items.push({ label: 'Edit', run: () => startEdit(m) }, 'separator', {
      label: 'Delete…', danger: true, run: async () => {
        const yes = await ask({ title: 'Delete this message?', text: 'It goes for both of you.', action: 'Delete', danger: true });
        if (!yes) return;
        const ack = await request('delete_message', { id: m.id, dm: true });
        if (!ack.ok) showError(ack.error);
        else onDeleted(ack.seq === undefined ? { id: m.id } : { id: m.id, seq: ack.seq });
      },
    });
  }
  return items;
}

dm.addDecorator((li, m, own) => {
  const head = li.querySelector('.msg-head');
  if (m.edited_at) head.append(el('span', { class: 'msg-edited' }, '(edited)'));
  const label = own ? 'Actions for your message' : `Actions for the message from ${m.from}`;
  const button = el('button', {
    type: 'button', class: 'icon-btn menu-button', 'aria-label': label, 'aria-haspopup': 'menu',
    'aria-expanded': 'false', on: { click: () => toggleMenu(button, label, menu(button, m, own)) },
  }, '⋯');
  head.append(button);
  if (Array.isArray(m.reactions) && m.reactions.length) {
    const me = username();
    li.append(el('div', { class: 'reactions', role: 'group', 'aria-label': 'Reactions' },
      ...m.reactions.map((r) => el('button', {
        type: 'button', class: 'reaction', 'aria-pressed': String(r.names.includes(me)),
        'aria-label': `${r.emoji} ${r.count}: ${r.names.join(', ')}`, title: r.names.join(', '),
        on: { click: () => react(m.id, r.emoji) },
      }, `${r.emoji} ${r.count}`))));
  }
});

function startEdit(m) {
  editing = m.id;
  $('#dm-input').value = m.text;
  $('#dm-input').focus();
}

/** `dm_edited {id, text, edited_at, seq}` */
export function onEdited(e = {}) {
  if (Number.isInteger(e.id) && fresh(e.id, e.seq)) dm.updateDm(e.id, { text: e.text, edited_at: e.edited_at });
}

/** `dm_deleted {id, seq}` */
export function onDeleted(e = {}) {
  if (Number.isInteger(e.id) && fresh(e.id, e.seq)) dm.updateDm(e.id, null);
}

/** `dm_reactions {id, reactions, seq}` */
export function onReactions(e = {}) {
  if (Number.isInteger(e.id) && fresh(e.id, e.seq)) dm.updateDm(e.id, { reactions: e.reactions ?? [] });
}

export function initDmEdits() {
  const input = $('#dm-input');
  input.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowUp' && !input.value) {
      const m = dm.lastOwnDm();
      if (!m) return;
      event.preventDefault();
      startEdit(m);
    } else if (event.key === 'Escape' && editing !== null) {
      editing = null;
      input.value = '';
      event.stopPropagation();
    }
  });
  // capture: before dm.js's submit, which sends a new DM
  $('#dm-form').addEventListener('submit', async (event) => {
    if (editing === null) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const id = editing;
    const text = input.value;
    editing = null;
    input.value = '';
    if (!text.trim()) return;
    const ack = await request('edit_message', { id, text, dm: true });
    if (!ack.ok) return showError(ack.error);
    onEdited({ id, text, edited_at: ack.edited_at, seq: ack.seq });
  }, true);
}
