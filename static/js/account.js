// A claimed name's account: change its password, log out everywhere else (protocol
// `change_password`, `end_sessions`), and what the server says when a session ends:
// `session_ended` (another device changed the password or logged out everywhere), `kicked`
// and `banned` (a moderator, with the reason and until when).
import { $, showError, clearErrors } from './ui.js';
import * as conn from './connection.js';
import * as store from './storage.js';

const ui = {
  fieldset: $('#account-settings'),
  password: $('#account-password'),
  newPassword: $('#account-new-password'),
  change: $('#change-password'),
  end: $('#end-sessions'),
  result: $('#account-result'),
};

let say = () => {};
let ended = () => {};

const isClaimed = () => {
  const mine = store.getClaimed();
  return !!mine && mine.toLocaleLowerCase() === (conn.username() ?? '').toLocaleLowerCase();
};

/** The account's part of Settings shows for a claimed name only. */
export function render() {
  ui.fieldset.hidden = !isClaimed();
}

async function changePassword() {
  ui.result.textContent = '';
  const ack = await conn.request('change_password', { password: ui.password.value, new_password: ui.newPassword.value });
  if (!ack.ok) return showError(ack.error);
  clearErrors();
  conn.replaceToken(ack.token);
  store.setDevice(ack.username ?? conn.username(), ack.device);
  ui.password.value = '';
  ui.newPassword.value = '';
  ui.result.textContent = 'Password changed. Your other tabs and devices are logged out.';
}

async function endSessions() {
  ui.result.textContent = '';
  const ack = await conn.request('end_sessions', { password: ui.password.value });
  if (!ack.ok) return showError(ack.error);
  clearErrors();
  conn.replaceToken(ack.token);
  ui.password.value = '';
  ui.result.textContent = 'Your other tabs and devices are logged out.';
}

const until = (ms) => (Number.isFinite(ms) ? new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : null);

/** `kicked` / `banned` s→c {reason, until, retry_after}: said to the person before the close. */
function removed(kind, notice = {}) {
  const reason = typeof notice.reason === 'string' && notice.reason ? ` Reason: “${notice.reason}”.` : '';
  const back = until(notice.until);
  const text = kind === 'banned'
    ? `You were banned by a moderator.${reason}${back ? ` The ban lasts until ${back}.` : ''}`
    : `You were removed from the chat by a moderator.${reason}${back ? ` You can come back after ${back}.` : ''}`;
  say(text);
  showError(text);
}

/** `session_ended {reason, message}`: this connection is logged out; it closes next. */
function sessionEnded(notice = {}) {
  const text = typeof notice.message === 'string' && notice.message ? notice.message : 'You were logged out on this device.';
  conn.forgetSession();
  say(`${text} Connect again to continue as a guest, or log in.`);
  showError(text);
  ended();
}

/** say(text) adds a line to the chat; onEnded() runs when this session was logged out. */
export function initAccount({ system, onEnded }) {
  say = system;
  ended = onEnded ?? (() => {});
  ui.change.addEventListener('click', changePassword);
  ui.end.addEventListener('click', endSessions);
  for (const input of [ui.password, ui.newPassword]) {
    input.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return; // not the dialog's form: that would close Settings
      event.preventDefault();
      (input === ui.newPassword || ui.newPassword.value ? changePassword : endSessions)();
    });
  }
  conn.socket.on('session_ended', sessionEnded);
  conn.socket.on('kicked', (n) => removed('kicked', n));
  conn.socket.on('banned', (n) => removed('banned', n));
  render();
}
