// The socket, its status, naming and resuming (protocol "Connecting" and "Resume").
import { io } from '/vendor/socket.io.esm.min.js';
import * as store from './storage.js';

const REQUEST_TIMEOUT_MS = 10000;
const SESSION_WAIT_MS = 4000;
const MAX_NAME_TRIES = 5;

// auth is a function so that every reconnect attempt carries the latest token and last_id.
export const socket = io({ autoConnect: false, auth: (cb) => cb(authPayload()) });

const state = { username: null, named: false, autoName: !store.getName(), wanted: store.getName() };
const hooks = { named: [], connect: [], disconnect: [], status: [], system: [] };
let sessionTimer = null;

/** Subscribes to: named(name, resumed), connect(), disconnect(reason), status(state), system(text). */
export const on = (name, fn) => hooks[name].push(fn);
const fire = (name, ...args) => hooks[name].forEach((fn) => fn(...args));

export const username = () => state.username;
export const isNamed = () => state.named && socket.connected;

function authPayload() {
  const auth = {};
  const token = store.getToken();
  const lastId = store.getLastId();
  if (token) auth.token = token;
  if (lastId) auth.last_id = lastId;
  const dmLastId = store.getDmLastId();
  if (dmLastId) auth.dm_last_id = dmLastId;
  const lastChange = store.getLastChange();
  if (lastChange !== null) auth.last_change = lastChange;
  return auth;
}

/** Emits with an ack; always resolves to an ack object ({ok:false, transient:true} when offline). */
export function request(event, payload = {}) {
  if (!socket.connected) {
    return Promise.resolve({ ok: false, transient: true, error: 'You are not connected.' });
  }
  return new Promise((resolve) => {
    socket.timeout(REQUEST_TIMEOUT_MS).emit(event, payload, (err, ack) => {
      if (err) resolve({ ok: false, transient: true, error: 'The server did not answer in time.' });
      else resolve(ack && typeof ack === 'object' ? ack : { ok: true });
    });
  });
}

const generatedName = () => `User-${Math.floor(Math.random() * 999)}`;

function becomeNamed(name, token, resumed = false) {
  state.username = name;
  state.named = true;
  state.wanted = name;
  if (token) store.setToken(token);
  store.setName(name);
  fire('named', name, resumed);
}

/** Names a fresh connection; a refused name falls back to a generated one. */
async function claimName() {
  for (let tries = 0; tries < MAX_NAME_TRIES && socket.connected; tries++) {
    state.wanted ??= generatedName();
    const ack = await request('set_username', { username: state.wanted });
    if (ack.ok) return becomeNamed(ack.username, ack.token);
    if (ack.transient) return;
    if (!state.autoName) fire('system', `${ack.error} Using a generated name instead.`);
    state.wanted = generatedName();
    state.autoName = true;
  }
}

/** Renames, or with a password logs in to a claimed name (the name form); resolves to the ack. */
export async function rename(name, password) {
  const payload = password ? { username: name, password } : { username: name };
  const device = password ? store.getDevice(name) : null;
  if (device) payload.device = device;
  const ack = await request('set_username', payload);
  if (ack.ok) {
    state.autoName = false;
    store.setDevice(ack.username, ack.device);
    becomeNamed(ack.username, ack.token);
  }
  return ack;
}

/** A new resume token for this connection (after change_password or end_sessions). */
export function replaceToken(token) {
  if (typeof token === 'string' && token) store.setToken(token);
}

/** This connection's session is over (logged out elsewhere, removed): no resume from here;
 * the next connection starts as a new guest. */
export function forgetSession() {
  store.setToken(null);
  store.setClaimed(null);
  state.named = false;
  state.wanted = null;
  state.autoName = true;
}

function setStatus(value) {
  fire('status', value);
}

socket.on('connect', () => {
  setStatus('connected');
  fire('connect');
  clearTimeout(sessionTimer);
  if (state.named) return; // `session` came first: already resumed
  if (store.getToken()) sessionTimer = setTimeout(() => state.named || claimName(), SESSION_WAIT_MS);
  else claimName();
});

socket.on('session', (session) => {
  clearTimeout(sessionTimer);
  if (session?.resumed) return becomeNamed(session.username, session.token, true);
  // why the old session is gone (expired, kicked, banned, name taken), then a new guest
  if (typeof session?.error === 'string') fire('system', session.error);
  store.setToken(null);
  if (socket.connected) claimName();
});

socket.on('disconnect', (reason) => {
  state.named = false;
  clearTimeout(sessionTimer);
  fire('disconnect', reason);
  setStatus(socket.active ? 'reconnecting' : 'disconnected');
});

socket.on('connect_error', (err) => {
  setStatus(socket.active ? 'reconnecting' : 'disconnected');
  if (!socket.active) fire('system', `Could not connect: ${err.message}`);
});

socket.io.on('reconnect_attempt', () => setStatus('reconnecting'));

socket.on('server_shutdown', () => {
  fire('system', 'The server is restarting…');
  setStatus('reconnecting');
});

export function connect() {
  setStatus('connecting');
  socket.connect();
}

/** The Disconnect / Connect button, with the seed's status lines. */
export function toggleConnection() {
  if (socket.connected) {
    fire('system', 'You disconnected from the server.');
    socket.disconnect();
  } else if (socket.active) {
    fire('system', 'You are already disconnected from the server.');
    socket.disconnect(); // stop retrying
    setStatus('disconnected');
  } else {
    connect();
  }
}
