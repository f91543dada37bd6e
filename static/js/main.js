// Wires the modules together and to the socket.
import { $, showError } from './ui.js';
import * as conn from './connection.js';
import * as chat from './chat.js';
import * as presence from './presence.js';
import * as game from './game.js';
import { initOutbox, send, pump } from './outbox.js';
import * as moderation from './moderation.js';
import * as dm from './dm.js';

const { socket } = conn;

const STATUS_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
};

function showStatus(state) {
  const status = $('#connection-status');
  status.dataset.state = state;
  status.textContent = STATUS_TEXT[state] ?? state;
  document.body.dataset.connection = state;
  $('#connection-toggle').textContent = state === 'disconnected' ? 'Connect' : 'Disconnect';
}

function initNameForm() {
  const form = $('#name-form');
  const input = $('#name-input');
  const password = $('#password-input');
  input.addEventListener('input', () => { input.dataset.edited = 'true'; });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!name || name === conn.username()) return;
    // with a password: a log-in to a claimed name
    const ack = await conn.rename(name, password.value || undefined);
    if (ack.ok) {
      delete input.dataset.edited;
      password.value = '';
    } else {
      showError(ack.error);
    }
  });
}

/** Shows the current name unless the user is editing the field. */
function showName(name) {
  const input = $('#name-input');
  if (!input.dataset.edited && document.activeElement !== input) input.value = name;
  document.body.dataset.username = name;
}

function sendMessage(text) {
  send(text);
  // As in the seed: sending while disconnected connects again.
  if (!socket.active) conn.connect();
}

conn.on('status', showStatus);
conn.on('system', chat.addSystem);
conn.on('connect', () => chat.addSystem('You are connected!'));
conn.on('disconnect', () => {
  chat.addSystem('Connection to the server was terminated.');
  chat.clearTyping();
  game.onConnectionChange(false);
});
conn.on('named', (name, resumed) => {
  showName(name);
  if (resumed) chat.loadLatest();
  presence.refreshUsers();
  pump();
  game.onConnectionChange(true);
  moderation.checkModerator();
});

socket.on('message', chat.addMessage);
socket.on('history', chat.addHistory);
socket.on('typing', chat.showTyping);
socket.on('presence', (p) => {
  presence.applyPresence(p);
  if (p?.action !== 'join') chat.forgetTyper(p?.old_name ?? p?.name);
});
socket.on('error', (e) => showError(e?.error ?? 'Something went wrong.'));
socket.on('message_deleted', moderation.onMessageDeleted);
socket.on('report_filed', moderation.onReportFiled);
socket.on('dm', dm.onDm);

$('#connection-toggle').addEventListener('click', conn.toggleConnection);
initNameForm();
moderation.initModeration({ system: chat.addSystem, ignoredChanged: chat.hideIgnored });
chat.initComposer(sendMessage);
initOutbox(chat.outboxView);
presence.initPresence(game.challenge);
dm.initDms(presence.render);
game.initGame((busy) => presence.setChallengeEnabled(!busy));
conn.connect();
