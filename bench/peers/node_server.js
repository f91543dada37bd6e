#!/usr/bin/env node
// Node.js Socket.IO 4 peer server for the side-by-side benchmarks.
//
// Speaks the same seed protocol as our Flask-SocketIO server:
//   set_username {username}  -> everyone else: message {name: null, txt: "<name> has entered the chat!"}
//   message {msg}            -> everyone but the sender: message {name, txt}; ack {ok: true} if asked
//   disconnect               -> everyone: message {name: null, txt: "<name> has left the chat!"}
// plus the minimal rock-paper-scissors contract:
//   find_match {best_of}     ack {ok}; when paired both get match_found {game_id, opponent, best_of}
//   throw {game_id, move}    ack {ok}; opponent gets opponent_threw {game_id};
//                            when both threw, both get round_result {game_id, round, moves, winner, score}
//                            at a majority of best_of both get game_over {game_id, winner, score, reason: 'won'}
//
// Socket.IO defaults are kept on purpose (perMessageDeflate off, default maxHttpBufferSize,
// default ping interval/timeout, both transports allowed).
//
// Env: PORT (default 5001), HOST (default 127.0.0.1).

'use strict';

const http = require('node:http');
const { Server } = require('socket.io');

const PORT = Number.parseInt(process.env.PORT || '5001', 10);
const HOST = process.env.HOST || '127.0.0.1';

const MOVES = new Set(['rock', 'paper', 'scissors']);
const BEATS = { rock: 'scissors', paper: 'rock', scissors: 'paper' };

const httpServer = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer);

// best_of -> socket waiting for an opponent
const waiting = new Map();
// game_id -> game
const games = new Map();
let nextGameId = 1;

function ack(cb, payload) {
  if (typeof cb === 'function') cb(payload);
}

function nameOf(socket) {
  return socket.data.username || null;
}

function endGame(game, winner, reason) {
  games.delete(game.id);
  for (const s of game.players) {
    if (s.data.gameId === game.id) s.data.gameId = null;
  }
  const payload = { game_id: game.id, winner, score: { ...game.score }, reason };
  for (const s of game.players) {
    if (s.connected) s.emit('game_over', payload);
  }
}

io.on('connection', (socket) => {
  socket.data.username = null;
  socket.data.gameId = null;
  socket.data.queuedFor = null;

  socket.on('set_username', (data, cb) => {
    const username = data && typeof data.username === 'string' ? data.username.trim() : '';
    if (!username) {
      ack(cb, { ok: false, error: 'username required' });
      return;
    }
    socket.data.username = username;
    socket.broadcast.emit('message', { name: null, txt: `${username} has entered the chat!` });
    ack(cb, { ok: true });
  });

  socket.on('message', (data, cb) => {
    const msg = data && typeof data.msg === 'string' ? data.msg : null;
    if (msg === null) {
      ack(cb, { ok: false, error: 'msg required' });
      return;
    }
    socket.broadcast.emit('message', { name: nameOf(socket), txt: msg });
    ack(cb, { ok: true });
  });

  socket.on('find_match', (data, cb) => {
    const bestOf = Number.parseInt(data && data.best_of, 10) || 3;
    if (bestOf < 1 || bestOf % 2 === 0 || !socket.data.username) {
      ack(cb, { ok: false, error: !socket.data.username ? 'username required' : 'bad best_of' });
      return;
    }
    if (socket.data.gameId !== null || socket.data.queuedFor !== null) {
      ack(cb, { ok: false, error: 'already playing or queued' });
      return;
    }
    const other = waiting.get(bestOf);
    if (!other || !other.connected || other === socket) {
      waiting.set(bestOf, socket);
      socket.data.queuedFor = bestOf;
      ack(cb, { ok: true });
      return;
    }
    waiting.delete(bestOf);
    other.data.queuedFor = null;
    const game = {
      id: String(nextGameId++),
      bestOf,
      needed: Math.floor(bestOf / 2) + 1,
      players: [other, socket],
      names: [nameOf(other), nameOf(socket)],
      moves: [null, null],
      round: 0,
      score: { [nameOf(other)]: 0, [nameOf(socket)]: 0 },
    };
    games.set(game.id, game);
    other.data.gameId = game.id;
    socket.data.gameId = game.id;
    ack(cb, { ok: true });
    other.emit('match_found', { game_id: game.id, opponent: game.names[1], best_of: bestOf });
    socket.emit('match_found', { game_id: game.id, opponent: game.names[0], best_of: bestOf });
  });

  socket.on('throw', (data, cb) => {
    const gameId = data && data.game_id !== undefined ? String(data.game_id) : null;
    const move = data && data.move;
    const game = gameId !== null ? games.get(gameId) : undefined;
    if (!game || !MOVES.has(move)) {
      ack(cb, { ok: false, error: !game ? 'no such game' : 'bad move' });
      return;
    }
    const idx = game.players.indexOf(socket);
    if (idx < 0 || game.moves[idx] !== null) {
      ack(cb, { ok: false, error: idx < 0 ? 'not your game' : 'already threw' });
      return;
    }
    game.moves[idx] = move;
    ack(cb, { ok: true });
    const opp = game.players[1 - idx];
    opp.emit('opponent_threw', { game_id: game.id });
    if (game.moves[1 - idx] === null) return;

    game.round += 1;
    const [m0, m1] = game.moves;
    let winner = null;
    if (BEATS[m0] === m1) winner = game.names[0];
    else if (BEATS[m1] === m0) winner = game.names[1];
    if (winner !== null) game.score[winner] += 1;
    const result = {
      game_id: game.id,
      round: game.round,
      moves: { [game.names[0]]: m0, [game.names[1]]: m1 },
      winner,
      score: { ...game.score },
    };
    game.moves = [null, null];
    for (const s of game.players) s.emit('round_result', result);
    if (winner !== null && game.score[winner] >= game.needed) endGame(game, winner, 'won');
  });

  socket.on('disconnect', () => {
    const name = nameOf(socket);
    if (socket.data.queuedFor !== null && waiting.get(socket.data.queuedFor) === socket) {
      waiting.delete(socket.data.queuedFor);
    }
    if (socket.data.gameId !== null) {
      const game = games.get(socket.data.gameId);
      if (game) {
        const idx = game.players.indexOf(socket);
        endGame(game, game.names[1 - idx], 'forfeit');
      }
    }
    if (name) io.emit('message', { name: null, txt: `${name} has left the chat!` });
  });
});

httpServer.listen(PORT, HOST, () => {
  process.stderr.write(`node peer listening on http://${HOST}:${PORT} (pid ${process.pid})\n`);
});

function shutdown() {
  io.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
