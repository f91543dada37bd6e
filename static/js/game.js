// The rock-paper-scissors panel: matchmaking, challenges, rounds, spectating, game chat.
import { $, el, showError, isTyping, timeEl } from './ui.js';
import { socket, request, username } from './connection.js';

const MOVES = {
  rock: { emoji: '✊', label: 'Rock' },
  paper: { emoji: '✋', label: 'Paper' },
  scissors: { emoji: '✌️', label: 'Scissors' },
};
const SHORTCUTS = { r: 'rock', p: 'paper', s: 'scissors' };

const ui = {
  status: $('#game-status'),
  challenges: $('#challenges'),
  matchmaking: $('#matchmaking'),
  bestOf: $('#best-of'),
  find: $('#find-match'),
  cancel: $('#cancel-match'),
  computer: $('#play-computer'),
  offer: $('#computer-offer'),
  match: $('#match'),
  players: $('#match-players'),
  matchBestOf: $('#match-best-of'),
  round: $('#round'),
  score: $('#score'),
  timer: $('#timer'),
  timerBar: $('#timer-bar'),
  countdown: $('#countdown'),
  moves: $('#moves'),
  opponentThrew: $('#opponent-threw'),
  roundResult: $('#round-result'),
  rounds: $('#rounds'),
  over: $('#game-over'),
  overText: $('#game-over-text'),
  rematch: $('#rematch'),
  back: $('#back-to-lobby'),
  leave: $('#leave-game'),
  chatLog: $('#game-messages'),
  chatForm: $('#game-chat-form'),
  chatInput: $('#game-chat-input'),
};

let game = null; // {id, role: 'player'|'spectator', players, bestOf, score, round, over, thrown, live, roundMs}
let searching = false;
let ticker = null;
let onBusy = () => {};
let offerTimer = null;
const OFFER_COMPUTER_MS = 10000; // waiting this long, the page offers the computer instead

const me = () => username();
const isPlayer = () => game?.role === 'player';
const isCurrent = (e) => game && e && e.game_id === game.id;
const opponent = () => game?.players.find((p) => p !== me()) ?? 'Opponent';
const canThrow = () => isPlayer() && !game.over && game.live && !game.thrown && socket.connected;
const setStatus = (text) => { ui.status.textContent = text; };
const moveText = (move) => (MOVES[move] ? `${MOVES[move].emoji} ${MOVES[move].label}` : 'no move');

/** Shows and enables what fits the current state. */
function render() {
  ui.matchmaking.hidden = !!game;
  ui.find.hidden = searching;
  ui.cancel.hidden = !searching;
  ui.computer.hidden = searching;
  if (!searching) {
    clearTimeout(offerTimer);
    offerTimer = null;
    ui.offer.hidden = true;
  }
  ui.bestOf.disabled = searching;
  ui.match.hidden = !game;
  onBusy(!!(game && isPlayer() && !game.over) || searching);
  if (!game) return;
  ui.match.dataset.role = game.role;
  ui.players.textContent = game.players.join(' vs ');
  ui.matchBestOf.textContent = String(game.bestOf);
  ui.round.textContent = String(game.round || 1);
  renderScore();
  ui.moves.hidden = !isPlayer() || game.over;
  for (const button of ui.moves.querySelectorAll('button')) button.disabled = !canThrow();
  ui.timer.hidden = game.over;
  ui.over.hidden = !game.over;
  ui.rematch.hidden = !isPlayer();
  ui.leave.hidden = game.over;
  ui.leave.textContent = isPlayer() ? 'Leave game' : 'Stop watching';
}

function renderScore() {
  const [a, b] = isPlayer() ? [me(), opponent()] : game.players;
  const side = (name) => el('span', { class: 'score-name' }, isPlayer() && name === me() ? 'You' : name);
  const points = (name) => el('strong', { class: 'score-points' }, String(game.score?.[name] ?? 0));
  ui.score.replaceChildren(side(a), ' ', points(a), ' – ', points(b), ' ', side(b));
}

function startCountdown(ms) {
  stopCountdown();
  const deadline = performance.now() + ms;
  game.roundMs = Math.max(game.roundMs ?? 0, ms);
  ui.timerBar.max = game.roundMs;
  const tick = () => {
    const left = Math.max(0, deadline - performance.now());
    ui.timerBar.value = left;
    ui.countdown.textContent = `${Math.ceil(left / 1000)} s`;
    ui.timer.classList.toggle('urgent', left < 5000);
    if (!left) stopCountdown();
  };
  tick();
  ticker = setInterval(tick, 200);
}

function stopCountdown() {
  clearInterval(ticker);
  ticker = null;
}

function markChosen(move) {
  for (const button of ui.moves.querySelectorAll('button')) {
    button.setAttribute('aria-pressed', String(button.dataset.move === move));
  }
}

/** Starts a fresh panel for a game (as player or spectator). */
function openGame(view, role) {
  if (game?.id !== view.game_id) ui.chatLog.replaceChildren(); // a resume keeps the game chat
  game = {
    id: view.game_id, role, players: view.players ?? [], bestOf: view.best_of,
    score: view.score ?? {}, round: view.round ?? 0, over: false, thrown: false, live: false,
    roundMs: (view.round_seconds ?? 15) * 1000,
  };
  searching = false;
  stopCountdown();
  markChosen(null);
  ui.rounds.replaceChildren();
  ui.roundResult.textContent = '';
  ui.countdown.textContent = '';
  ui.timerBar.value = 0;
  ui.opponentThrew.hidden = true;
  ui.rematch.disabled = false;
  ui.rematch.classList.remove('attention');
}

// --- server events -------------------------------------------------------

function onMatchFound(m) {
  openGame({ ...m, players: m.players ?? [me(), m.opponent] }, 'player');
  setStatus(`Match found! You play ${m.opponent}, best of ${m.best_of}.`);
  render();
}

/** `game_state` after a resume, or the `watch` ack: restores the panel. */
function restore(view, role) {
  openGame(view, role);
  game.over = view.status === 'over';
  game.live = !game.over && view.time_left_ms > 0;
  (view.history ?? []).forEach(showResult);
  if (game.over) ui.overText.textContent = overText(view);
  if (role === 'player' && view.your_move) {
    game.thrown = true;
    markChosen(view.your_move);
  }
  ui.opponentThrew.hidden = !(role === 'player' && view.thrown?.[opponent()]);
  if (game.live) startCountdown(view.time_left_ms);
  const yourTurn = role === 'player' && game.live && !game.thrown ? ` Round ${game.round}: choose your move!` : '';
  setStatus(role === 'player'
    ? `Back in your game against ${opponent()}.${yourTurn}`
    : `Watching ${game.players.join(' vs ')}.`);
  render();
}

function onRoundStarted(e) {
  if (!isCurrent(e)) return;
  Object.assign(game, { round: e.round, thrown: false, live: true });
  markChosen(null);
  ui.opponentThrew.hidden = true;
  startCountdown(e.time_left_ms ?? game.roundMs);
  setStatus(isPlayer() ? `Round ${e.round}: choose your move!` : `Round ${e.round} is on.`);
  render();
}

function onOpponentThrew(e) {
  if (!isCurrent(e)) return;
  ui.opponentThrew.hidden = false;
}

function resultText(r) {
  const moves = r.moves ?? {};
  const winner = r.winner == null ? 'Draw' : r.winner === me() && isPlayer() ? 'You win' : `${r.winner} wins`;
  const shown = isPlayer() ? [me(), opponent()] : game.players;
  const who = (name) => (isPlayer() && name === me() ? 'You' : name);
  const played = shown.map((name) => `${who(name)}: ${moveText(moves[name])}`).join(', ');
  return `Round ${r.round}: ${played}. ${winner}${r.winner == null ? '' : ' the round'}${r.timeout ? ' (time ran out)' : ''}.`;
}

/** The latest result is shown big; earlier ones move to the list below. */
function showResult(r) {
  const last = ui.roundResult;
  if (last.textContent) ui.rounds.prepend(el('li', { class: `round ${last.dataset.outcome}` }, last.textContent));
  last.textContent = resultText(r);
  last.dataset.outcome = r.winner == null ? 'draw' : !isPlayer() ? '' : r.winner === me() ? 'won' : 'lost';
}

function onRoundResult(r) {
  if (!isCurrent(r)) return;
  Object.assign(game, { score: r.score ?? game.score, round: r.round, live: false, thrown: false });
  stopCountdown();
  ui.opponentThrew.hidden = true;
  showResult(r);
  render();
}

function overText({ winner, reason }) {
  if (winner == null) {
    return reason === 'abandoned' ? 'Game over: abandoned, nobody played a round.' : 'Game over: a draw.';
  }
  const loser = game.players.find((p) => p !== winner);
  const who = (name) => (isPlayer() && name === me() ? 'you' : name);
  const how = {
    timeout: ' on a round timeout',
    forfeit: ` — ${who(loser)} left the game`,
    disconnect: ` — ${who(loser)} disconnected`,
  }[reason] ?? '';
  return `Game over: ${who(winner)} won${how}.${isPlayer() && winner === me() ? ' 🎉' : ''}`;
}

function onGameOver(e) {
  if (!isCurrent(e)) return;
  Object.assign(game, { over: true, live: false, score: e.score ?? game.score });
  stopCountdown();
  ui.opponentThrew.hidden = true;
  ui.overText.textContent = overText(e);
  setStatus(ui.overText.textContent);
  render();
  refreshOpenPanels();
}

function onRematchRequested(e) {
  if (!isCurrent(e) || e.by === me()) return;
  setStatus(`${e.by} wants a rematch!`);
  ui.rematch.classList.add('attention');
}

function onOpponentStatus(e) {
  if (!isCurrent(e)) return;
  setStatus(e.connected
    ? `${e.name} is back.`
    : `${e.name} disconnected — waiting up to ${Math.round((e.grace_ms ?? 10000) / 1000)} s for them…`);
}

function onGameMessage(m) {
  if (!isCurrent(m) || ui.chatLog.querySelector(`li[data-id="${Number(m.id)}"]`)) return;
  const mine = m.name === me();
  ui.chatLog.append(el('li', { class: mine ? 'msg mine' : 'msg', dataset: m.id != null ? { id: m.id } : {} },
    el('div', { class: 'msg-head' }, el('span', { class: 'msg-name' }, mine ? 'Me' : m.name), timeEl(m.ts ?? Date.now())),
    el('p', { class: 'msg-text' }, m.txt)));
  ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
}

// --- challenges -----------------------------------------------------------

function onChallenged(c) {
  const answer = async (accept) => {
    item.remove();
    const ack = await request('answer_challenge', { challenge_id: c.challenge_id, accept });
    if (!ack.ok) showError(ack.error);
  };
  const item = el('li', { class: 'challenge-item', dataset: { challengeId: c.challenge_id, from: c.from } },
    el('span', {}, `${c.from} challenges you (best of ${c.best_of}).`),
    el('button', { type: 'button', class: 'small primary', on: { click: () => answer(true) } }, 'Accept'),
    el('button', { type: 'button', class: 'small', on: { click: () => answer(false) } }, 'Decline'));
  ui.challenges.append(item);
  setTimeout(() => item.remove(), c.expires_in_ms ?? 30000);
}

function onChallengeAnswered(a) {
  if (a.accepted) return;
  setStatus({
    declined: `${a.by} declined your challenge.`,
    expired: `Your challenge to ${a.by} expired.`,
  }[a.reason] ?? `${a.by} is no longer available.`);
}

/** Called by a Challenge button in the online list. */
export async function challenge(name) {
  const ack = await request('challenge', { to: name, best_of: Number(ui.bestOf.value) });
  if (ack.ok) setStatus(`Challenge sent to ${name}. Waiting for an answer…`);
  else showError(ack.error);
}

// --- user actions -----------------------------------------------------------

async function throwMove(move) {
  if (!canThrow()) return;
  game.thrown = true;
  markChosen(move);
  render();
  const { id, round } = game;
  const ack = await request('throw', { game_id: id, move });
  if (ack.ok) {
    // the round may be over already (the other had thrown; the computer always has)
    const waiting = game?.id === id && game.round === round && game.thrown && !game.over;
    if (waiting) setStatus(`You threw ${moveText(move)}. Waiting for ${opponent()}…`);
  } else {
    showError(ack.error);
    if (ack.code !== 'already_threw') {
      game.thrown = false;
      markChosen(null);
      render();
    }
  }
}

async function findMatch(event) {
  event.preventDefault();
  const bestOf = Number(ui.bestOf.value);
  const ack = await request('find_match', { best_of: bestOf });
  if (ack.ok || ack.code === 'already_queued') {
    searching = !game;
    setStatus(`Looking for an opponent (best of ${bestOf})…`);
    clearTimeout(offerTimer);
    if (searching) offerTimer = setTimeout(() => { ui.offer.hidden = !searching; }, OFFER_COMPUTER_MS);
  } else {
    showError(ack.error);
  }
  render();
}

/** A game against the computer, at once; from the queue, the search is cancelled first. */
async function playComputer() {
  if (searching) {
    const cancelled = await request('cancel_match', {});
    if (!cancelled.ok && cancelled.code !== 'not_queued') return showError(cancelled.error);
    searching = false;
  }
  const ack = await request('find_match', { best_of: Number(ui.bestOf.value), opponent: 'computer' });
  if (!ack.ok) showError(ack.error);
  render(); // match_found came before the ack
}

async function cancelMatch() {
  const ack = await request('cancel_match', {});
  if (!ack.ok && ack.code !== 'not_queued') return showError(ack.error);
  searching = false;
  setStatus('Search cancelled.');
  render();
}

async function leaveGame() {
  if (!game) return;
  if (isPlayer()) {
    if (!window.confirm('Leave this game? You will forfeit the match.')) return;
    const ack = await request('leave_game', { game_id: game.id });
    if (!ack.ok) showError(ack.error);
    return; // game_over (forfeit) follows
  }
  backToLobby();
}

function backToLobby() {
  if (game && !isPlayer()) request('leave_game', { game_id: game.id }); // stop watching
  game = null;
  stopCountdown();
  setStatus('Find a match or challenge someone who is online.');
  render();
}

async function rematch() {
  if (!game) return;
  const ack = await request('rematch', { game_id: game.id });
  if (ack.ok) {
    ui.rematch.disabled = true;
    setStatus(`Rematch requested. Waiting for ${opponent()}…`);
  } else {
    showError(ack.error);
  }
}

async function sendGameChat(event) {
  event.preventDefault();
  const msg = ui.chatInput.value;
  if (!game || !msg.trim()) return;
  const ack = await request('game_chat', { game_id: game.id, msg, client_id: crypto.randomUUID() });
  if (ack.ok) ui.chatInput.value = '';
  else showError(ack.error);
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
  const move = SHORTCUTS[event.key.toLowerCase()];
  if (move && canThrow()) {
    event.preventDefault();
    throwMove(move);
  }
}

// --- leaderboard and live games ---------------------------------------------

const panels = [];

/** A toggle button that shows a panel and loads it when opened. */
function togglePanel(button, panel, load) {
  panels.push({ panel, load });
  button.addEventListener('click', () => {
    const open = button.getAttribute('aria-expanded') !== 'true';
    button.setAttribute('aria-expanded', String(open));
    panel.hidden = !open;
    if (open) load();
  });
}

// --- your games -------------------------------------------------------------

const REASONS = { won: 'won', timeout: 'on time', forfeit: 'by forfeit', disconnect: 'by disconnection', abandoned: 'abandoned' };
let myGamesOldest = null;

function myGameItem(g) {
  const mine = me();
  const score = `${g.score?.[mine] ?? 0}–${g.score?.[g.opponent] ?? 0}`;
  const outcome = g.winner == null ? 'Draw' : g.winner === mine ? 'Won' : 'Lost';
  const when = new Date(g.ended_at).toLocaleString();
  const rounds = (g.rounds ?? []).map((r) => el('li', {},
    `Round ${r.round}: you ${moveText(r.moves?.[mine])}, ${g.opponent} ${moveText(r.moves?.[g.opponent])}`
    + ` — ${r.winner == null ? 'draw' : r.winner === mine ? 'you won' : `${r.winner} won`}`));
  if (!rounds.length) rounds.push(el('li', { class: 'empty' }, 'No round was played.'));
  return el('li', { class: 'my-game', dataset: { gameId: g.game_id } },
    el('details', {},
      el('summary', {}, `${outcome} ${score} against ${g.opponent}${g.computer ? ' (computer)' : ''}`,
        el('span', { class: 'live-meta' }, ` · best of ${g.best_of} · ${REASONS[g.reason] ?? g.reason} · ${when}`)),
      el('ol', { class: 'my-game-rounds', 'aria-label': `Rounds against ${g.opponent}` }, ...rounds)));
}

async function loadMyGames(more = false) {
  const payload = more && myGamesOldest ? { before: myGamesOldest } : {};
  const ack = await request('my_games', payload);
  if (!ack.ok) return showError(ack.error);
  const items = (ack.games ?? []).map(myGameItem);
  if (ack.games?.length) myGamesOldest = ack.games[ack.games.length - 1].id;
  const list = $('#my-games-list');
  if (more) list.append(...items);
  else list.replaceChildren(...(items.length ? items : [el('li', { class: 'empty' }, 'You have not finished a game yet.')]));
  $('#my-games-more').hidden = !ack.has_more;
}

function refreshOpenPanels() {
  for (const { panel, load } of panels) if (!panel.hidden) load();
}

async function loadLeaderboard() {
  const ack = await request('leaderboard', {});
  if (!ack.ok) return showError(ack.error);
  const rows = (ack.players ?? []).map((p, i) => el('tr', { class: p.name === me() ? 'me' : null },
    el('td', {}, String(i + 1)), el('th', { scope: 'row' }, p.name),
    el('td', {}, String(p.wins)), el('td', {}, String(p.losses)), el('td', {}, String(p.draws)),
    el('td', {}, `${p.rating ?? 1500}${p.claimed ? '' : ' (guest)'}`)));
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 6, class: 'empty' }, 'No games played yet.')));
  $('#leaderboard tbody').replaceChildren(...rows);
}

async function loadGames() {
  const ack = await request('games', {});
  if (!ack.ok) return showError(ack.error);
  const items = (ack.games ?? []).map((g) => {
    const title = (g.players ?? []).join(' vs ');
    const score = (g.players ?? []).map((p) => g.score?.[p] ?? 0).join('–');
    return el('li', { class: 'live-game', dataset: { gameId: g.game_id } },
      el('span', { class: 'live-title' }, title),
      el('span', { class: 'live-meta' }, `best of ${g.best_of} · round ${g.round} · ${score}`),
      el('button', {
        type: 'button', class: 'small', 'aria-label': `Watch ${title}`,
        disabled: game?.id === g.game_id || (isPlayer() && !game.over),
        on: { click: () => watch(g.game_id) },
      }, 'Watch'));
  });
  if (!items.length) items.push(el('li', { class: 'empty' }, 'No games are being played right now.'));
  $('#games-list').replaceChildren(...items);
}

async function watch(gameId) {
  const ack = await request('watch', { game_id: gameId });
  if (!ack.ok) return showError(ack.error);
  if (game && !isPlayer() && game.id !== gameId) request('leave_game', { game_id: game.id });
  restore(ack.game, 'spectator');
  refreshOpenPanels();
}

// --- wiring -------------------------------------------------------------------

/** onBusyChange(busy) tells the online list whether challenges make sense now. */
export function initGame(onBusyChange) {
  onBusy = onBusyChange;
  for (const [move, { label }] of Object.entries(MOVES)) {
    const button = ui.moves.querySelector(`[data-move="${move}"]`);
    button.addEventListener('click', () => throwMove(move));
    button.title = `${label} (${move[0].toUpperCase()})`;
  }
  ui.matchmaking.addEventListener('submit', findMatch);
  ui.cancel.addEventListener('click', cancelMatch);
  ui.leave.addEventListener('click', leaveGame);
  ui.back.addEventListener('click', backToLobby);
  ui.rematch.addEventListener('click', rematch);
  ui.chatForm.addEventListener('submit', sendGameChat);
  document.addEventListener('keydown', onKey);
  togglePanel($('#leaderboard-toggle'), $('#leaderboard-panel'), loadLeaderboard);
  togglePanel($('#games-toggle'), $('#games-panel'), loadGames);
  togglePanel($('#my-games-toggle'), $('#my-games-panel'), () => loadMyGames());
  $('#my-games-more').addEventListener('click', () => loadMyGames(true));
  ui.computer.addEventListener('click', playComputer);
  $('#offer-computer').addEventListener('click', playComputer);
  $('#games-refresh').addEventListener('click', loadGames);

  socket.on('match_found', onMatchFound);
  socket.on('round_started', onRoundStarted);
  socket.on('opponent_threw', onOpponentThrew);
  socket.on('round_result', onRoundResult);
  socket.on('game_over', onGameOver);
  socket.on('rematch_requested', onRematchRequested);
  socket.on('opponent_status', onOpponentStatus);
  socket.on('game_state', (view) => restore(view, 'player'));
  socket.on('game_message', onGameMessage);
  socket.on('challenged', onChallenged);
  socket.on('challenge_answered', onChallengeAnswered);
  render();
}

/** Connection changes: moves need a live socket; a search does not survive a drop. */
export function onConnectionChange(connected) {
  if (!connected && searching) {
    searching = false;
    setStatus('Search stopped: the connection was lost.');
  }
  render();
  if (connected) refreshOpenPanels();
}
