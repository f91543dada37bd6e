// The person's settings, kept in this browser (localStorage): single-key shortcuts (WCAG 2.1.4
// lets them be turned off), sound, desktop notifications, and what calls them back.
const KEY = 'rps.settings';
const DEFAULTS = {
  shortcuts: true, // R, P, S throw when focus is not in a text field
  sound: false,
  notifications: false, // the Notification API, once the person allowed it from a click
  sources: { challenge: true, dm: true, mention: true, turn: true, game: true },
  quiet: [], // names (folded) whose challenges, DMs and mentions call nobody back
  computerRound: '', // seconds per round against the computer ('' : the server's), WCAG 2.2.1
};
const listeners = [];

function read() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY)) ?? {};
    return { ...DEFAULTS, ...saved, sources: { ...DEFAULTS.sources, ...saved.sources } };
  } catch {
    return structuredClone(DEFAULTS);
  }
}

let current = read();

export const get = (name) => current[name];

export function set(name, value) {
  current = { ...current, [name]: value };
  try { localStorage.setItem(KEY, JSON.stringify(current)); } catch { /* memory only */ }
  listeners.forEach((fn) => fn(name, value));
}

export const onChange = (fn) => listeners.push(fn);

window.addEventListener('storage', (event) => {
  if (event.key !== KEY) return;
  current = read();
  listeners.forEach((fn) => fn(null));
});
