// Wires the modules together and to the socket.
import { $, showError } from './ui.js';
import * as conn from './connection.js';
import * as chat from './chat.js';
import * as presence from './presence.js';
import * as game from './game.js';
import { initOutbox, send, pump } from './outbox.js';
import * as moderation from './moderation.js';
import * as dm from './dm.js';
import * as identity from './identity.js';
import { ask } from './dialogs.js';

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
  status.replaceChildren(Object.assign(document.createElement('span'), {
    className: 'status-text', textContent: STATUS_TEXT[state] ?? state,
  }));
  document.body.dataset.connection = state;
  $('#connection-toggle').textContent = state === 'disconnected' ? 'Connect' : 'Disconnect';
}

function sendMessage(text) {
  send(text);
  // As in the seed: sending while disconnected connects again.
  if (!socket.active) conn.connect();
}

const askLeave = async (opponent) => !!(await ask({
  title: 'Leave this game?',
  text: `You forfeit the match: ${opponent} wins it.`,
  action: 'Leave the game', danger: true,
}));

conn.on('status', showStatus);
conn.on('system', chat.addSystem);
conn.on('connect', () => chat.addSystem('You are connected!'));
conn.on('disconnect', () => {
  chat.addSystem('Connection to the server was terminated.');
  chat.clearTyping();
  game.onConnectionChange(false);
});
conn.on('named', (name, resumed) => {
  identity.render();
  chat.redrawForName();
  if (resumed) chat.loadLatest();
  presence.refreshUsers();
  pump();
  game.onConnectionChange(true);
  moderation.checkModerator();
  dm.loadConversations();
});

socket.on('message', (m) => chat.addMessage(m));
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
identity.initIdentity({ system: chat.addSystem, changed: () => moderation.checkModerator() });
moderation.initModeration({
  system: chat.addSystem,
  ignoredChanged: chat.hideIgnored,
  userItems: (name) => [
    { label: `Challenge ${name} to a game`, run: () => game.challenge(name) },
    { label: `Send ${name} a message`, run: () => dm.openConversation(name) },
  ],
});
chat.initComposer(sendMessage);
initOutbox(chat.outboxView);
presence.initPresence(game.challenge);
dm.initDms();
dm.on('unread', presence.render);
game.initGame((busy) => presence.setChallengeEnabled(!busy), askLeave);
conn.connect();
