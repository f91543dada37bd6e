// Direct messages: one conversation open at a time, unread counts per name (protocol "Direct
// messages"). The conversation is read from the server (`dm_history`) when opened, so it is the
// same after a reload; live `dm` events are added by id, each once.
import { $, el, showError, timeEl } from './ui.js';
import { request, username } from './connection.js';
import * as store from './storage.js';

const ui = {
  panel: $('#dm'),
  with: $('#dm-with'),
  list: $('#dm-messages'),
  older: $('#dm-older'),
  form: $('#dm-form'),
  input: $('#dm-input'),
  close: $('#dm-close'),
};

let open = null; // the name whose conversation is shown
let oldest = null;
let onUnreadChange = () => {};
const seen = new Set(); // ids of the `dm` events received: each is counted once

const key = (name) => name.toLocaleLowerCase();
const other = (m) => (key(m.from) === key(username() ?? '') ? m.to : m.from);

export const unreadCount = (name) => store.getUnread()[key(name)] ?? 0;

function setUnread(name, count) {
  const unread = store.getUnread();
  if (count) unread[key(name)] = count;
  else delete unread[key(name)];
  store.setUnread(unread);
  onUnreadChange();
}

function messageEl(m) {
  const mine = key(m.from) === key(username() ?? '');
  return el('li', { class: mine ? 'msg mine' : 'msg', dataset: { id: m.id } },
    el('div', { class: 'msg-head' }, el('span', { class: 'msg-name' }, mine ? 'Me' : m.from), timeEl(m.ts)),
    el('p', { class: 'msg-text' }, m.text));
}

/** Puts a message in id order, once. */
function place(m) {
  if (ui.list.querySelector(`li[data-id="${Number(m.id)}"]`)) return;
  const next = [...ui.list.children].find((li) => Number(li.dataset.id) > m.id);
  const pinned = ui.list.scrollHeight - ui.list.scrollTop - ui.list.clientHeight < 60;
  ui.list.insertBefore(messageEl(m), next ?? null);
  if (pinned || !next) ui.list.scrollTop = ui.list.scrollHeight;
}

async function loadPage(before) {
  const payload = before ? { with: open, before } : { with: open };
  const ack = await request('dm_history', payload);
  if (!ack.ok) return showError(ack.error);
  (ack.messages ?? []).forEach(place);
  if (ack.messages?.length) oldest = ack.messages[0].id;
  ui.older.hidden = !ack.has_more;
}

/** Opens the conversation with `name` (a click on a name in the online list). */
export async function openConversation(name) {
  open = name;
  oldest = null;
  ui.with.textContent = name;
  ui.list.replaceChildren();
  ui.panel.hidden = false;
  setUnread(name, 0);
  ui.input.focus();
  await loadPage();
}

function close() {
  open = null;
  ui.panel.hidden = true;
}

async function send(event) {
  event.preventDefault();
  const text = ui.input.value;
  if (!open || !text.trim()) return;
  const to = open;
  const ack = await request('dm', { to, text, client_id: crypto.randomUUID() });
  if (!ack.ok) return showError(ack.error);
  ui.input.value = '';
  if (open === to) place({ id: ack.id, from: username(), to, text, ts: ack.ts });
}

/** `dm` s→c: live, replayed after a resume, or unread after a log-in. */
export function onDm(m) {
  if (!m || !Number.isInteger(m.id) || typeof m.from !== 'string' || typeof m.to !== 'string') return;
  if (seen.has(m.id)) return;
  seen.add(m.id);
  store.noteDmId(m.id); // the resume's cursor: only DMs that came as events move it
  const who = other(m);
  if (open && key(open) === key(who)) {
    place(m);
  } else if (key(m.from) !== key(username() ?? '')) {
    setUnread(who, unreadCount(who) + 1);
  }
}

/** onChange() is called when an unread count changes (the online list shows them). */
export function initDms(onChange) {
  onUnreadChange = onChange;
  ui.form.addEventListener('submit', send);
  ui.close.addEventListener('click', close);
  ui.older.addEventListener('click', () => oldest && loadPage(oldest));
}
