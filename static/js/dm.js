// Direct messages: "Messages", a drawer opened from anywhere, lists every conversation (online
// or not, newest first, unread counts) and shows one at a time (protocol "Direct messages").
// The list comes from the server (`dm_conversations`) after naming, so DMs that waited for a
// log-in are there with their senders gone; live `dm` events update it. A conversation is read
// from the server (`dm_history`) when opened; live `dm` events are added by id, each once.
import { $, el, showError, timeEl, richText, initCounter } from './ui.js';
import { request, username } from './connection.js';
import * as store from './storage.js';

const ui = {
  toggle: $('#messages-toggle'),
  badge: $('#messages-badge'),
  drawer: $('#conversations'),
  close: $('#conversations-close'),
  listView: $('#conversation-list-view'),
  conversations: $('#conversation-list'),
  newForm: $('#new-conversation'),
  newName: $('#new-conversation-name'),
  panel: $('#dm'),
  back: $('#dm-back'),
  with: $('#dm-with'),
  list: $('#dm-messages'),
  older: $('#dm-older'),
  form: $('#dm-form'),
  input: $('#dm-input'),
};

let open = null; // the name whose conversation is shown
let oldest = null;
let returnFocus = null;
let counter = null;
const listeners = { unread: [], dm: [], opened: [] };
const seen = new Set(); // ids of the `dm` events received: each is counted once
const conversations = new Map(); // folded name -> {with, last: {id, from, text, ts} | null}

const key = (name) => name.toLocaleLowerCase();
const mine = (m) => key(m.from) === key(username() ?? '');
const other = (m) => (mine(m) ? m.to : m.from);

/** Subscribes to: unread() after any unread count changes; dm(message, shown) for a DM
 * received; opened(name) when a conversation is shown. */
export const on = (name, fn) => listeners[name].push(fn);

// Two counts per name: what came as `dm` events to this tab and was not opened (kept in the
// tab's storage), and what the server still holds unread (`dm_conversations`: DMs that waited
// past what a log-in sends). A DM is in one or the other: the server marks one read when it
// sends it.
const serverUnread = new Map(); // folded name -> count
const localUnread = (name) => store.getUnread()[key(name)] ?? 0;
export const unreadCount = (name) => localUnread(name) + (serverUnread.get(key(name)) ?? 0);
export const totalUnread = () => Object.values(store.getUnread()).reduce((a, b) => a + b, 0)
  + [...serverUnread.values()].reduce((a, b) => a + b, 0);
export const isOpenWith = (name) => !ui.drawer.hidden && !!open && key(open) === key(name);

function setUnread(name, count) {
  if (!count) serverUnread.delete(key(name));
  const unread = store.getUnread();
  if (count) unread[key(name)] = count;
  else delete unread[key(name)];
  store.setUnread(unread);
  renderList();
  listeners.unread.forEach((fn) => fn());
}

function note(name, last) {
  const known = conversations.get(key(name));
  const received = known?.received ?? [];
  if (known && known.last && last && known.last.id >= last.id) return;
  conversations.set(key(name), { with: name, last: last ?? known?.last ?? null, received });
}

// --- the list of conversations -------------------------------------------------------

function renderList() {
  const total = totalUnread();
  ui.badge.hidden = !total;
  ui.badge.textContent = total ? String(total) : '';
  ui.toggle.setAttribute('aria-label', total ? `Messages, ${total} unread` : 'Messages');
  const rows = [...conversations.values()]
    .sort((a, b) => (b.last?.id ?? 0) - (a.last?.id ?? 0))
    .map(conversationItem);
  if (!rows.length) rows.push(el('li', { class: 'empty' }, 'No conversations yet. Write to someone above, or pick a name in the online list.'));
  const focused = ui.conversations.contains(document.activeElement) ? document.activeElement.dataset.with : null;
  ui.conversations.replaceChildren(...rows);
  if (focused) ui.conversations.querySelector(`button[data-with="${CSS.escape(focused)}"]`)?.focus();
}

function conversationItem(c) {
  const unread = unreadCount(c.with);
  const last = c.last;
  const button = el('button', {
    type: 'button', class: 'conversation', dataset: { with: c.with },
    on: { click: () => openConversation(c.with) },
  }, el('span', { class: 'conversation-name' }, c.with), last ? timeEl(last.ts) : '');
  if (last) button.append(el('span', { class: 'conversation-last' }, `${mine(last) ? 'You: ' : ''}${last.text}`));
  if (unread) button.append(el('span', { class: 'badge' }, String(unread), el('span', { class: 'visually-hidden' }, ' unread')));
  return el('li', {}, button);
}

/** The list from the server: every conversation of this user, online or not. */
export async function loadConversations() {
  const ack = await request('dm_conversations', {});
  if (!ack.ok || !Array.isArray(ack.conversations)) return;
  serverUnread.clear();
  for (const c of ack.conversations) {
    if (typeof c?.with !== 'string') continue;
    note(c.with, c.last ?? null);
    if (Number.isInteger(c.unread) && c.unread > 0 && !isOpenWith(c.with)) serverUnread.set(key(c.with), c.unread);
  }
  renderList();
  listeners.unread.forEach((fn) => fn());
}

// --- the drawer ------------------------------------------------------------------------

export function showDrawer(focusList = true) {
  if (ui.drawer.hidden) returnFocus = document.activeElement;
  ui.drawer.hidden = false;
  ui.toggle.setAttribute('aria-expanded', 'true');
  if (focusList) {
    open = null;
    ui.panel.hidden = true;
    ui.listView.hidden = false;
    renderList();
    (ui.conversations.querySelector('button') ?? ui.newName).focus();
  }
}

export function hideDrawer() {
  if (ui.drawer.hidden) return;
  ui.drawer.hidden = true;
  open = null;
  ui.toggle.setAttribute('aria-expanded', 'false');
  (returnFocus?.isConnected ? returnFocus : ui.toggle).focus();
}

// --- one conversation ------------------------------------------------------------------

// What dmedits.js adds to a DM's line (the "edited" mark, reactions, the menu of your own).
const decorators = [];
/** fn(li, message, own) runs on every DM line drawn; it must replace what it drew before. */
export const addDecorator = (fn) => decorators.push(fn);

function messageEl(m) {
  const own = mine(m);
  const li = el('li', { class: own ? 'msg mine' : 'msg', dataset: { id: m.id } },
    el('div', { class: 'msg-head' }, el('span', { class: 'msg-name' }, own ? 'Me' : m.from), timeEl(m.ts)),
    el('p', { class: 'msg-text' }, ...richText(m.text)));
  li.msg = { ...m };
  decorators.forEach((fn) => fn(li, li.msg, own));
  return li;
}

/** Redraws a shown DM with `patch` (an edit, reactions); `null` removes it (a delete). */
export function updateDm(id, patch) {
  for (const c of conversations.values()) {
    const at = c.received.findIndex((m) => m.id === id);
    if (at >= 0) {
      if (patch === null) c.received.splice(at, 1);
      else c.received[at] = { ...c.received[at], ...patch };
    }
  }
  const li = ui.list.querySelector(`li[data-id="${Number(id)}"]`);
  if (!li) return;
  if (patch === null) li.remove();
  else li.replaceWith(messageEl({ ...li.msg, ...patch }));
}

/** The last DM of yours in the conversation shown, or null. */
export const lastOwnDm = () => [...ui.list.querySelectorAll('li.mine[data-id]')].pop()?.msg ?? null;

/** Puts a message in id order, once. */
function place(m) {
  if (ui.list.querySelector(`li[data-id="${Number(m.id)}"]`)) return;
  const next = [...ui.list.children].find((li) => Number(li.dataset.id) > m.id);
  const pinned = ui.list.scrollHeight - ui.list.scrollTop - ui.list.clientHeight < 60;
  ui.list.insertBefore(messageEl(m), next ?? null);
  if (pinned || !next) ui.list.scrollTop = ui.list.scrollHeight;
}

async function loadPage(before) {
  const name = open;
  const payload = before ? { with: name, before } : { with: name };
  const ack = await request('dm_history', payload);
  if (open !== name) return;
  const received = conversations.get(key(name))?.received ?? [];
  if (!ack.ok && !before && received.length) return; // a guest who left: what came is shown
  if (!ack.ok) return showError(ack.error);
  (ack.messages ?? []).forEach(place);
  if (ack.messages?.length) {
    oldest = ack.messages[0].id;
    note(name, ack.messages[ack.messages.length - 1]);
  }
  ui.older.hidden = !ack.has_more;
}

/** Opens the conversation with `name` (a name in the online list, the list, a toast). */
export async function openConversation(name) {
  showDrawer(false);
  open = name;
  oldest = null;
  ui.with.textContent = name;
  ui.list.replaceChildren();
  ui.listView.hidden = true;
  ui.panel.hidden = false;
  note(name, null);
  conversations.get(key(name)).received.forEach(place);
  setUnread(name, 0);
  listeners.opened.forEach((fn) => fn(name));
  ui.input.focus();
  await loadPage();
  const lastId = Number(ui.list.lastElementChild?.dataset.id);
  if (lastId) request('dm_read', { with: name, id: lastId }); // other devices: read here
}

async function send(event) {
  event.preventDefault();
  const text = ui.input.value;
  if (!open || !text.trim()) return;
  if (counter.tooLong()) return showError(`A message can be at most ${counter.max} characters.`);
  const to = open;
  const ack = await request('dm', { to, text, client_id: crypto.randomUUID() });
  if (!ack.ok) return showError(ack.error);
  ui.input.value = '';
  counter.update();
  const m = { id: ack.id, from: username(), to, text, ts: ack.ts };
  note(to, m);
  if (open === to) place(m);
}

/** `dm` s→c: live, replayed after a resume, or unread after a log-in. */
export function onDm(m) {
  if (!m || !Number.isInteger(m.id) || typeof m.from !== 'string' || typeof m.to !== 'string') return;
  if (seen.has(m.id)) return;
  seen.add(m.id);
  store.noteDmId(m.id); // the resume's cursor: only DMs that came as events move it
  const who = other(m);
  note(who, m);
  conversations.get(key(who)).received.push(m);
  const shown = isOpenWith(who);
  if (shown) {
    place(m);
    renderList();
  } else if (!mine(m)) {
    setUnread(who, localUnread(who) + 1);
  } else {
    renderList();
  }
  if (!mine(m) && !m.replayed) listeners.dm.forEach((fn) => fn(m, shown));
}

/** `dm_read` s→c: this user read the conversation on another tab or device. */
export function onDmRead(read) {
  if (typeof read?.with !== 'string' || isOpenWith(read.with)) return;
  if (unreadCount(read.with)) setUnread(read.with, 0);
}

function startConversation(event) {
  event.preventDefault();
  const name = ui.newName.value.trim();
  if (!name) return ui.newName.focus();
  ui.newName.value = '';
  openConversation(name);
}

export function initDms() {
  counter = initCounter(ui.input, $('#dm-count'));
  ui.form.addEventListener('submit', send);
  ui.newForm.addEventListener('submit', startConversation);
  ui.toggle.addEventListener('click', () => (ui.drawer.hidden ? showDrawer() : hideDrawer()));
  ui.close.addEventListener('click', hideDrawer);
  ui.back.addEventListener('click', () => showDrawer(true));
  ui.older.addEventListener('click', () => oldest && loadPage(oldest));
  ui.drawer.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !event.defaultPrevented) hideDrawer();
  });
  renderList();
}
