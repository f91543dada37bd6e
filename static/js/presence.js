// Who is online: the `users` ack on connect, then `presence` pushes.
import { $, el } from './ui.js';
import { request, username } from './connection.js';
import { userMenuButton } from './moderation.js';
import { place as placeMenu } from './menu.js';
import { openConversation, unreadCount } from './dm.js';

const listEl = $('#online-list');
const countEl = $('#online-count');

let users = [];
let count = 0;
let challengeFn = () => {};
let canChallenge = true;

const byName = (a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' });

function userItem(name) {
  const mine = name === username();
  const unread = mine ? 0 : unreadCount(name);
  const label = unread ? `Messages with ${name}, ${unread} unread` : `Messages with ${name}`;
  const shown = mine
    ? el('span', { class: 'user-name' }, name)
    : el('button', {
      type: 'button', class: 'user-name', 'aria-label': label, title: 'Send a direct message',
      on: { click: () => openConversation(name) },
    }, name);
  const avatar = el('span', { class: 'avatar', 'aria-hidden': 'true' }, name.slice(0, 1).toUpperCase());
  if (unread) avatar.append(el('span', { class: 'unread' }, String(unread))); // named by the button
  const li = el('li', { class: mine ? 'user me' : 'user', dataset: { name } }, avatar, shown);
  if (mine) {
    li.append(el('span', { class: 'tag' }, 'you'));
  } else {
    li.append(el('span', { class: 'user-actions' }, el('button', {
      type: 'button', class: 'small challenge', 'aria-label': `Challenge ${name}`, title: `Challenge ${name}`,
      disabled: !canChallenge, on: { click: () => challengeFn(name) },
    }, el('span', { 'aria-hidden': 'true' }, '✊')), userMenuButton(name)));
  }
  return li;
}

/** The names online, except yours (mention completion). */
export const names = () => users.filter((u) => u !== username());

// One Tab stop for the whole list (WCAG, the roving tabindex of issue 23): Up and Down move
// between people (keeping the column), Left and Right between a person's buttons, Home and End
// to the first and last; the stop stays on the person (and button) last focused across redraws.
let rover = { name: null, column: 0 };

const controls = (li) => [...li.querySelectorAll('button:not(:disabled)')];
const rows = () => [...listEl.querySelectorAll('li.user')].filter((li) => controls(li).length);

function applyRover(focus = false) {
  for (const button of listEl.querySelectorAll('button')) button.tabIndex = -1;
  const all = rows();
  const li = all.find((row) => row.dataset.name === rover.name) ?? all[0];
  if (!li) return;
  rover.name = li.dataset.name;
  const parts = controls(li);
  const target = parts[Math.min(rover.column, parts.length - 1)];
  target.tabIndex = 0;
  if (focus) target.focus();
}

function roveKeys(event) {
  const li = event.target.closest?.('li.user');
  if (!li) return;
  const all = rows();
  const at = all.indexOf(li);
  const parts = controls(li);
  const column = Math.max(0, parts.indexOf(event.target));
  const row = { ArrowUp: at - 1, ArrowDown: at + 1, Home: 0, End: all.length - 1 }[event.key];
  if (row !== undefined) {
    const next = all[Math.max(0, Math.min(all.length - 1, row))];
    rover = { name: next.dataset.name, column };
  } else if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') {
    const step = event.key === 'ArrowRight' ? 1 : -1;
    rover = { name: li.dataset.name, column: Math.max(0, Math.min(parts.length - 1, column + step)) };
  } else {
    return;
  }
  event.preventDefault();
  applyRover(true);
}

export function render() {
  countEl.textContent = String(count);
  const hadFocus = listEl.contains(document.activeElement);
  listEl.replaceChildren(...users.map(userItem));
  applyRover(hadFocus && !document.querySelector('[role="menu"]'));
  placeMenu(); // an open menu stays open, beside its redrawn button
}

/** onChallenge(name) is called by a user's Challenge button. */
export function initPresence(onChallenge) {
  challengeFn = onChallenge;
  listEl.addEventListener('keydown', roveKeys);
  listEl.addEventListener('focusin', (event) => {
    const li = event.target.closest('li.user');
    if (!li) return;
    rover = { name: li.dataset.name, column: Math.max(0, controls(li).indexOf(event.target)) };
    applyRover();
  });
}

/** The whole list, page by page: one answer holds as many names as fit in a frame. */
export async function refreshUsers() {
  const all = [];
  let total;
  let payload = {};
  for (;;) {
    const ack = await request('users', payload);
    if (!ack.ok || !Array.isArray(ack.users)) return;
    all.push(...ack.users);
    total = ack.count;
    if (!ack.has_more || !ack.users.length) break;
    payload = { after: ack.users[ack.users.length - 1] };
  }
  users = all.sort(byName);
  count = total ?? users.length;
  render();
}

/** `presence {action, name, old_name?, count}` */
export function applyPresence({ action, name, old_name: oldName, count: total } = {}) {
  if (typeof name !== 'string') return;
  users = users.filter((u) => u !== name && u !== oldName);
  if (action === 'join' || action === 'rename') users.push(name);
  users.sort(byName);
  count = Number.isInteger(total) ? total : users.length;
  render();
}

/** Challenge buttons are disabled while the user plays. */
export function setChallengeEnabled(enabled) {
  if (enabled === canChallenge) return;
  canChallenge = enabled;
  render();
}

export function clearPresence() {
  users = [];
  count = 0;
  render();
}
