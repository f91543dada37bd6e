// The menus on messages and users (report, ignore; delete, mute, kick, ban for
// moderators), hiding ignored users' lines, and moderators' report notices.
import { el, showError } from './ui.js';
import { request, username } from './connection.js';
import { isOpenFor, toggleMenu } from './menu.js';
import { ask } from './dialogs.js';

const IGNORED_KEY = 'rps.ignored';
const MUTE_MINUTES = 10;
const BAN_MINUTES = 24 * 60;

let moderator = false;
let extraUserItems = () => [];
let extraMessageItems = () => []; // edits.js: reply, react
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

function userItems(name) {
  const items = [isIgnored(name)
    ? { label: `Stop ignoring ${name}`, run: () => setIgnored(name, false) }
    : { label: `Ignore ${name}`, run: () => setIgnored(name, true) }];
  items.push(...extraUserItems(name));
  if (moderator) {
    items.push(
      'separator',
      { label: `Mute ${name} for ${MUTE_MINUTES} minutes`, run: () => act('mod_mute', { name, minutes: MUTE_MINUTES }) },
      { label: `Unmute ${name}`, run: () => act('mod_unmute', { name }, () => onSystem(`${name} is no longer muted.`)) },
      { label: `Kick ${name}…`, danger: true, run: () => kick(name) },
      { label: `Ban ${name} for a day…`, danger: true, run: () => ban(name) },
    );
  }
  return items;
}

async function kick(name) {
  const answer = await ask({
    title: `Kick ${name}?`,
    text: `Every connection of ${name} is closed, and ${name} can't come back under this name for a minute. Nobody else is affected.`,
    action: `Kick ${name}`, danger: true, reasonLabel: `Reason, shown to ${name} and in the log (optional)`,
  });
  if (answer) act('mod_kick', withReason({ name }, answer.reason));
}

async function ban(name) {
  const answer = await ask({
    title: `Ban ${name} for a day?`,
    text: `This bans ${name} and the network address ${name} last connected from, for 24 hours. `
      + 'Everyone else on that address (a shared office, school or mobile network) is shut out too, '
      + `and a claimed name ${name} can't be used to log in.`,
    action: `Ban ${name} and the address`, danger: true, reasonLabel: `Reason, shown to ${name} and in the log (optional)`,
  });
  if (answer) act('mod_ban', withReason({ name, minutes: BAN_MINUTES }, answer.reason));
}

const withReason = (payload, reason) => (reason ? { ...payload, reason } : payload);

async function report(id, name) {
  const answer = await ask({
    title: `Report this message from ${name}?`,
    text: 'The moderators online are told, with the message and your reason.',
    action: 'Report', reasonLabel: 'What is wrong with it? (optional)',
  });
  if (!answer) return;
  act('report', answer.reason ? { id, reason: answer.reason } : { id },
    () => onSystem('Thank you: the moderators have been told.'));
}

function messageItems(id, name) {
  const items = [{ label: 'Report this message…', run: () => report(id, name) }, ...extraMessageItems(id, name)];
  if (moderator) items.push({ label: 'Delete this message', danger: true, run: () => act('mod_delete', { id }) });
  return [...items, 'separator', ...userItems(name)];
}

function menuButton(label, entries) {
  const button = el('button', {
    type: 'button', class: 'icon-btn menu-button', 'aria-label': label, 'aria-haspopup': 'menu',
    'aria-expanded': String(isOpenFor(label)), tabindex: '-1',
    on: { click: () => toggleMenu(button, label, entries()) },
  }, '⋯');
  return button;
}

/** The "…" button of a message from someone else (in the message's roving focus). */
export const messageMenuButton = (id, name) =>
  menuButton(`Actions for the message from ${name}`, () => messageItems(id, name));

/** The "…" button of someone online. */
export const userMenuButton = (name) => menuButton(`Actions for ${name}`, () => userItems(name));

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

export function initModeration({ system, ignoredChanged, userItems: more, messageItems }) {
  onSystem = system;
  if (more) extraUserItems = more;
  if (messageItems) extraMessageItems = messageItems;
  onIgnoredChanged = ignoredChanged;
  window.addEventListener('storage', (event) => {
    if (event.key !== IGNORED_KEY) return;
    ignored = readIgnored();
    onIgnoredChanged();
  });
}

export const currentName = username;
