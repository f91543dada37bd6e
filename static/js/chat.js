// The lobby log: messages, system lines, pending sends, history paging, typing.
import { $, el, timeEl, richText, mentionSpans, initCounter, showError } from './ui.js';
import { request, username, isNamed } from './connection.js';
import * as store from './storage.js';
import { isIgnored, messageMenuButton } from './moderation.js';

const TYPING_IDLE_MS = 3000;
const TYPING_STALE_MS = 8000;

const log = $('#log');
const list = $('#messages');
const olderButton = $('#load-older');
const typingLine = $('#typing');

const pendingEls = new Map(); // client_id -> <li>
const typers = new Map(); // name -> timeout that forgets a silent typer
let maxId = 0;
let hasMore = false;
let loadingOlder = false;

const byId = (id) => list.querySelector(`li[data-id="${Number(id)}"]`);
const oldestId = () => Number(list.querySelector('li[data-id]')?.dataset.id) || null;
const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;

/** Runs fn (which adds to the log) and keeps the view pinned to the bottom if it was. */
function withScroll(fn) {
  const pinned = nearBottom();
  fn();
  if (pinned) log.scrollTop = log.scrollHeight;
}

const listeners = { mention: [] };
const announcer = $('#announcer');

/** Subscribes to: mention(message) - a live line that names you with @. */
export const on = (name, fn) => listeners[name].push(fn);

const mentionsMe = (txt) => !!username() && mentionSpans(String(txt), username()).length > 0;

// What other modules add to a message's line (edits.js: edited mark, quote, reactions, menu).
const decorators = [];
/** fn(li, message, mine) runs on every message line drawn; it must replace what it drew before. */
export const addDecorator = (fn) => decorators.push(fn);

function messageEl(m, mine) {
  const li = plainMessageEl(m, mine);
  li.msg = { ...m };
  decorators.forEach((fn) => fn(li, li.msg, mine));
  return li;
}

/** Redraws a shown message with `patch` (an edit, its reactions); false if it is not shown. */
export function updateMessage(id, patch) {
  const li = byId(id);
  if (!li?.msg) return false;
  const fresh = messageEl({ ...li.msg, ...patch }, li.classList.contains('mine'));
  if (li.classList.contains('replayed')) fresh.classList.add('replayed');
  fresh.tabIndex = li.tabIndex;
  li.replaceWith(fresh);
  return true;
}

/** The line of a shown message, or null. */
export const messageLine = (id) => byId(id);

function plainMessageEl({ name, txt, ts, id }, mine) {
  const state = ts ? timeEl(ts) : el('span', { class: 'msg-state' }, 'sending…');
  const head = el('div', { class: 'msg-head' }, el('span', { class: 'msg-name' }, mine ? 'Me' : name), state);
  if (!mine && id != null && typeof name === 'string') head.append(messageMenuButton(id, name));
  const classes = ['msg', mine && 'mine', !mine && mentionsMe(txt) && 'mentions-me'].filter(Boolean).join(' ');
  const li = el('li', { class: classes, dataset: { ...(id != null ? { id } : {}), ...(name != null ? { name } : {}) } },
    head, el('p', { class: 'msg-text' }, ...richText(String(txt), mine ? null : username())));
  li.msg = { name, txt, ts, id };
  li.querySelectorAll('a').forEach((a) => { a.tabIndex = -1; }); // reached with → (one Tab stop)
  return li;
}

/** After a log-in or a rename: the lines under your name are yours ("Me", no menu), the
 * others' are not, and mentions are of the name you have now. */
export function redrawForName() {
  for (const li of list.querySelectorAll('li[data-id]')) {
    if (!li.msg) continue;
    const fresh = messageEl(li.msg, li.msg.name === username());
    if (li.classList.contains('replayed')) fresh.classList.add('replayed');
    li.replaceWith(fresh);
  }
}

/** A new line, spoken once by screen readers (history and replays are not read out). */
function announce(text) {
  announcer.textContent = '';
  announcer.textContent = text;
}

/** Takes the lines of users this browser ignores out of the log (ignore.js keeps the list). */
export function hideIgnored() {
  list.querySelectorAll('li[data-name]').forEach((li) => { if (isIgnored(li.dataset.name)) li.remove(); });
}

/** Puts a message in id order: new ones at the end (above own unsent ones), gaps in place. */
function place(li, id) {
  if (id == null || id > maxId) {
    list.insertBefore(li, list.querySelector('li.pending'));
  } else {
    const next = [...list.querySelectorAll('li[data-id]')].find((n) => Number(n.dataset.id) > id);
    list.insertBefore(li, next ?? null);
  }
  if (id > maxId) maxId = id;
}

/** A line without a name (seed: entered, left, connection status). */
export function addSystem(txt) {
  withScroll(() => place(el('li', { class: 'msg system' }, el('p', { class: 'msg-text' }, txt))));
}

/** A message from the server: live, replayed or from history. Deduplicated by id. */
export function addMessage(m, { bulk = false } = {}) {
  if (!m || typeof m !== 'object') return;
  if (m.name == null) {
    addSystem(String(m.txt ?? ''));
    if (!bulk) announce(String(m.txt ?? ''));
    return;
  }
  if (m.id != null && byId(m.id)) return;
  store.noteId(m.id);
  if (isIgnored(m.name) && m.name !== username()) return;
  const mine = m.name === username();
  const li = messageEl(m, mine);
  if (m.replayed) li.classList.add('replayed');
  withScroll(() => place(li, m.id));
  forgetTyper(m.name);
  if (bulk || m.replayed) return;
  announce(`${m.name}: ${m.txt}`);
  if (!mine && mentionsMe(m.txt)) listeners.mention.forEach((fn) => fn(m));
}

// Outbox view: own messages are shown at once as "sending…".
export const outboxView = {
  pending(entry) {
    const li = messageEl({ txt: entry.msg, reply_to: entry.quote }, true);
    li.classList.add('pending');
    pendingEls.set(entry.client_id, li);
    withScroll(() => list.append(li));
  },
  sent(entry, ack) {
    const li = pendingEls.get(entry.client_id);
    pendingEls.delete(entry.client_id);
    store.noteId(ack.id);
    if (!li) return;
    if (byId(ack.id)) return li.remove(); // a replay already showed it
    li.classList.remove('pending');
    li.dataset.id = ack.id;
    li.dataset.name = username();
    li.msg = { name: username(), txt: entry.msg, ts: ack.ts ?? Date.now(), id: ack.id, reply_to: entry.quote };
    if (ack.id > maxId) maxId = ack.id;
    li.querySelector('.msg-state').replaceWith(timeEl(ack.ts ?? Date.now()));
    decorators.forEach((fn) => fn(li, li.msg, true));
  },
  failed(entry, error) {
    const li = pendingEls.get(entry.client_id);
    pendingEls.delete(entry.client_id);
    if (!li) return;
    li.classList.replace('pending', 'failed');
    li.querySelector('.msg-state').textContent = `not sent: ${error}`;
  },
};

/** The `history` event after set_username, or an older page. */
export function addHistory({ messages = [], has_more: more = false } = {}) {
  const before = oldestId();
  if (!messages.length || before === null || messages[0].id <= before) hasMore = !!more;
  withScroll(() => messages.forEach((m) => addMessage(m, { bulk: true })));
  olderButton.hidden = !hasMore;
}

/** After a resume into an empty log (a reload): the newest page, as on joining. */
export async function loadLatest() {
  if (oldestId() !== null) return;
  const ack = await request('history', { limit: 50 });
  if (ack.ok) addHistory(ack);
}

/** Fetches the page before the oldest message, keeping the scroll position. */
export async function loadOlder() {
  const before = oldestId();
  if (loadingOlder || !hasMore || !before || !isNamed()) return;
  loadingOlder = true;
  olderButton.disabled = true;
  const ack = await request('history', { before, limit: 50 });
  if (ack.ok) {
    const height = log.scrollHeight;
    const top = log.scrollTop;
    for (const m of [...ack.messages].reverse()) {
      if (byId(m.id) || (isIgnored(m.name) && m.name !== username())) continue;
      list.prepend(messageEl(m, m.name === username()));
    }
    hasMore = !!ack.has_more;
    olderButton.hidden = !hasMore;
    log.scrollTop = top + (log.scrollHeight - height);
  }
  olderButton.disabled = false;
  loadingOlder = false;
}

function renderTyping() {
  const names = [...typers.keys()];
  typingLine.textContent =
    names.length === 0 ? '' :
    names.length === 1 ? `${names[0]} is typing…` :
    names.length === 2 ? `${names[0]} and ${names[1]} are typing…` :
    'Several people are typing…';
}

export function forgetTyper(name) {
  if (!typers.has(name)) return;
  clearTimeout(typers.get(name));
  typers.delete(name);
  renderTyping();
}

/** `typing {name, typing}` from someone else. */
export function showTyping({ name, typing } = {}) {
  if (typeof name !== 'string' || name === username()) return;
  forgetTyper(name);
  if (typing) typers.set(name, setTimeout(() => forgetTyper(name), TYPING_STALE_MS));
  renderTyping();
}

export function clearTyping() {
  [...typers.keys()].forEach(forgetTyper);
}

/** The message box: Enter or Send sends; `typing` goes out on input and stops after 3 s idle. */
export function initComposer(onSend) {
  const form = $('#message-form');
  const input = $('#message');
  let typingSent = false;
  let idle = null;

  function stopTyping() {
    clearTimeout(idle);
    if (typingSent && isNamed()) request('typing', { typing: false });
    typingSent = false;
  }

  input.addEventListener('input', () => {
    if (!isNamed()) return;
    if (!typingSent && input.value) {
      typingSent = true;
      request('typing', { typing: true });
    }
    clearTimeout(idle);
    idle = setTimeout(stopTyping, TYPING_IDLE_MS);
  });

  const counter = initCounter(input, $('#message-count'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    if (counter.tooLong()) {
      showError(`A message can be at most ${counter.max} characters: shorten it or send it in parts.`);
      return;
    }
    stopTyping();
    onSend(text);
    input.value = '';
    counter.update();
    input.focus();
  });

  log.addEventListener('scroll', () => { if (log.scrollTop < 40) loadOlder(); });
  olderButton.addEventListener('click', loadOlder);
}

// One Tab stop for the whole log (roving tabindex): the arrows move between messages, Home and
// End go to the first and last, Enter opens a message's "⋯" menu, → and ← move through its
// links and menu button.
function focusable() {
  return [...list.querySelectorAll('li.msg')];
}

function setRover(target) {
  for (const li of focusable()) li.tabIndex = li === target ? 0 : -1;
}

export function initRovingLog() {
  new MutationObserver(() => { // Tab into the log lands on the newest line, unless you are in it
    const items = focusable();
    if (!list.contains(document.activeElement)) setRover(items[items.length - 1]);
  }).observe(list, { childList: true });
  list.addEventListener('focusin', (event) => {
    const li = event.target.closest('li.msg');
    if (li) setRover(li);
  });
  list.addEventListener('keydown', (event) => {
    const li = event.target.closest?.('li.msg');
    if (!li) return;
    if (event.target !== li) return moveWithin(event, li);
    const items = focusable();
    const at = items.indexOf(li);
    const go = { ArrowUp: at - 1, ArrowDown: at + 1, Home: 0, End: items.length - 1 }[event.key];
    if (go !== undefined) {
      items[Math.max(0, Math.min(items.length - 1, go))]?.focus();
    } else if (event.key === 'Enter') {
      li.querySelector('.menu-button')?.click();
    } else if (event.key === 'ArrowRight') {
      li.querySelector('a, .menu-button, .msg-action')?.focus();
    } else {
      return;
    }
    event.preventDefault();
  });
}

function moveWithin(event, li) {
  const parts = [...li.querySelectorAll('a, .menu-button, .msg-action')];
  const at = parts.indexOf(event.target);
  if (event.key === 'ArrowRight' && at < parts.length - 1) parts[at + 1].focus();
  else if (event.key === 'ArrowLeft') (parts[at - 1] ?? li).focus();
  else if (event.key === 'Escape') li.focus();
  else return;
  event.preventDefault();
}
