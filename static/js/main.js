// Wires the modules together and to the socket.
import { $, showError } from './ui.js';
import * as conn from './connection.js';
import * as chat from './chat.js';
import * as presence from './presence.js';
import * as game from './game.js';
import { initInvites } from './invites.js';
import { initArenas } from './arenas.js';
import { initOutbox, send, pump } from './outbox.js';
import * as moderation from './moderation.js';
import * as dm from './dm.js';
import * as identity from './identity.js';
import { ask } from './dialogs.js';
import * as layout from './layout.js';
import * as attention from './attention.js';
import { initMentions } from './mentions.js';
import * as account from './account.js';
import * as tabs from './tabs.js';
import * as edits from './edits.js';
import * as modtools from './modtools.js';
import * as dmedits from './dmedits.js';
import { getToken, getClaimed } from './storage.js';

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

function sendMessage(text, replyTo = null) {
  send(text, replyTo);
  // As in the seed: sending while disconnected connects again.
  if (!socket.active) conn.connect();
}

// Before any round is played, leaving aborts the game (protocol `game_over`, `aborted`).
const askLeave = async (opponent, unplayed) => !!(await ask({
  title: 'Leave this game?',
  text: unplayed ? 'No round has been played: the game is aborted and counts for nobody.' : `You forfeit the match: ${opponent} wins it.`,
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
  modtools.checkOwner();
  dm.loadConversations();
  account.render();
  shareIdentity();
});

// Another tab of this page: say what this one is (a separate guest) and how to be the same
// person in both (issue 23: a second tab silently became a new guest).
const isClaimedHere = () => (getClaimed() ?? '').toLocaleLowerCase() === (conn.username() ?? '').toLocaleLowerCase();
const shareIdentity = () => tabs.setIdentity(conn.username(), isClaimedHere());
tabs.onOtherTab(({ name, claimed }) => {
  const how = claimed
    ? `To be ${name} here too, log in to ${name} (Log in, above): a claimed name can be open in several tabs.`
    : `Only a claimed name can be open in several tabs: claim ${name} in the other tab, then log in to it here.`;
  chat.addSystem(`This page is also open in another tab as ${name}. This tab is a separate guest. ${how}`);
  if (claimed) $('#login-name').value = name;
});
tabs.initTabs({ fresh: !getToken() });

socket.on('message', (m) => chat.addMessage(m));
socket.on('history', (h) => {
  edits.onHistory(h);
  modtools.showSlowMode(h?.slow_mode);
  chat.addHistory(h);
});
socket.on('message_edited', edits.onEdited);
socket.on('reactions', edits.onReactions);
socket.on('typing', chat.showTyping);
socket.on('presence', (p) => {
  presence.applyPresence(p);
  if (p?.action !== 'join') chat.forgetTyper(p?.old_name ?? p?.name);
});
socket.on('error', (e) => showError(e?.error ?? 'Something went wrong.'));
socket.on('message_deleted', (e) => {
  edits.onDeleted(e);
  moderation.onMessageDeleted(e);
});
socket.on('report_filed', (r) => {
  moderation.onReportFiled(r);
  modtools.refreshReports();
});
socket.on('report_count', modtools.refreshReports);
socket.on('report_resolved', modtools.refreshReports);
socket.on('slow_mode', (m) => modtools.showSlowMode(m?.seconds));
socket.on('role_changed', () => {
  moderation.checkModerator();
  modtools.checkOwner();
});
socket.on('dm', dm.onDm);
socket.on('dm_read', dm.onDmRead);
socket.on('dm_edited', dmedits.onEdited);
socket.on('dm_deleted', dmedits.onDeleted);
socket.on('dm_reactions', dmedits.onReactions);
// A log-in with DMs waiting: said once in the chat (a screen reader hears it too); the
// Messages list shows them, with the server's counts.
socket.on('dm_unread_summary', (s) => {
  if (!Number.isInteger(s?.unread) || s.unread < 1) return;
  const names = (s.senders ?? []).map((x) => x?.name).filter((n) => typeof n === 'string');
  const from = names.length ? ` from ${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''}` : '';
  chat.addSystem(`You have ${s.unread} unread direct message${s.unread === 1 ? '' : 's'}${from}: open Messages to read them.`);
});
// A resume's DM replay stopped short: the rest is on the server (listed with unread counts).
socket.on('dm_replay_truncated', () => dm.loadConversations());

// --- calling the person back (attention.js), and the phone's badges ---------------------

const fold = (name) => name.toLocaleLowerCase();
const inPlay = () => layout.isShown('play');
const toPlay = () => layout.showView('play');

function refreshBadges() {
  layout.setBadge('chat', attention.count('mention'), 'new mentions');
  layout.setBadge('play', game.pendingChallenges() + (game.awaitingThrow() ? 1 : 0), 'waiting for you');
  layout.setBadge('people', dm.totalUnread(), 'unread messages');
}

game.on('challenged', (c) => {
  attention.notify({
    key: `challenge:${c.id}`, kind: 'challenge', from: c.from, sticky: true,
    title: `${c.from} challenges you`, body: `Best of ${c.best_of}: answer within ${Math.round((c.expiresAt - Date.now()) / 1000)} s.`,
    looking: inPlay, open: toPlay,
    actions: [
      { label: 'Accept', run: () => { game.answerChallenge(c.id, true); toPlay(); } },
      { label: 'Decline', run: () => game.answerChallenge(c.id, false) },
    ],
  });
  refreshBadges();
});
game.on('challengeGone', (id) => {
  attention.resolve(`challenge:${id}`);
  refreshBadges();
});
game.on('found', () => {
  if (layout.isPhone()) toPlay(); // the match the person asked for
});
game.on('turn', (g) => {
  const opponent = g.players.find((p) => p !== conn.username()) ?? 'your opponent';
  attention.notify({
    key: `turn:${g.id}`, kind: 'turn', from: g.computer ? null : opponent,
    title: `Round ${g.round}: your move`, body: `Against ${opponent}: ${Math.round(g.roundMs / 1000)} s to throw.`,
    looking: inPlay, open: toPlay,
  });
  refreshBadges();
});
game.on('settled', (id) => {
  attention.resolve(`turn:${id}`);
  refreshBadges();
});
game.on('over', (g) => {
  attention.notify({ key: `game:${g.id}`, kind: 'game', title: 'Game over', body: game.gameOverText(), looking: inPlay, open: toPlay });
});
chat.on('mention', (m) => {
  attention.notify({
    key: `mention:${m.id}`, kind: 'mention', from: m.name, title: `${m.name} mentioned you`, body: m.txt,
    looking: () => layout.isShown('chat'), open: () => layout.showView('chat'),
  });
  refreshBadges();
});
dm.on('dm', (m, shown) => {
  if (shown) return;
  attention.notify({
    key: `dm:${fold(m.from)}`, kind: 'dm', from: m.from, title: `Message from ${m.from}`, body: m.text,
    looking: () => dm.isOpenWith(m.from), open: () => dm.openConversation(m.from),
  });
});
dm.on('opened', (name) => attention.resolve(`dm:${fold(name)}`));
dm.on('unread', refreshBadges);
attention.onChange(refreshBadges);
layout.onChange(() => {
  attention.recheck();
  refreshBadges();
});

$('#connection-toggle').addEventListener('click', conn.toggleConnection);
layout.initLayout();
attention.initAttention();
identity.initIdentity({
  system: chat.addSystem,
  changed: () => {
    moderation.checkModerator();
    modtools.checkOwner();
    account.render();
    shareIdentity();
  },
});
account.initAccount({
  system: chat.addSystem,
  onEnded: () => {
    identity.render();
    account.render();
  },
});
moderation.initModeration({
  system: chat.addSystem,
  ignoredChanged: chat.hideIgnored,
  messageItems: edits.replyItems,
  userItems: (name) => [
    { label: `Challenge ${name} to a game`, run: () => game.challenge(name) },
    { label: `Send ${name} a message`, run: () => dm.openConversation(name) },
    attention.isQuiet(name)
      ? { label: `Unmute notifications from ${name}`, run: () => attention.setQuiet(name, false) }
      : { label: `Mute notifications from ${name}`, run: () => attention.setQuiet(name, true) },
  ],
});
modtools.initModTools({ addSystem: chat.addSystem });
edits.initEdits({ send: sendMessage, openConversation: dm.openConversation });
chat.initComposer(sendMessage);
chat.initRovingLog();
initMentions($('#message'), $('#mention-options'), presence.names);
initOutbox(chat.outboxView);
presence.initPresence(game.challenge);
dm.initDms();
dmedits.initDmEdits();
dm.on('unread', presence.render);
game.initGame((busy) => presence.setChallengeEnabled(!busy), askLeave);
initInvites();
initArenas();
conn.connect();
