// Claiming a name, the menus on messages and users (report, ignore; delete, mute, kick, ban for
// moderators), hiding ignored users' lines, and moderators' report notices.
import { $, el, showError } from './ui.js';
import { request, username, isNamed } from './connection.js';

const IGNORED_KEY = 'rps.ignored';
const MUTE_MINUTES = 10;
const BAN_MINUTES = 24 * 60;

let moderator = false;
let openMenu = null;
let onSystem = () => {};
let onIgnoredChanged = () => {};

const fold = (name) => String(name).normalize('NFKC').toLocaleLowerCase();

function readIgnored() {
  try { return new Set(JSON.parse(localStorage.getItem(IGNORED_KEY)) ?? []); } catch { return new Set(); }
}

function writeIgnored(set) {
  try { localStorage.setItem(IGNORED_KEY, JSON.stringify([...set])); } catch { /* memory only */ }
}

let ignored = readIgnored();

/** True for a name whose lines this browser hides (kept in localStorage, across tabs). */
export const isIgnored = (name) => typeof name === 'string' && ignored.has(fold(name));
export const isModerator = () => moderator;

/** After naming: moderators get the moderators' items (mod_log answers only moderators). */
export async function checkModerator() {
  const ack = await request('mod_log', { limit: 1 });
  moderator = !!ack.ok;
  document.body.dataset.moderator = moderator ? 'true' : 'false';
}

async function act(event, payload, done) {
  closeMenu();
  const ack = await request(event, payload);
  if (!ack.ok) showError(ack.error);
  else if (done) done(ack);
}

async function setIgnored(name, ignore) {
  const ack = await request(ignore ? 'ignore' : 'unignore', { name });
  // the page hides their lines whatever the server said (they may have left already)
  if (ignore) ignored.add(fold(name));
  else ignored.delete(fold(name));
  writeIgnored(ignored);
  onIgnoredChanged();
  if (!ack.ok && !ack.transient) showError(ack.error);
  onSystem(ignore ? `You are ignoring ${name}: their lines are hidden.` : `You no longer ignore ${name}.`);
}

function closeMenu() {
  if (!openMenu) return;
  const { menu, button } = openMenu;
  openMenu = null;
  menu.remove();
  button.setAttribute('aria-expanded', 'false');
}

function item(label, fn) {
  return el('button', { type: 'button', role: 'menuitem', class: 'menu-item', on: { click: fn } }, label);
}

function userItems(name) {
  const items = [isIgnored(name)
    ? item(`Stop ignoring ${name}`, () => { closeMenu(); setIgnored(name, false); })
    : item(`Ignore ${name}`, () => { closeMenu(); setIgnored(name, true); })];
  if (moderator) {
    items.push(
      item(`Mute ${name} for ${MUTE_MINUTES} minutes`, () => act('mod_mute', { name, minutes: MUTE_MINUTES })),
      item(`Unmute ${name}`, () => act('mod_unmute', { name })),
      item(`Kick ${name}`, () => act('mod_kick', { name })),
      item(`Ban ${name} for a day`, () => act('mod_ban', { name, minutes: BAN_MINUTES })),
    );
  }
  return items;
}

function messageItems(id, name) {
  const items = [item('Report this message', () => act('report', { id, reason: 'Reported from the page' },
    () => onSystem('Thank you: the moderators have been told.')))];
  if (moderator) items.push(item('Delete this message', () => act('mod_delete', { id })));
  return [...items, ...userItems(name)];
}

function toggleMenu(button, label, items) {
  const wasOpen = openMenu?.button === button;
  closeMenu();
  if (wasOpen) return;
  const menu = el('div', { role: 'menu', class: 'menu', 'aria-label': label }, ...items);
  button.after(menu);
  button.setAttribute('aria-expanded', 'true');
  openMenu = { menu, button, label };
  menu.querySelector('button')?.focus();
}

/** Call before the online list is redrawn; call what it returns with the list after. An open
 * user menu moves to the redrawn row's button (or closes if that user left), so someone else
 * joining or leaving doesn't shut the menu under the user's pointer. */
export function keepUserMenu() {
  const kept = openMenu;
  if (!kept) return () => {};
  const focused = kept.menu.contains(document.activeElement) ? document.activeElement : null;
  return (list) => {
    if (openMenu !== kept || kept.button.isConnected) return;
    const button = [...list.querySelectorAll('button.menu-button')]
      .find((b) => b.getAttribute('aria-label') === kept.label);
    if (!button) {
      closeMenu();
      return;
    }
    button.after(kept.menu);
    button.setAttribute('aria-expanded', 'true');
    kept.button = button;
    focused?.focus();
  };
}

/** The "…" button of a message from someone else. */
export function messageMenuButton(id, name) {
  const label = `Actions for the message from ${name}`;
  const button = el('button', {
    type: 'button', class: 'icon-btn menu-button', 'aria-label': label, 'aria-haspopup': 'menu',
    'aria-expanded': 'false', on: { click: () => toggleMenu(button, label, messageItems(id, name)) },
  }, '⋯');
  return button;
}

/** The "…" button of someone online. */
export function userMenuButton(name) {
  const label = `Actions for ${name}`;
  const button = el('button', {
    type: 'button', class: 'icon-btn menu-button', 'aria-label': label, 'aria-haspopup': 'menu',
    'aria-expanded': 'false', on: { click: () => toggleMenu(button, label, userItems(name)) },
  }, '⋯');
  return button;
}

/** `message_deleted {id}`: the line goes from the lobby and the game chat. */
export function onMessageDeleted({ id } = {}) {
  if (!Number.isInteger(id)) return;
  document.querySelectorAll(`#messages li[data-id="${id}"], #game-messages li[data-id="${id}"]`)
    .forEach((li) => li.remove());
}

/** `report_filed`, to moderators. */
export function onReportFiled(r = {}) {
  onSystem(`Report: ${r.reporter} reported a message from ${r.name} ("${r.txt}"): ${r.reason}`);
}

/** The name form's "Claim name" button: claims the current name with the password field. */
function initClaim() {
  const password = $('#password-input');
  $('#claim-name').addEventListener('click', async () => {
    if (!isNamed()) return showError('You are not connected.');
    const ack = await request('claim_name', { password: password.value });
    if (!ack.ok) return showError(ack.error);
    password.value = '';
    onSystem(`You claimed ${ack.username}: log in with its password from any device.`);
    checkModerator();
  });
}

export function initModeration({ system, ignoredChanged }) {
  onSystem = system;
  onIgnoredChanged = ignoredChanged;
  initClaim();
  document.addEventListener('click', (event) => {
    if (openMenu && !openMenu.menu.contains(event.target) && event.target !== openMenu.button) closeMenu();
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && openMenu) {
      const { button } = openMenu;
      closeMenu();
      button.focus();
    }
  });
  window.addEventListener('storage', (event) => {
    if (event.key !== IGNORED_KEY) return;
    ignored = readIgnored();
    onIgnoredChanged();
  });
}

export const currentName = username;
