// One place for what needs the person: a challenge, a DM, a mention, your turn in a round, a
// finished game. What they are looking at calls nothing; anything else gets a toast, a count
// in the tab's title and a badge on its icon, a desktop notification while the tab is in the
// background (the Notification API, once allowed from a click in Settings), and a sound if
// wanted. Each kind can be turned off, and so can one person's (Settings, and the user menu).
import { $, el } from './ui.js';
import * as settings from './settings.js';

const BASE_TITLE = document.title;
const ICON = $('link[rel="icon"]');
const BASE_ICON = ICON.href;
const MAX_TOASTS = 4;

const items = new Map(); // key -> {kind, looking, toast, sticky}
const listeners = [];

const fold = (name) => String(name ?? '').normalize('NFKC').toLocaleLowerCase();
const pageSeen = () => document.visibilityState === 'visible' && document.hasFocus();

/** True when the person can see the page (visible and focused). */
export const isPageSeen = pageSeen;
export const isQuiet = (name) => settings.get('quiet').includes(fold(name));

/** Subscribes to count changes: fn(). */
export const onChange = (fn) => listeners.push(fn);
export const count = (kind) => [...items.values()].filter((i) => !kind || i.kind === kind).length;

export function setQuiet(name, quiet) {
  const names = new Set(settings.get('quiet'));
  if (quiet) names.add(fold(name));
  else names.delete(fold(name));
  settings.set('quiet', [...names]);
}

/** Calls the person back, unless they are looking at it or muted it. `looking()` says whether
 * the thing is on screen; `open()` shows it; `actions` are a toast's buttons [{label, run}]. */
export function notify({ key, kind, from = null, title, body = '', looking = () => false, open = () => {}, actions = [], sticky = false }) {
  if (pageSeen() && looking()) return;
  if (!settings.get('sources')[kind] || (from && isQuiet(from))) return;
  resolve(key);
  const item = { kind, looking, sticky, toast: toast(key, title, body, open, actions) };
  items.set(key, item);
  changed();
  if (!pageSeen()) desktopNotification(key, title, body, open);
  if (settings.get('sound')) beep();
}

/** The thing was dealt with (answered, thrown, read): its toast and count go. */
export function resolve(key) {
  const item = items.get(key);
  if (!item) return;
  items.delete(key);
  item.toast?.remove();
  changed();
}

/** Drops what the person now sees (the tab came back, a view or a conversation opened). */
export function recheck() {
  if (!pageSeen()) return;
  for (const [key, item] of items) if (!item.sticky && item.looking()) resolve(key);
}

function changed() {
  const n = items.size;
  document.title = n ? `(${n}) ${BASE_TITLE}` : BASE_TITLE;
  ICON.href = n ? badgeIcon(n) : BASE_ICON;
  listeners.forEach((fn) => fn());
}

/** The favicon with a red count: an SVG data: URL (the CSP allows data: images). */
function badgeIcon(n) {
  const text = n > 9 ? '9+' : String(n);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#5048e5"/>`
    + `<circle cx="44" cy="20" r="20" fill="#d3222a"/><text x="44" y="28" font-family="sans-serif" font-size="24" `
    + `font-weight="700" fill="#fff" text-anchor="middle">${text}</text></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

function toast(key, title, body, open, actions) {
  const region = $('#toasts');
  const close = el('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Dismiss', on: { click: () => resolve(key) } }, '×');
  const buttons = actions.length ? actions : [{ label: 'Show', run: open }];
  const node = el('div', { class: 'toast', role: 'status', dataset: { key } },
    el('div', { class: 'toast-head' }, el('span', { class: 'toast-title' }, title), close),
    body ? el('p', { class: 'toast-body' }, body) : '',
    el('div', { class: 'row' }, ...buttons.map((a, i) => el('button', {
      type: 'button', class: i === 0 ? 'small primary' : 'small',
      on: { click: () => { resolve(key); a.run(); } },
    }, a.label))));
  region.append(node);
  while (region.children.length > MAX_TOASTS) {
    const oldest = region.firstElementChild;
    const oldKey = oldest.dataset.key;
    if (items.get(oldKey)) items.get(oldKey).toast = null;
    oldest.remove();
  }
  return node;
}

function desktopNotification(key, title, body, open) {
  if (!settings.get('notifications') || !('Notification' in window) || Notification.permission !== 'granted') return;
  try {
    const note = new Notification(title, { body, tag: key });
    note.onclick = () => {
      window.focus();
      open();
      note.close();
    };
  } catch { /* some browsers allow notifications only from a service worker */ }
}

let audio = null;

function beep() {
  try {
    audio ??= new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.25);
  } catch { /* no audio */ }
}

// --- the Settings dialog ------------------------------------------------------------------

function initSettings() {
  const dialog = $('#settings-dialog');
  const shortcuts = $('#setting-shortcuts');
  const notifications = $('#setting-notifications');
  const sound = $('#setting-sound');
  const state = $('#notification-state');
  const sources = [...dialog.querySelectorAll('input[data-source]')];
  const computerRound = $('#setting-computer-round');
  const draw = () => {
    shortcuts.checked = settings.get('shortcuts');
    computerRound.value = settings.get('computerRound') ?? '';
    sound.checked = settings.get('sound');
    const permission = 'Notification' in window ? Notification.permission : 'unsupported';
    notifications.checked = settings.get('notifications') && permission === 'granted';
    state.textContent = {
      denied: 'This browser blocks notifications from this site: allow them in its site settings.',
      unsupported: 'This browser has no desktop notifications.',
    }[permission] ?? '';
    for (const box of sources) box.checked = settings.get('sources')[box.dataset.source];
    const quiet = settings.get('quiet');
    $('#quiet-names').textContent = quiet.length ? `Muted people: ${quiet.join(', ')} (unmute them from their menu).` : '';
  };
  $('#settings-open').addEventListener('click', () => {
    draw();
    dialog.showModal();
  });
  shortcuts.addEventListener('change', () => settings.set('shortcuts', shortcuts.checked));
  sound.addEventListener('change', () => settings.set('sound', sound.checked));
  computerRound.addEventListener('change', () => settings.set('computerRound', computerRound.value));
  notifications.addEventListener('change', async () => {
    if (!notifications.checked) return settings.set('notifications', false);
    // asked here, from the person's click, never on load
    const permission = 'Notification' in window ? await Notification.requestPermission() : 'unsupported';
    settings.set('notifications', permission === 'granted');
    draw();
  });
  for (const box of sources) {
    box.addEventListener('change', () => settings.set('sources', { ...settings.get('sources'), [box.dataset.source]: box.checked }));
  }
}

export function initAttention() {
  initSettings();
  document.addEventListener('visibilitychange', recheck);
  window.addEventListener('focus', recheck);
}
