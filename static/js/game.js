// The rock-paper-scissors panel: matchmaking, challenges, rounds, spectating, game chat.
// Everything the panel shows is drawn by render() from the state below (the game as the
// server last told it, the search, the challenge sent): an answer that comes late changes the
// state only if it still applies, so it can't put an old status over a running round.
import { $, el, showError, isTyping, timeEl } from './ui.js';
import { socket, request, username } from './connection.js';
import * as settings from './settings.js';
import { opens, verdictText } from './fairness.js';

const MOVES = {
  rock: { emoji: '✊', label: 'Rock' },
  paper: { emoji: '✋', label: 'Paper' },
  scissors: { emoji: '✌️', label: 'Scissors' },
};
const SHORTCUTS = { r: 'rock', p: 'paper', s: 'scissors' };
const LIVE_GAMES_REFRESH_MS = 3000;
const OFFER_COMPUTER_MS = 10000; // waiting this long, the page offers the computer instead

const ui = {
  panel: $('#game'),
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
  pageLink: $('#game-page-link'),
  rematch: $('#rematch'),
  back: $('#back-to-lobby'),
  leave: $('#leave-game'),
  gameChat: $('#game-chat'),
  chatLog: $('#game-messages'),
  chatForm: $('#game-chat-form'),
  chatInput: $('#game-chat-input'),
};

// The game shown: {id, role: 'player'|'spectator', players, bestOf, computer, score, round,
// live, over, winner, reason, myMove, opponentThrew, results, deadline, roundMs,
// rematchAsked, rematchOffered, away: {name, graceMs}|null, back: name|null}
let game = null;
let search = null; // {bestOf, offer: bool}
let challengeSent = null; // the name challenged, until answered
let notice = null; // a line about what just happened outside a game
let ticker = null;
let offerTimer = null;
let gamesTimer = null;
let onBusy = () => {};
const listeners = { turn: [], settled: [], over: [], challenged: [], challengeGone: [], found: [] };

const me = () => username();
const isPlayer = () => game?.role === 'player';
const isCurrent = (e) => game && e && e.game_id === game.id;
const opponent = () => game?.players.find((p) => p !== me()) ?? 'Opponent';
const canThrow = () => isPlayer() && !game.over && game.live && !game.myMove && socket.connected;
const moveText = (move) => (MOVES[move] ? `${MOVES[move].emoji} ${MOVES[move].label}` : 'no move');

/** Subscribes to: turn(game), settled(game id) when your move or the round ends it,
 * over(game), challenged(challenge), challengeGone(id), found(game). */
export const on = (name, fn) => listeners[name].push(fn);
const fire = (name, ...args) => listeners[name].forEach((fn) => fn(...args));

/** What the page is doing in the game panel, for the views and attention: a copy. */
export const current = () => (game ? { ...game } : null);
export const awaitingThrow = () => canThrow();
export const pendingChallenges = () => ui.challenges.children.length;
export const gameOverText = () => (game?.over ? overText(game) : '');

// --- drawing ------------------------------------------------------------------

function statusText() {
  if (!game) {
    if (search) return `Looking for an opponent (best of ${search.bestOf})…`;
    if (challengeSent) return `Challenge sent to ${challengeSent}. Waiting for an answer…`;
    return notice ?? 'Find a match or challenge someone who is online.';
  }
  if (game.over) {
    if (!isPlayer()) return overText(game);
    if (game.rematchOffered && !game.rematchAsked) return `${opponent()} wants a rematch!`;
    if (game.rematchAsked) return `Rematch requested. Waiting for ${opponent()}…`;
    return overText(game);
  }
  if (!isPlayer()) return game.live ? `Round ${game.round} is on.` : `Watching ${game.players.join(' vs ')}.`;
  if (game.away) return `${game.away.name} disconnected — waiting up to ${Math.round(game.away.graceMs / 1000)} s for them…`;
  if (!game.live) {
    return game.results.length ? `Round ${game.round} is over.` : `Match found! You play ${opponent()}, best of ${game.bestOf}.`;
  }
  if (!game.myMove) {
    return game.back ? `${game.back} is back. Round ${game.round}: choose your move!` : `Round ${game.round}: choose your move!`;
  }
  return `You threw ${moveText(game.myMove)}. Waiting for ${opponent()}…`;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text; // a live region speaks changes only
}

/** Draws the whole panel from the state; keeps focus in the panel when its control goes. */
function render() {
  const active = document.activeElement;
  const focusWasHere = ui.panel.contains(active) && active !== ui.panel;
  const searching = !!search && !game;
  ui.matchmaking.hidden = !!game;
  ui.find.hidden = searching;
  ui.cancel.hidden = !searching;
  ui.computer.hidden = searching;
  ui.bestOf.disabled = searching;
  ui.offer.hidden = !(searching && search.offer);
  setText(ui.status, statusText());
  ui.match.hidden = !game;
  onBusy(!!(game && isPlayer() && !game.over) || searching);
  if (game) renderGame();
  else stopCountdown();
  if (focusWasHere && !isUsable(document.activeElement)) focusMainControl();
}

function renderGame() {
  ui.match.dataset.role = game.role;
  setText(ui.players, game.players.join(' vs '));
  setText(ui.matchBestOf, String(game.bestOf));
  setText(ui.round, String(game.round || 1));
  renderScore();
  ui.moves.hidden = !isPlayer() || game.over;
  for (const button of ui.moves.querySelectorAll('button')) {
    button.disabled = !canThrow();
    button.setAttribute('aria-pressed', String(button.dataset.move === game.myMove));
  }
  ui.opponentThrew.hidden = !(isPlayer() && game.live && game.opponentThrew);
  renderResults();
  ui.timer.hidden = game.over || !game.live;
  if (game.live && !game.over) startCountdown();
  else stopCountdown();
  ui.over.hidden = !game.over;
  setText(ui.overText, game.over ? overText(game) : '');
  ui.pageLink.hidden = !game.over || game.reason === 'aborted'; // aborted games keep no page
  if (game.over) ui.pageLink.href = gamePageUrl(game.id);
  ui.rematch.hidden = !isPlayer();
  ui.rematch.disabled = game.rematchAsked;
  ui.rematch.classList.toggle('attention', game.rematchOffered && !game.rematchAsked);
  ui.leave.hidden = game.over;
  setText(ui.leave, isPlayer() ? 'Leave game' : 'Stop watching');
  ui.gameChat.hidden = game.computer && isPlayer(); // nobody to talk to
}

function renderScore() {
  const [a, b] = isPlayer() ? [me(), opponent()] : game.players;
  const side = (name) => el('span', { class: 'score-name' }, isPlayer() && name === me() ? 'You' : name);
  const points = (name) => el('strong', { class: 'score-points' }, String(game.score?.[name] ?? 0));
  const text = `${a} ${game.score?.[a] ?? 0} ${b} ${game.score?.[b] ?? 0}`;
  if (ui.score.dataset.drawn === text) return;
  ui.score.dataset.drawn = text;
  ui.score.replaceChildren(side(a), ' ', points(a), ' – ', points(b), ' ', side(b));
}

/** The latest result big, the earlier ones in the list below, newest first. */
function renderResults() {
  const results = game.results;
  const last = results[results.length - 1];
  setText(ui.roundResult, last ? resultText(last) : '');
  ui.roundResult.dataset.outcome = last ? outcome(last) : '';
  if (ui.rounds.children.length === Math.max(0, results.length - 1)) return;
  ui.rounds.replaceChildren(...results.slice(0, -1).reverse()
    .map((r) => el('li', { class: `round ${outcome(r)}` }, resultText(r))));
}

const outcome = (r) => (r.winner == null ? 'draw' : !isPlayer() ? '' : r.winner === me() ? 'won' : 'lost');

function resultText(r) {
  const moves = r.moves ?? {};
  const winner = r.winner == null ? 'Draw' : r.winner === me() && isPlayer() ? 'You win' : `${r.winner} wins`;
  const shown = isPlayer() ? [me(), opponent()] : game.players;
  const who = (name) => (isPlayer() && name === me() ? 'You' : name);
  const played = shown.map((name) => `${who(name)}: ${moveText(moves[name])}`).join(', ');
  const verdict = verdictText(r.verified);
  return `Round ${r.round}: ${played}. ${winner}${r.winner == null ? '' : ' the round'}${r.timeout ? ' (time ran out)' : ''}.${verdict ? ` Computer's move ${verdict}.` : ''}`;
}

function overText({ winner, reason }) {
  if (winner == null) {
    if (reason === 'aborted') return 'Game aborted: a player left before any round was played. It counts for nobody.';
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

function startCountdown() {
  ui.timerBar.max = game.roundMs;
  const tick = () => {
    const left = game?.live ? Math.max(0, game.deadline - performance.now()) : 0;
    ui.timerBar.value = left;
    setText(ui.countdown, left > 120000 ? `${Math.ceil(left / 60000)} min` : `${Math.ceil(left / 1000)} s`);
    ui.timer.classList.toggle('urgent', left < 5000);
    if (!left) stopCountdown();
  };
  tick();
  ticker ??= setInterval(tick, 200);
}

function stopCountdown() {
  clearInterval(ticker);
  ticker = null;
}

const isUsable = (node) => node instanceof HTMLElement && node !== document.body &&
  node.isConnected && !node.disabled && node.checkVisibility();

/** Where focus goes when the control that had it is gone (Find a match, a move, Rematch). */
function focusMainControl() {
  const target = !game ? (search ? ui.cancel : ui.find)
    : game.over ? (isPlayer() ? ui.rematch : ui.back)
      : isPlayer() ? ui.moves : ui.leave;
  if (isUsable(target) || target === ui.moves) target.focus();
}

// --- server events -------------------------------------------------------

/** A fresh state for a game (as player or spectator) from a match_found, watch or game_state. */
function openGame(view, role) {
  if (game?.id !== view.game_id) ui.chatLog.replaceChildren(); // a resume keeps the game chat
  game = {
    id: view.game_id, role, players: view.players ?? [], bestOf: view.best_of,
    computer: !!view.computer, score: view.score ?? {}, round: view.round ?? 0,
    live: false, over: false, winner: null, reason: null, myMove: null, opponentThrew: false,
    results: [...(view.history ?? [])], deadline: 0, roundMs: (view.round_seconds ?? 15) * 1000,
    rematchAsked: false, rematchOffered: false, away: null, back: null,
    commits: view.commit ? { [view.round]: view.commit } : {}, // the computer's, by round
  };
  search = null;
  challengeSent = null;
  notice = null;
  clearTimeout(offerTimer);
}

function onMatchFound(m) {
  openGame({ ...m, players: m.players ?? [me(), m.opponent] }, 'player');
  render();
  fire('found', game);
}

/** `game_state` after a resume, or the `watch` ack: the whole game as it is now. */
function restore(view, role) {
  openGame(view, role);
  game.over = view.status === 'over';
  game.winner = view.winner ?? null;
  game.reason = view.reason ?? null;
  game.live = !game.over && view.time_left_ms > 0;
  if (game.live) setDeadline(view.time_left_ms);
  if (role === 'player') {
    game.myMove = view.your_move ?? null;
    game.opponentThrew = !!view.thrown?.[opponent()];
  }
  render();
}

function setDeadline(ms) {
  game.deadline = performance.now() + ms;
  game.roundMs = Math.max(game.roundMs, ms);
}

function onRoundStarted(e) {
  if (!isCurrent(e)) return;
  if (e.commit) game.commits[e.round] = e.commit;
  Object.assign(game, { round: e.round, live: true, myMove: null, opponentThrew: false });
  setDeadline(e.time_left_ms ?? game.roundMs);
  render();
  if (isPlayer()) fire('turn', game);
}

function onOpponentThrew(e) {
  if (!isCurrent(e)) return;
  game.opponentThrew = true;
  render();
}

function onRoundResult(r) {
  if (!isCurrent(r) || game.results.some((x) => x.round === r.round)) return;
  game.results.push(r);
  Object.assign(game, { score: r.score ?? game.score, round: r.round, live: false, back: null });
  render();
  fire('settled', game.id);
  if (game.computer) verifyRound(game, r);
}

/** Checks a computer round against the commitment received before it (not the one repeated
 * in the result), then shows the verdict beside it. */
async function verifyRound(shown, r) {
  const sent = shown.commits[r.round];
  const computer = shown.players.find((p) => p !== me()) ?? 'Computer';
  const verified = sent ? await opens(sent, r.moves?.[computer], r.salt) : null;
  if (verified === null) return;
  r.verified = verified && r.commit === sent;
  if (game === shown) {
    ui.rounds.replaceChildren(); // redrawn with the verdict
    render();
  }
}

function onGameOver(e) {
  if (!isCurrent(e)) return;
  Object.assign(game, {
    over: true, live: false, score: e.score ?? game.score, winner: e.winner ?? null,
    reason: e.reason ?? null, away: null, back: null,
  });
  render();
  fire('settled', game.id);
  refreshOpenPanels();
  if (isPlayer()) fire('over', game);
}

function onRematchRequested(e) {
  if (!isCurrent(e) || e.by === me()) return;
  game.rematchOffered = true;
  render();
}

function onOpponentStatus(e) {
  if (!isCurrent(e)) return;
  game.away = e.connected ? null : { name: e.name, graceMs: e.grace_ms ?? 10000 };
  game.back = e.connected ? e.name : null;
  render();
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

/** Answers a challenge (the panel's buttons, or a toast's). */
export async function answerChallenge(id, accept) {
  ui.challenges.querySelector(`li[data-challenge-id="${CSS.escape(id)}"]`)?.remove();
  fire('challengeGone', id);
  const ack = await request('answer_challenge', { challenge_id: id, accept });
  if (!ack.ok) showError(ack.error);
}

function onChallenged(c) {
  if (ui.challenges.querySelector(`li[data-challenge-id="${CSS.escape(String(c.challenge_id))}"]`)) return;
  const id = String(c.challenge_id);
  const item = el('li', { class: 'challenge-item', dataset: { challengeId: id, from: c.from } },
    el('span', {}, `${c.from} challenges you (best of ${c.best_of}).`),
    el('button', { type: 'button', class: 'small primary', on: { click: () => answerChallenge(id, true) } }, 'Accept'),
    el('button', { type: 'button', class: 'small', on: { click: () => answerChallenge(id, false) } }, 'Decline'));
  ui.challenges.append(item);
  const ms = c.expires_in_ms ?? 30000;
  setTimeout(() => {
    item.remove();
    fire('challengeGone', id);
  }, ms);
  fire('challenged', { ...c, id, expiresAt: Date.now() + ms });
}

function onChallengeAnswered(a) {
  if (challengeSent && a.by?.toLocaleLowerCase() === challengeSent.toLocaleLowerCase()) challengeSent = null;
  if (!a.accepted) {
    notice = {
      declined: `${a.by} declined your challenge.`,
      expired: `Your challenge to ${a.by} expired.`,
    }[a.reason] ?? `${a.by} is no longer available.`;
  }
  render();
}

/** Called by a Challenge button in the online list. */
export async function challenge(name) {
  const ack = await request('challenge', { to: name, best_of: Number(ui.bestOf.value) });
  if (!ack.ok) return showError(ack.error);
  if (!game) {
    challengeSent = name;
    render();
  }
}

/** A challenge's line for the toasts (attention.js). */
export const challengeText = (c) => `${c.from} challenges you (best of ${c.best_of}).`;

// --- user actions -----------------------------------------------------------

async function throwMove(move) {
  if (!canThrow()) return;
  const { id, round } = game;
  game.myMove = move;
  render();
  fire('settled', id);
  const ack = await request('throw', { game_id: id, move });
  if (ack.ok || ack.code === 'already_threw') return;
  showError(ack.error);
  if (game?.id === id && game.round === round && game.live) {
    game.myMove = null;
    render();
  }
}

async function findMatch(event) {
  event.preventDefault();
  const bestOf = Number(ui.bestOf.value);
  notice = null;
  const ack = await request('find_match', { best_of: bestOf });
  if (!ack.ok && ack.code !== 'already_queued') showError(ack.error);
  else if (!game) startSearch(bestOf); // a match found before the answer came is what counts
  render();
}

function startSearch(bestOf) {
  search = { bestOf, offer: false };
  clearTimeout(offerTimer);
  offerTimer = setTimeout(() => {
    if (!search) return;
    search.offer = true;
    render();
  }, OFFER_COMPUTER_MS);
}

/** A game against the computer, at once; from the queue, the search is cancelled first. */
async function playComputer() {
  if (search) {
    const cancelled = await request('cancel_match', {});
    if (!cancelled.ok && cancelled.code !== 'not_queued') return showError(cancelled.error);
    search = null;
  }
  const payload = { best_of: Number(ui.bestOf.value), opponent: 'computer' };
  const seconds = Number(settings.get('computerRound'));
  if (Number.isInteger(seconds) && seconds > 0) payload.round_seconds = seconds; // Settings
  const ack = await request('find_match', payload);
  if (!ack.ok) showError(ack.error);
  render(); // match_found came before the ack
}

async function cancelMatch() {
  const ack = await request('cancel_match', {});
  if (!ack.ok && ack.code !== 'not_queued') return showError(ack.error);
  search = null;
  notice = 'Search cancelled.';
  render();
}

let confirmLeave = async () => window.confirm('Leave this game? You will forfeit the match.');

async function leaveGame() {
  if (!game) return;
  if (!isPlayer()) return backToLobby();
  if (!(await confirmLeave(opponent(), !game.results.length))) return;
  const ack = await request('leave_game', { game_id: game.id });
  if (!ack.ok) showError(ack.error); // else game_over (forfeit) follows
}

function backToLobby() {
  if (game && !isPlayer()) request('leave_game', { game_id: game.id }); // stop watching
  game = null;
  notice = null;
  render();
}

async function rematch() {
  if (!game) return;
  const { id } = game;
  const ack = await request('rematch', { game_id: id });
  if (!ack.ok) return showError(ack.error);
  if (game?.id === id && game.over) { // else the new match (match_found) came first
    game.rematchAsked = true;
    render();
  }
}

async function sendGameChat(event) {
  event.preventDefault();
  const msg = ui.chatInput.value;
  if (!game || !msg.trim()) return;
  const ack = await request('game_chat', { game_id: game.id, msg, client_id: crypto.randomUUID() });
  if (!ack.ok) return showError(ack.error);
  ui.chatInput.value = '';
  if (canThrow() && document.activeElement === ui.chatInput) ui.moves.focus(); // R, P, S throw again
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
  if (!settings.get('shortcuts')) return;
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

function refreshOpenPanels() {
  for (const { panel, load } of panels) if (!panel.hidden) load();
}

// --- your games -------------------------------------------------------------

// How a game ended, beside its score; a game won on points says nothing more.
const REASONS = { timeout: 'on time', forfeit: 'by forfeit', disconnect: 'by disconnection', abandoned: 'abandoned', aborted: 'left before any round' };
let myGamesOldest = null;

function myGameItem(g) {
  const mine = me();
  const score = `${g.score?.[mine] ?? 0}–${g.score?.[g.opponent] ?? 0}`;
  const outcomeText = g.reason === 'aborted' ? 'Aborted' : g.winner == null ? 'Draw' : g.winner === mine ? 'Won' : 'Lost';
  const when = new Date(g.ended_at).toLocaleString();
  const meta = [`best of ${g.best_of}`, REASONS[g.reason], when].filter(Boolean).join(' · ');
  const rounds = (g.rounds ?? []).map((r) => el('li', {},
    `Round ${r.round}: you ${moveText(r.moves?.[mine])}, ${g.opponent} ${moveText(r.moves?.[g.opponent])}`
    + ` — ${r.winner == null ? 'draw' : r.winner === mine ? 'you won' : `${r.winner} won`}`));
  if (!rounds.length) rounds.push(el('li', { class: 'empty' }, 'No round was played.'));
  const verdict = el('span', { class: 'verdict' });
  const item = el('li', { class: 'my-game', dataset: { gameId: g.game_id } },
    el('details', {},
      el('summary', {}, `${outcomeText} ${score} against ${g.opponent}`,
        el('span', { class: 'live-meta' }, ` · ${meta}`), verdict),
      el('ol', { class: 'my-game-rounds', 'aria-label': `Rounds against ${g.opponent}` }, ...rounds),
      el('a', { href: gamePageUrl(g.game_id), target: '_blank', rel: 'noopener' },
        `The game's page: replay, ratings`)));
  if (g.computer) verifyGame(g, rounds, verdict);
  return item;
}

/** Checks every round of a game against the computer here, and says so. */
async function verifyGame(g, items, verdict) {
  const rounds = g.rounds ?? [];
  const checks = await Promise.all(rounds.map((r) => opens(r.commit, r.moves?.[g.opponent], r.salt)));
  checks.forEach((ok, i) => {
    if (ok !== null) items[i].append(el('span', { class: 'verdict' }, ` (${verdictText(ok)})`));
  });
  if (!rounds.length || checks.some((ok) => ok === null)) return; // older games: no commitments
  verdict.textContent = checks.every(Boolean)
    ? ' · every round verified' : ' · a round failed verification';
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

async function loadLeaderboard() {
  const ack = await request('leaderboard', {});
  if (!ack.ok) return showError(ack.error);
  const rows = (ack.players ?? []).map((p, i) => el('tr', { class: p.name === me() ? 'me' : null },
    el('td', {}, String(i + 1)),
    el('th', { scope: 'row' }, p.claimed ? el('a', { href: profileUrl(p.name), target: '_blank', rel: 'noopener' }, p.name) : p.name),
    el('td', {}, String(p.wins)), el('td', {}, String(p.losses)), el('td', {}, String(p.draws)),
    el('td', {}, ratingText(p))));
  const provisional = ack.provisional ?? 0;
  if (!rows.length) {
    const text = provisional ? 'No established rating yet.' : 'No games played yet.';
    rows.push(el('tr', {}, el('td', { colspan: 6, class: 'empty' }, text)));
  }
  $('#leaderboard tbody').replaceChildren(...rows);
  $('#leaderboard-provisional').textContent = provisional === 0 ? ''
    : `${provisional} ${provisional === 1 ? 'player' : 'players'} with a provisional rating`
      + ' (shown with "?": fewer games than it takes to be sure) not ranked.';
}

export const gamePageUrl = (gameId) => `/game/${encodeURIComponent(gameId)}`;
export const profileUrl = (name) => `/u/${encodeURIComponent(name)}`;

/** A Glicko-2 rating as lichess shows it: "1580", or "1662?" while provisional. */
function ratingText(standing) {
  return `${standing.rating ?? 1500}${standing.provisional ? '?' : ''}`;
}

/** The live games, kept current while the list is open (the server pushes no changes). */
async function loadGames() {
  clearTimeout(gamesTimer);
  const ack = await request('games', {});
  if ($('#games-panel').hidden) return;
  gamesTimer = setTimeout(() => document.hidden || loadGames(), LIVE_GAMES_REFRESH_MS);
  if (!ack.ok) return ack.transient || showError(ack.error);
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
  const list = $('#games-list');
  const focused = list.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
  list.replaceChildren(...items);
  if (focused) list.querySelector(`button[aria-label="${CSS.escape(focused)}"]`)?.focus();
}

async function watch(gameId) {
  const ack = await request('watch', { game_id: gameId });
  if (!ack.ok) return showError(ack.error);
  if (game && !isPlayer() && game.id !== gameId) request('leave_game', { game_id: game.id });
  restore(ack.game, 'spectator');
  refreshOpenPanels();
}

// --- wiring -------------------------------------------------------------------

/** onBusyChange(busy) tells the online list whether challenges make sense now;
 * askLeave(opponent) resolves to true when the player confirms leaving a game. */
export function initGame(onBusyChange, askLeave) {
  onBusy = onBusyChange;
  if (askLeave) confirmLeave = askLeave;
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
  ui.chatInput.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && game && isPlayer() && !game.over) ui.moves.focus();
  });
  document.addEventListener('keydown', onKey);
  togglePanel($('#leaderboard-toggle'), $('#leaderboard-panel'), loadLeaderboard);
  togglePanel($('#games-toggle'), $('#games-panel'), loadGames);
  togglePanel($('#my-games-toggle'), $('#my-games-panel'), () => loadMyGames());
  $('#my-games-more').addEventListener('click', () => loadMyGames(true));
  ui.computer.addEventListener('click', playComputer);
  $('#offer-computer').addEventListener('click', playComputer);
  $('#games-refresh').addEventListener('click', loadGames);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !$('#games-panel').hidden) loadGames();
  });

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
  if (!connected && search) {
    search = null;
    notice = 'Search stopped: the connection was lost.';
  }
  render();
  if (connected) refreshOpenPanels();
}
