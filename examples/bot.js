#!/usr/bin/env node
// An example bot for rps-chat, written from docs/protocol.md ("Writing a client") alone.
//
// It takes a name, plays one best-of-3 match against the computer and finishes it even when
// its connection drops mid-game: socket.io-client reconnects by itself, and the `auth`
// FUNCTION below makes every reconnection a resume (the latest token, last_id and dm_last_id).
//
//   npm ci    # socket.io-client, pinned in package.json
//   node examples/bot.js http://127.0.0.1:4321 [--name Bot] [--best-of 3] [--think-ms 500]
//
// It prints one JSON line per thing that happens and exits 0 once its match is over (1 if it
// can't go on: refused, kicked, banned, timed out). tests/net/test_bot.py runs it against a
// real server and cuts its connection mid-game.
"use strict";

const { io } = require("socket.io-client");

const MOVES = ["rock", "paper", "scissors"];
const ACK_TIMEOUT_MS = 10000;

function parseArgs(argv) {
  const options = { url: "http://127.0.0.1:4321", name: `Bot-${Math.random().toString(36).slice(2, 8)}`,
    bestOf: 3, thinkMs: 500, timeoutS: 120 };
  const flags = { "--name": "name", "--best-of": "bestOf", "--think-ms": "thinkMs", "--timeout-s": "timeoutS" };
  for (let i = 0; i < argv.length; i++) {
    const key = flags[argv[i]];
    if (key) {
      const value = argv[++i];
      options[key] = key === "name" ? value : Number(value);
    } else {
      options.url = argv[i];
    }
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));

function log(event, details = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...details })}\n`);
}

let finished = false;

function finish(code, details) {
  if (finished) return;
  finished = true;
  log(code === 0 ? "done" : "failed", details);
  socket.disconnect(); // a deliberate leave: the server frees the name at once
  setImmediate(() => process.exit(code));
}

// What a resume needs, always the latest: kept up to date by the handlers below.
const session = { token: null, lastId: null, dmLastId: null };
// The match: `thrownIn` is the round this bot has thrown in (so it throws once per round).
const game = { id: null, round: 0, thrownIn: 0, winsNeeded: 0, over: false, stateSeen: false };

const socket = io(options.url, {
  // A FUNCTION, called before every connection attempt, the automatic reconnections included.
  // An object (`auth: {token}`) would be sent as it was when io() ran: without the token the
  // bot got later, so a reconnection would not resume.
  auth: (cb) => {
    if (session.token === null) return cb({});
    const auth = { token: session.token };
    if (session.lastId !== null) auth.last_id = session.lastId;
    if (session.dmLastId !== null) auth.dm_last_id = session.dmLastId;
    cb(auth);
  },
});

async function call(event, payload) {
  return socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
}

async function start() {
  const named = await call("set_username", { username: options.name });
  if (!named.ok) return finish(1, { step: "set_username", refused: named });
  session.token = named.token;
  log("named", { username: named.username });
  const found = await call("find_match", { best_of: options.bestOf, opponent: "computer" });
  if (!found.ok) return finish(1, { step: "find_match", refused: found });
}

// ---- the connection ------------------------------------------------------------------------

socket.on("connect", () => {
  log("connect", { resuming: session.token !== null });
  // With a token the server answers with `session` (below); without one, take a name.
  if (session.token === null) start().catch((err) => finish(1, { step: "start", error: String(err) }));
});

socket.on("session", (data) => {
  log("session", data);
  if (data.resumed) {
    session.token = data.token;
    game.stateSeen = false;
    // `game_state` comes next when the match is still on. The ack of an event sent now comes
    // after everything the resume sends: no `game_state` by then, and the match ended while
    // the bot was away (a round timed out, or the grace period ran out).
    if (game.id !== null && !game.over) checkStillPlaying().catch(() => {}); // dropped again
    return;
  }
  // Not resumed (the token expired, the grace period is over and the name was taken, ...):
  // the old match is lost. Start again under a name.
  session.token = null;
  game.id = null;
  start().catch((err) => finish(1, { step: "restart", error: String(err) }));
});

async function checkStillPlaying() {
  const gameId = game.id;
  const answer = await call("my_games", { limit: 1 });
  if (game.stateSeen || game.id !== gameId || game.over) return; // still on, or told already
  game.over = true;
  // A claimed name's record says how it ended; a guest's went with the guest (grace over).
  const [latest] = answer.ok ? answer.games : [];
  const record = latest && latest.game_id === gameId ? latest : { reason: "disconnect" };
  finish(0, { game_id: gameId, winner: record.winner ?? null, score: record.score ?? null,
    reason: record.reason, ended_while_away: true });
}

socket.on("connect_error", (err) => {
  log("connect_error", { message: err.message, data: err.data });
  // Refused by the server (banned, too many connections): the client will not try again.
  if (!socket.active) finish(1, { step: "connect", error: err.message });
});

socket.on("disconnect", (reason) => {
  log("disconnect", { reason });
  // "io server disconnect": the server ended it (kicked, or this connection was replaced),
  // and socket.io-client does not reconnect by itself. Every other reason: it does.
  if (reason === "io server disconnect") finish(1, { step: "connection", error: reason });
});

// ---- the ids a resume sends back -----------------------------------------------------------

function seen(id) {
  if (Number.isInteger(id) && (session.lastId === null || id > session.lastId)) session.lastId = id;
}

socket.on("message", (m) => seen(m.id));
socket.on("history", (h) => h.messages.forEach((m) => seen(m.id)));
socket.on("game_message", (m) => seen(m.id));
socket.on("dm", (m) => {
  if (session.dmLastId === null || m.id > session.dmLastId) session.dmLastId = m.id;
});

// ---- the match ------------------------------------------------------------------------------

socket.on("match_found", (m) => {
  Object.assign(game, { id: m.game_id, round: 0, thrownIn: 0, over: false });
  game.winsNeeded = Math.floor(m.best_of / 2) + 1; // the first to this many round wins
  log("match_found", { game_id: m.game_id, opponent: m.opponent, best_of: m.best_of });
});

socket.on("round_started", (r) => {
  if (r.game_id !== game.id) return;
  game.round = r.round;
  log("round_started", { round: r.round });
  setTimeout(() => play(r.round), options.thinkMs);
});

// After a resume: the match as the server has it, this round's move included if it got one.
socket.on("game_state", (state) => {
  if (state.game_id !== game.id && game.id !== null) return;
  game.stateSeen = true;
  Object.assign(game, { id: state.game_id, round: state.round, winsNeeded: state.wins_needed });
  game.thrownIn = state.your_move === null ? 0 : state.round;
  log("game_state", { round: state.round, score: state.score, your_move: state.your_move });
  if (state.status === "playing" && state.your_move === null) play(state.round);
});

async function play(round) {
  // Once per round, and never into a dead connection (the resume's game_state will say).
  if (game.over || round !== game.round || game.thrownIn === round || !socket.connected) return;
  game.thrownIn = round;
  const move = MOVES[Math.floor(Math.random() * MOVES.length)];
  let ack;
  try {
    ack = await call("throw", { game_id: game.id, move });
  } catch {
    return; // no ack in time: the connection dropped; the resume's game_state will say
  }
  if (!ack.ok) log("throw_refused", { round, error: ack.error });
}

// Against the computer, round_result (and the next round_started) come BEFORE the throw's
// ack; the match's last round_result is followed by the ack, then game_over.
socket.on("round_result", (r) => {
  if (r.game_id !== game.id) return;
  const decided = Object.values(r.score).some((wins) => wins >= game.winsNeeded);
  if (decided) game.over = true; // game_over follows: throw nothing more
  log("round_result", { round: r.round, moves: r.moves, winner: r.winner, score: r.score, decided });
});

socket.on("game_over", (g) => {
  if (g.game_id !== game.id) return;
  game.over = true;
  finish(0, { game_id: g.game_id, winner: g.winner, score: g.score, reason: g.reason });
});

// Told why before the server closes the connection (docs/protocol.md, "Moderation").
for (const event of ["kicked", "banned"]) {
  socket.on(event, (data) => log(event, data));
}

setTimeout(() => finish(1, { step: "timeout", error: `not over after ${options.timeoutS} s` }),
  options.timeoutS * 1000).unref();
