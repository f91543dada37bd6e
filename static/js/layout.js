// Views: on a phone one panel at a time (Chat, Play, People), chosen in the fixed bottom bar,
// each button with its badge; on a wider screen every panel is on screen at once.
import { $ } from './ui.js';


const PHONE = window.matchMedia('(max-width: 720px)');
const listeners = [];
const buttons = [...document.querySelectorAll('.bottom-bar button[data-view]')];

export const isPhone = () => PHONE.matches;
export const currentView = () => document.body.dataset.view;

/** True when the view is on screen (always on a wider screen). */
export const isShown = (view) => !isPhone() || currentView() === view;

/** Subscribes to view changes: fn(view). */
export const onChange = (fn) => listeners.push(fn);

export function showView(view) {
  if (document.body.dataset.view === view) return;
  document.body.dataset.view = view;
  for (const button of buttons) {
    if (button.dataset.view === view) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  listeners.forEach((fn) => fn(view));
}

/** The count on a view's button ("Play 2"); 0 hides it. */
export function setBadge(view, count, label) {
  const badge = $(`.bottom-bar [data-badge="${view}"]`);
  badge.hidden = !count;
  // the button's name is its text: "Play, 1 waiting for you" (the count is what it shows)
  if (count) badge.replaceChildren(hidden(', '), String(count), hidden(` ${label}`));
  else badge.replaceChildren();
}

const hidden = (text) => Object.assign(document.createElement('span'), { className: 'visually-hidden', textContent: text });

export function initLayout() {
  for (const button of buttons) button.addEventListener('click', () => showView(button.dataset.view));
  PHONE.addEventListener('change', () => listeners.forEach((fn) => fn(currentView())));
}
