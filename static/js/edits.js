// Your own words (issue 25): editing (↑ on an empty composer), deleting and replying from a
// message's menu, reactions, and the search box. chat.js draws the lines; this module adds to
// each line (the "edited" mark, the quoted line of a reply, the reaction bar, the menu of your
// own messages) and keeps them current (protocol "Editing and deleting your messages").
import { $, el, timeEl, showError } from './ui.js';
import { request, username, isNamed } from './connection.js';
import * as store from './storage.js';
import * as chat from './chat.js';
import { toggleMenu, isOpenFor } from './menu.js';
import { ask } from './dialogs.js';

export const EMOJI = ['👍', '👎', '❤️', '😂', '🎉', '😮', '😢', '😡', '🔥', '👀', '🙏', '✅'];

const seqs = new Map(); // message id -> the highest change seq applied to it
let composing = null; // {mode: 'edit' | 'reply', id, quote}
let openDm = () => {};

const input = () => $('#message');

/** A change with `seq` to message `id` is newer than what the line shows. */
function fresh(id, seq) {
  if (Number.isInteger(seq)) store.noteChange(seq);
  if (!Number.isInteger(seq)) return true;
  if ((seqs.get(id) ?? -1) >= seq) return false;
  seqs.set(id, seq);
  return true;
}

// ---- what each line shows ------------------------------------------------------------------

function quoteEl(q) {
  const text = q.deleted ? 'a deleted message' : `${q.name}: ${q.txt}`;
  return el('button', {
    type: 'button', class: 'msg-quote msg-action', tabindex: '-1',
    'aria-label': q.deleted ? 'Reply to a deleted message' : `Reply to ${q.name}: ${q.txt}. Show it`,
    disabled: q.deleted, on: { click: () => jumpTo(q.id) },
  }, el('span', { 'aria-hidden': 'true' }, '↪ '), text);
}

function reactionBar(id, reactions) {
  const me = username();
  return el('div', { class: 'reactions', role: 'group', 'aria-label': 'Reactions' },
    ...reactions.map((r) => el('button', {
      type: 'button', class: 'reaction msg-action', tabindex: '-1',
      'aria-pressed': String(r.names.includes(me)),
      'aria-label': `${r.emoji} ${r.count}: ${r.names.join(', ')}`, title: r.names.join(', '),
      on: { click: () => react(id, r.emoji) },
    }, `${r.emoji} ${r.count}`)));
}

function ownMenuButton(li, m) {
  const label = 'Actions for your message';
  const button = el('button', {
    type: 'button', class: 'icon-btn menu-button', 'aria-label': label, 'aria-haspopup': 'menu',
    'aria-expanded': String(isOpenFor(label)), tabindex: '-1',
    on: { click: () => toggleMenu(button, label, ownItems(m)) },
  }, '⋯');
  return button;
}

function ownItems(m) {
  return [
    { label: 'Edit', run: () => startEdit(m) },
    ...commonItems(m.id, 'Me', m.txt),
    'separator',
    { label: 'Delete…', danger: true, run: () => remove(m.id) },
  ];
}

function commonItems(id, name, txt) {
  return [
    { label: 'Reply', run: () => startReply(id, name, txt) },
    { label: 'React…', run: () => chooseReaction(id) },
  ];
}

chat.addDecorator((li, m, mine) => {
  li.querySelectorAll('.msg-extra').forEach((n) => n.remove());
  const head = li.querySelector('.msg-head');
  const text = li.querySelector('.msg-text');
  if (m.edited_at) {
    head?.querySelector('time')?.after(el('span', { class: 'msg-edited msg-extra', title: `Edited ${new Date(m.edited_at).toLocaleString()}` }, '(edited)'));
  }
  if (m.reply_to && typeof m.reply_to === 'object') {
    const quote = quoteEl(m.reply_to);
    quote.classList.add('msg-extra');
    text?.before(quote);
  }
  if (Array.isArray(m.reactions) && m.reactions.length && m.id != null) {
    const bar = reactionBar(m.id, m.reactions);
    bar.classList.add('msg-extra');
    li.append(bar);
  }
  if (mine && m.id != null && head && !head.querySelector('.menu-button')) {
    const button = ownMenuButton(li, m);
    button.classList.add('msg-extra');
    head.append(button);
  }
});

// ---- events from the server ----------------------------------------------------------------

/** `message_edited {id, txt, edited_at, seq}` */
export function onEdited(e = {}) {
  if (!Number.isInteger(e.id) || !fresh(e.id, e.seq)) return;
  chat.updateMessage(e.id, { txt: e.txt, edited_at: e.edited_at });
}

/** `reactions {id, reactions, seq}` */
export function onReactions(e = {}) {
  if (!Number.isInteger(e.id) || !fresh(e.id, e.seq)) return;
  chat.updateMessage(e.id, { reactions: e.reactions ?? [] });
}

/** `message_deleted {id, seq}`: moderation.js takes the line away; the cursor moves here. */
export function onDeleted(e = {}) {
  if (Number.isInteger(e.id)) fresh(e.id, e.seq);
  if (composing?.id === e.id) stopComposing();
}

/** The join-time `history`: where this page's change cursor starts. */
export function onHistory(h = {}) {
  if (Number.isInteger(h.last_change) && store.getLastChange() === null) store.noteChange(h.last_change);
}

// ---- actions ---------------------------------------------------------------------------------

async function react(id, emoji) {
  const ack = await request('react', { id, emoji });
  if (!ack.ok) return showError(ack.error);
  onReactions(ack);
}

function chooseReaction(id) {
  const button = chat.messageLine(id)?.querySelector('.menu-button');
  if (!button) return;
  toggleMenu(button, 'Pick a reaction', EMOJI.map((emoji) => ({ label: emoji, run: () => react(id, emoji) })));
}

async function remove(id) {
  const yes = await ask({
    title: 'Delete this message?', text: 'It goes from everyone\'s page and from the history.',
    action: 'Delete', danger: true,
  });
  if (!yes) return;
  const ack = await request('delete_message', { id });
  if (!ack.ok) showError(ack.error);
}

function showComposing(text) {
  const bar = $('#composing');
  bar.hidden = !composing;
  $('#composing-text').textContent = text;
  $('#message-form').dataset.mode = composing?.mode ?? '';
}

function startEdit(m) {
  composing = { mode: 'edit', id: m.id };
  input().value = m.txt;
  showComposing('Editing your message (Esc to cancel)');
  input().focus();
}

function startReply(id, name, txt) {
  composing = { mode: 'reply', id, quote: { id, name: name === 'Me' ? username() : name, txt: String(txt).slice(0, 140) } };
  showComposing(`Replying to ${composing.quote.name}: ${composing.quote.txt}`);
  input().focus();
}

function stopComposing() {
  composing = null;
  showComposing('');
}

/** Shows message `id` in the log (loading the page around it if needed) and focuses it. */
export async function jumpTo(id) {
  let line = chat.messageLine(id);
  if (!line) {
    const ack = await request('history', { before: id + 26, limit: 50 });
    if (ack.ok) ack.messages.forEach((m) => chat.addMessage(m, { bulk: true }));
    line = chat.messageLine(id);
  }
  if (!line) return showError('That message is no longer in the history.');
  line.scrollIntoView({ block: 'center' });
  line.classList.add('highlight');
  setTimeout(() => line.classList.remove('highlight'), 2000);
  line.tabIndex = 0;
  line.focus();
}

// ---- the composer: ↑ edits your last message; a reply or an edit is sent from here ----------

function lastOwn() {
  const mine = [...document.querySelectorAll('#messages li.mine[data-id]')];
  return mine[mine.length - 1]?.msg ?? null;
}

/** Sends replies (through `send(text, replyTo)`) and edits in place of a plain message. */
export function initEdits({ send, openConversation }) {
  openDm = openConversation;
  const form = $('#message-form');
  input().addEventListener('keydown', (event) => {
    if (event.key === 'ArrowUp' && !input().value && !event.altKey && !event.ctrlKey && !event.metaKey) {
      const m = lastOwn();
      if (!m) return;
      event.preventDefault();
      startEdit(m);
    } else if (event.key === 'Escape' && composing) {
      if (composing.mode === 'edit') input().value = '';
      stopComposing();
    }
  });
  $('#composing-cancel').addEventListener('click', () => {
    if (composing?.mode === 'edit') input().value = '';
    stopComposing();
    input().focus();
  });
  // capture: runs before chat.js's submit, which sends a new message
  form.addEventListener('submit', async (event) => {
    if (!composing) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const text = input().value;
    if (!text.trim()) return;
    const current = composing;
    stopComposing();
    input().value = '';
    if (current.mode === 'reply') return send(text, { id: current.id, quote: current.quote });
    const ack = await request('edit_message', { id: current.id, text });
    if (!ack.ok) {
      showError(ack.error);
      return;
    }
    if (fresh(current.id, ack.seq)) chat.updateMessage(current.id, { txt: text, edited_at: ack.edited_at });
  }, true);
  initSearch();
}

export const replyItems = (id, name) => {
  const line = chat.messageLine(id);
  return commonItems(id, name, line?.msg?.txt ?? '');
};

// ---- search ----------------------------------------------------------------------------------

let lastQuery = null;

function hitEl(hit) {
  const who = hit.kind === 'dm' ? `${hit.from} → ${hit.to}` : hit.name;
  const text = hit.kind === 'dm' ? hit.text : hit.txt;
  return el('li', {}, el('button', {
    type: 'button', class: 'search-hit',
    on: { click: () => openHit(hit) },
  }, el('span', { class: 'hit-who' }, who), ' ', timeEl(hit.ts), ' ', el('span', { class: 'hit-text' }, text)));
}

function openHit(hit) {
  if (hit.kind === 'dm') {
    openDm(hit.from === username() ? hit.to : hit.from);
    return;
  }
  jumpTo(hit.id);
}

async function runSearch(q, before = null) {
  if (!isNamed()) return showError('Pick a name before you search.');
  const ack = await request('search', before ? { q, before } : { q });
  const results = $('#search-results');
  const more = $('#search-more');
  if (!ack.ok) return showError(ack.error);
  if (!before) results.replaceChildren();
  ack.hits.forEach((hit) => results.append(hitEl(hit)));
  $('#search-status').textContent = results.children.length
    ? `${results.children.length} found${ack.has_more ? ' so far' : ''}.`
    : 'Nothing found.';
  results.hidden = !results.children.length;
  more.hidden = !ack.has_more;
  lastQuery = { q, before: ack.before };
}

function initSearch() {
  const form = $('#search-form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = $('#search-input').value.trim();
    if (q) runSearch(q);
  });
  $('#search-more').addEventListener('click', () => lastQuery && runSearch(lastQuery.q, lastQuery.before));
}
