// Action menus in the top layer (the Popover API), placed beside their button and kept inside
// the viewport, so no panel's overflow clips them. Keyboard as in the WAI-ARIA menu button
// pattern: arrows, Home and End move, Escape and Tab close, focus returns to the button.
import { el } from './ui.js';

let open = null; // {menu, button, label}

const items = (menu) => [...menu.querySelectorAll('[role="menuitem"]')];

/** The button of the open menu, looked up by its label (lists redraw their buttons). */
function buttonOf(state) {
  if (state.button.isConnected) return state.button;
  const found = [...document.querySelectorAll('button[aria-haspopup="menu"]')]
    .find((b) => b.getAttribute('aria-label') === state.label);
  if (found) state.button = found;
  return found ?? null;
}

export const isOpenFor = (label) => open?.label === label;

export function closeMenu({ focusButton = false } = {}) {
  if (!open) return;
  const state = open;
  open = null;
  const button = buttonOf(state);
  button?.setAttribute('aria-expanded', 'false');
  const hadFocus = state.menu.contains(document.activeElement);
  state.menu.hidePopover?.();
  state.menu.remove();
  if ((focusButton || hadFocus) && button) button.focus();
}

/** Puts the open menu below (or above) its button, inside the viewport. */
export function place() {
  if (!open) return;
  const button = buttonOf(open);
  if (!button) return closeMenu();
  button.setAttribute('aria-expanded', 'true');
  const margin = 8;
  const b = button.getBoundingClientRect();
  const { menu } = open;
  const w = menu.offsetWidth;
  const h = menu.offsetHeight;
  let left = Math.min(b.right - w, window.innerWidth - w - margin);
  left = Math.max(margin, left);
  let top = b.bottom + 4;
  if (top + h > window.innerHeight - margin) top = Math.max(margin, b.top - h - 4);
  menu.style.left = `${Math.round(left)}px`;
  menu.style.top = `${Math.round(top)}px`;
}

/** Opens (or, for the same button, closes) a menu of [{label, run, danger}] or 'separator'. */
export function toggleMenu(button, label, entries) {
  const wasOpen = open && buttonOf(open) === button;
  closeMenu();
  if (wasOpen) return;
  const menu = el('div', { role: 'menu', class: 'menu', 'aria-label': label, popover: 'manual' });
  for (const entry of entries) {
    if (entry === 'separator') {
      menu.append(el('div', { role: 'separator', class: 'menu-sep' }));
      continue;
    }
    menu.append(el('button', {
      type: 'button', role: 'menuitem', tabindex: '-1', class: entry.danger ? 'menu-item danger' : 'menu-item',
      on: { click: () => { closeMenu({ focusButton: true }); entry.run(); } },
    }, entry.label));
  }
  // in the button's landmark (screen readers list it there); the top layer draws it unclipped
  (button.closest('main, nav, header, section') ?? document.body).append(menu);
  menu.showPopover?.();
  open = { menu, button, label };
  place();
  items(menu)[0]?.focus();
  menu.addEventListener('keydown', onMenuKey);
}

function onMenuKey(event) {
  const list = items(open.menu);
  const at = list.indexOf(document.activeElement);
  const go = (i) => list[(i + list.length) % list.length]?.focus();
  switch (event.key) {
    case 'ArrowDown': go(at + 1); break;
    case 'ArrowUp': go(at - 1); break;
    case 'Home': go(0); break;
    case 'End': go(list.length - 1); break;
    case 'Escape': closeMenu({ focusButton: true }); break;
    case 'Tab': closeMenu({ focusButton: true }); break;
    default: {
      if (event.key.length !== 1) return;
      const key = event.key.toLocaleLowerCase(); // type-ahead: the next item starting so
      const next = [...list.slice(at + 1), ...list.slice(0, at + 1)]
        .find((item) => item.textContent.trim().toLocaleLowerCase().startsWith(key));
      next?.focus();
    }
  }
  event.preventDefault();
  event.stopPropagation(); // R, P and S here pick an item, never throw
}

document.addEventListener('pointerdown', (event) => {
  if (!open || open.menu.contains(event.target) || buttonOf(open)?.contains(event.target)) return;
  closeMenu();
});
window.addEventListener('resize', place);
document.addEventListener('scroll', place, true);
