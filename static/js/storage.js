// Session-scoped persistence: survives reloads of this tab, not other tabs.
const KEYS = {
  token: 'rps.token', lastId: 'rps.lastId', name: 'rps.name', pending: 'rps.pending',
  dmLastId: 'rps.dmLastId', lastChange: 'rps.lastChange', unread: 'rps.unread', claimed: 'rps.claimed',
};

function read(key) {
  try { return sessionStorage.getItem(key); } catch { return null; }
}

function write(key, value) {
  try {
    if (value === null || value === undefined) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, String(value));
  } catch { /* storage disabled: keep working in memory only */ }
}

export const getToken = () => read(KEYS.token);
export const setToken = (token) => write(KEYS.token, token);

export function getLastId() {
  const n = Number(read(KEYS.lastId));
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** Remembers the highest message id seen. */
export function noteId(id) {
  if (Number.isInteger(id) && id > (getLastId() ?? 0)) write(KEYS.lastId, id);
}

export const getName = () => read(KEYS.name);
export const setName = (name) => write(KEYS.name, name);

export function getPending() {
  try { return JSON.parse(read(KEYS.pending)) ?? []; } catch { return []; }
}

export const setPending = (list) => write(KEYS.pending, list.length ? JSON.stringify(list) : null);

export function getDmLastId() {
  const n = Number(read(KEYS.dmLastId));
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** Remembers the highest direct message id received (auth.dm_last_id on a resume). */
export function noteDmId(id) {
  if (Number.isInteger(id) && id > (getDmLastId() ?? 0)) write(KEYS.dmLastId, id);
}

/** Unread direct messages per name (lower-cased): {name: count}. */
export function getUnread() {
  try { return JSON.parse(read(KEYS.unread)) ?? {}; } catch { return {}; }
}

export const setUnread = (counts) => write(KEYS.unread, Object.keys(counts).length ? JSON.stringify(counts) : null);

/** The claimed name this tab holds (claimed here, or logged in to), or null. */
export const getClaimed = () => read(KEYS.claimed);
export const setClaimed = (name) => write(KEYS.claimed, name);

// This browser's device tokens, one per claimed name (localStorage: every tab, kept across
// visits). A device token opens nothing; it keeps strangers' password guesses from locking
// this device out (protocol `set_username`, "device token").
const deviceKey = (name) => `rps.device.${String(name).toLocaleLowerCase()}`;

export function getDevice(name) {
  try { return localStorage.getItem(deviceKey(name)); } catch { return null; }
}

export function setDevice(name, device) {
  if (typeof device !== 'string' || !device) return;
  try { localStorage.setItem(deviceKey(name), device); } catch { /* memory only */ }
}

/** The highest change `seq` seen (edits, deletes, reactions): auth.last_change on a resume. */
export function getLastChange() {
  const n = Number(read(KEYS.lastChange));
  return Number.isInteger(n) && n >= 0 && read(KEYS.lastChange) !== null ? n : null;
}

export function noteChange(seq) {
  if (Number.isInteger(seq) && seq > (getLastChange() ?? -1)) write(KEYS.lastChange, seq);
}
