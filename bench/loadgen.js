#!/usr/bin/env node
// Load generator for the chat + rock-paper-scissors servers (ours and the Node peer).
//
// Real socket.io-client 4 clients, websocket transport only, all in this one process.
// Usage: node bench/loadgen.js SCENARIO --url http://127.0.0.1:PORT [--option value ...]
// Scenarios: fanout, latency, capacity, joinstorm, games, acked, soak (see bench/README.md).
// Progress goes to stderr; one JSON line of results goes to stdout at the end.
// capacity also prints `READY {json}` on stderr once every client has connected (or failed),
// then holds its clients until SIGTERM/SIGINT or --hold seconds have passed.
// soak prints `TICK {json}` every --interval seconds and `MINUTE {json}` every 60 s on stderr.

'use strict';

const { performance } = require('node:perf_hooks');
const { io } = require('socket.io-client');

// ---------------------------------------------------------------- options

const DEFAULTS = {
  common: { url: 'http://127.0.0.1:5001', timeout: 110, 'connect-timeout': 20, batch: 200, tag: '' },
  fanout: { clients: 200, senders: 10, messages: 100, ack: 0, idle: 15 },
  latency: { clients: 200, rate: 50, duration: 10, drain: 10, ack: 0 },
  capacity: { clients: 10000, batch: 200, hold: 90, seed: 0 },
  joinstorm: { clients: 1000, batch: 0 },
  games: { players: 100, 'best-of': 3, duration: 10, drain: 5 },
  acked: { clients: 50, duration: 10, drain: 10 },
  soak: {
    chatters: 250,
    players: 50,
    rate: 20,
    duration: 600,
    interval: 5,
    'think-ms': 500,
    'best-of': 3,
    'ack-timeout': 10,
    drain: 10,
    batch: 50,
  },
};

function parseArgs(argv) {
  const scenario = argv[0];
  if (!scenario || !(scenario in DEFAULTS) || scenario === 'common') {
    const names = Object.keys(DEFAULTS).filter((k) => k !== 'common');
    process.stderr.write(`usage: loadgen.js {${names.join('|')}} --url URL [--option value ...]\n`);
    for (const n of ['common', ...names]) {
      process.stderr.write(`  ${n}: ${JSON.stringify(DEFAULTS[n])}\n`);
    }
    process.exit(64);
  }
  const opts = { ...DEFAULTS.common, ...DEFAULTS[scenario] };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    let key = a.slice(2);
    let val;
    const eq = key.indexOf('=');
    if (eq >= 0) {
      val = key.slice(eq + 1);
      key = key.slice(0, eq);
    } else {
      val = argv[++i];
    }
    if (!(key in opts)) throw new Error(`unknown option --${key} for ${scenario}`);
    opts[key] = key === 'url' || key === 'tag' ? val : Number(val);
    if (typeof opts[key] === 'number' && !Number.isFinite(opts[key])) throw new Error(`--${key} needs a number`);
  }
  if (!opts.tag) opts.tag = `b${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
  return { scenario, opts };
}

const { scenario, opts } = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------- helpers

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => process.stderr.write(`[loadgen ${scenario}] ${msg}\n`);
const round = (x, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? null : Number(x.toFixed(d)));

const allClients = [];
let finished = false;

function emitResult(result) {
  if (finished) return;
  finished = true;
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  const out = {
    scenario,
    url: opts.url,
    ...result,
    loadgen_cpu_s: round((cpu.user + cpu.system) / 1e6),
    loadgen: { pid: process.pid, rss_mb: round(mem.rss / 1048576, 1), heap_used_mb: round(mem.heapUsed / 1048576, 1) },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function exitSoon(code = 0) {
  // Dropping the TCP connections is enough: closing 1000s of sockets politely would only make
  // the server broadcast "has left" messages to clients that are about to go away anyway.
  setImmediate(() => process.exit(code));
}

// Hard deadline: whatever happens, report what we have and stop.
let partial = () => ({ error: 'timed out before any result' });
const hardTimer = setTimeout(() => {
  log(`hard timeout after ${opts.timeout}s`);
  emitResult({ timed_out: true, ...partial() });
  exitSoon(2);
}, opts.timeout * 1000);
hardTimer.unref();

function makeClient(extra = {}) {
  const socket = io(opts.url, {
    transports: ['websocket'],
    forceNew: true, // one engine.io connection per client (no multiplexing)
    reconnection: false,
    timeout: opts['connect-timeout'] * 1000,
    ...extra,
  });
  allClients.push(socket);
  return socket;
}

function waitConnect(socket) {
  return new Promise((resolve, reject) => {
    if (socket.connected) {
      resolve();
      return;
    }
    const onOk = () => {
      socket.off('connect_error', onErr);
      resolve();
    };
    const onErr = (err) => {
      socket.off('connect', onOk);
      reject(err);
    };
    socket.once('connect', onOk);
    socket.once('connect_error', onErr);
  });
}

// Connect `n` clients in batches of `batch` concurrent connects. Returns {clients, failed, errors}.
async function connectMany(n, batch, setup, extra = {}) {
  const clients = new Array(n).fill(null);
  let failed = 0;
  const errors = {};
  const step = batch > 0 ? batch : n;
  const t0 = now();
  for (let start = 0; start < n; start += step) {
    const end = Math.min(n, start + step);
    const pending = [];
    for (let i = start; i < end; i++) {
      const s = makeClient(extra);
      if (setup) setup(s, i);
      pending.push(
        waitConnect(s).then(
          () => {
            clients[i] = s;
          },
          (err) => {
            failed++;
            const k = String((err && err.message) || err).slice(0, 80);
            errors[k] = (errors[k] || 0) + 1;
            s.close();
          },
        ),
      );
    }
    await Promise.all(pending);
    if (n >= 1000 && (end % 1000 === 0 || end === n)) {
      log(`connected ${end - failed}/${n} (failed ${failed}) in ${((now() - t0) / 1000).toFixed(1)}s`);
    }
  }
  return { clients, failed, errors, seconds: (now() - t0) / 1000 };
}

// Give every client a username and wait until client 0 has seen every other client enter.
// That proves all set_username events were processed before the measurement starts.
async function nameAll(clients, prefix, timeoutS = 30) {
  const names = clients.map((_, i) => `${prefix}${i}`);
  const want = new Set(names.slice(1).map((n) => `${n} has entered the chat!`));
  let seen = 0;
  let resolveDone;
  const done = new Promise((r) => {
    resolveDone = r;
  });
  const onMsg = (d) => {
    if (d && d.name === null && want.delete(d.txt)) {
      seen++;
      if (want.size === 0) resolveDone();
    }
  };
  clients[0].on('message', onMsg);
  clients[0].emit('set_username', { username: names[0] });
  await sleep(50);
  for (let i = 1; i < clients.length; i++) clients[i].emit('set_username', { username: names[i] });
  if (want.size === 0) resolveDone();
  const ok = await Promise.race([done.then(() => true), sleep(timeoutS * 1000).then(() => false)]);
  clients[0].off('message', onMsg);
  if (!ok) throw new Error(`naming barrier: only ${seen}/${clients.length - 1} "has entered" seen in ${timeoutS}s`);
  return names;
}

function percentiles(values, count) {
  const arr = values.subarray(0, count).sort();
  const pick = (p) => (count ? arr[Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1))] : null);
  let sum = 0;
  for (let i = 0; i < count; i++) sum += arr[i];
  return {
    p50_ms: round(pick(50)),
    p90_ms: round(pick(90)),
    p99_ms: round(pick(99)),
    p999_ms: round(pick(99.9)),
    max_ms: round(count ? arr[count - 1] : null),
    mean_ms: round(count ? sum / count : null),
  };
}

function requireAll(conn, what) {
  if (conn.failed) throw new Error(`${conn.failed} ${what} failed to connect: ${JSON.stringify(conn.errors)}`);
}

// ---------------------------------------------------------------- fanout

async function fanout() {
  const { clients: n, senders: S, messages: M } = opts;
  const conn = await connectMany(n, opts.batch);
  requireAll(conn, 'clients');
  const clients = conn.clients;
  log(`${n} clients connected in ${conn.seconds.toFixed(2)}s; naming`);
  const names = await nameAll(clients, `${opts.tag}-f`);
  const senderIdx = [];
  for (let k = 0; k < S; k++) senderIdx.push(n - S + k); // client 0 is never a sender
  const isSender = new Uint8Array(n);
  for (const i of senderIdx) isSender[i] = 1;
  const senderOf = new Map(senderIdx.map((ci, k) => [names[ci], k]));

  const total = S * M;
  const expected = (n - S) * total + S * (total - M);
  const seen = clients.map(() => new Uint8Array(total));
  const got = new Uint32Array(n);
  let delivered = 0;
  let duplicates = 0;
  let foreign = 0;
  let firstSend = 0;
  let lastDelivery = 0;
  let sendDone = 0;
  let resolveDone;
  const done = new Promise((r) => {
    resolveDone = r;
  });
  const prefix = `${opts.tag}|`;

  clients.forEach((s, ci) => {
    s.on('message', (d) => {
      if (!d || d.name === null || typeof d.txt !== 'string' || !d.txt.startsWith(prefix)) return;
      const parts = d.txt.split('|');
      const k = Number(parts[1]);
      const id = k * M + Number(parts[2]);
      if (!(id >= 0 && id < total) || senderOf.get(d.name) !== k) {
        foreign++;
        return;
      }
      if (seen[ci][id]) {
        duplicates++;
        return;
      }
      seen[ci][id] = 1;
      got[ci]++;
      delivered++;
      lastDelivery = now();
      if (delivered === expected) resolveDone();
    });
  });

  partial = () => summary(true);
  function summary(timedOut) {
    const durS = ((lastDelivery || now()) - firstSend) / 1000;
    const recv = { sender_min: Infinity, sender_max: 0, other_min: Infinity, other_max: 0 };
    for (let i = 0; i < n; i++) {
      const key = isSender[i] ? 'sender' : 'other';
      recv[`${key}_min`] = Math.min(recv[`${key}_min`], got[i]);
      recv[`${key}_max`] = Math.max(recv[`${key}_max`], got[i]);
    }
    return {
      clients: n,
      senders: S,
      messages_per_sender: M,
      messages_sent: total,
      expected_deliveries: expected,
      deliveries: delivered,
      lost: expected - delivered,
      duplicates,
      foreign,
      duration_s: round(durS),
      send_s: round(sendDone ? (sendDone - firstSend) / 1000 : null),
      deliveries_per_s: round(delivered / durS, 1),
      messages_per_s: round(total / durS, 1),
      received_per_client: recv,
      complete: !timedOut && delivered === expected,
    };
  }

  log(`sending ${S} x ${M} messages, expecting ${expected} deliveries`);
  firstSend = now();
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < S; k++) {
      const payload = { msg: `${prefix}${k}|${m}|fanout payload ${k}-${m}` };
      if (opts.ack) clients[senderIdx[k]].emit('message', payload, () => {});
      else clients[senderIdx[k]].emit('message', payload);
    }
  }
  sendDone = now();
  // Finish when complete, or when no new delivery arrived for --idle seconds.
  for (;;) {
    const r = await Promise.race([done.then(() => 'done'), sleep(500).then(() => 'tick')]);
    if (r === 'done') break;
    const quietFor = (now() - (lastDelivery || firstSend)) / 1000;
    if (quietFor > opts.idle) {
      log(`no delivery for ${opts.idle}s; giving up with ${expected - delivered} lost`);
      break;
    }
    log(`${delivered}/${expected} delivered`);
  }
  return summary(false);
}

// ---------------------------------------------------------------- latency

async function latency() {
  const { clients: n, rate, duration } = opts;
  const conn = await connectMany(n, opts.batch);
  requireAll(conn, 'clients');
  const clients = conn.clients;
  log(`${n} clients connected in ${conn.seconds.toFixed(2)}s; naming`);
  await nameAll(clients, `${opts.tag}-l`);
  const total = Math.round(rate * duration);
  const expected = total * (n - 1);
  const lat = new Float64Array(expected);
  const perMsg = new Uint16Array(total);
  let count = 0;
  let duplicates = 0;
  let lastDelivery = 0;
  let sent = 0;
  let maxLag = 0;
  const prefix = `${opts.tag}|`;
  let resolveDone;
  const done = new Promise((r) => {
    resolveDone = r;
  });
  const seen = clients.map(() => new Uint8Array(total));

  clients.forEach((s, ci) => {
    s.on('message', (d) => {
      const t = now();
      if (!d || d.name === null || typeof d.txt !== 'string' || !d.txt.startsWith(prefix)) return;
      const parts = d.txt.split('|');
      const k = Number(parts[1]);
      if (!(k >= 0 && k < total)) return;
      if (seen[ci][k]) {
        duplicates++;
        return;
      }
      seen[ci][k] = 1;
      perMsg[k]++;
      lat[count++] = t - Number(parts[2]);
      lastDelivery = t;
      if (count === expected) resolveDone();
    });
  });

  function summary(timedOut) {
    return {
      clients: n,
      rate_per_s: rate,
      duration_s: duration,
      messages_sent: sent,
      expected_deliveries: sent * (n - 1),
      deliveries: count,
      lost: sent * (n - 1) - count,
      duplicates,
      max_send_lag_ms: round(maxLag),
      ...percentiles(lat, count),
      complete: !timedOut && count === sent * (n - 1),
    };
  }
  partial = () => summary(true);

  log(`offering ${total} messages at ${rate}/s for ${duration}s`);
  const start = now() + 20;
  for (let k = 0; k < total; k++) {
    const due = start + (k * 1000) / rate;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    const t = now();
    maxLag = Math.max(maxLag, t - due);
    const payload = { msg: `${prefix}${k}|${t.toFixed(4)}|latency probe` };
    const sender = clients[k % n];
    if (opts.ack) sender.emit('message', payload, () => {});
    else sender.emit('message', payload);
    sent++;
    if (k % Math.max(1, rate * 2) === 0 && k) log(`${k}/${total} sent, ${count} delivered`);
  }
  const drainEnd = now() + opts.drain * 1000;
  while (count < expected && now() < drainEnd) {
    await Promise.race([done, sleep(200)]);
  }
  return summary(false);
}

// ---------------------------------------------------------------- capacity

async function capacity() {
  const n = opts.clients;
  let disconnected = 0;
  const reasons = {};
  let ready = false;
  // --seed 1: clients as the seed's page makes them: `io(url)` with the client's default
  // transports (long-polling, then the upgrade to WebSocket), then at once
  // set_username {username: 'User-<n>'}; else WebSocket only, no name
  const extra = opts.seed ? { transports: ['polling', 'websocket'] } : {};
  const conn = await connectMany(
    n,
    opts.batch,
    (s, i) => {
      if (opts.seed) s.emit('set_username', { username: `User-${i}` });
      s.on('disconnect', (reason) => {
        if (!ready) return;
        disconnected++;
        reasons[reason] = (reasons[reason] || 0) + 1;
      });
    },
    extra,
  );
  if (opts.seed) {
    // idle means upgraded: wait (bounded) until every connected client is on WebSocket
    const upgradeDeadline = now() + 30000;
    const onPolling = () => conn.clients.filter((s) => s && s.connected && s.io.engine.transport.name !== 'websocket').length;
    while (onPolling() > 0 && now() < upgradeDeadline) await sleep(100);
    if (onPolling() > 0) log(`${onPolling()} clients still on long-polling after 30 s`);
  }
  ready = true;
  const connected = n - conn.failed;
  const mem = process.memoryUsage();
  const info = {
    clients: n,
    connected,
    failed: conn.failed,
    connect_errors: conn.errors,
    ramp_s: round(conn.seconds),
    connects_per_s: round(connected / conn.seconds, 1),
    loadgen_rss_mb: round(mem.rss / 1048576, 1),
  };
  process.stderr.write(`READY ${JSON.stringify(info)}\n`);
  log(`all ${n} attempted: ${connected} connected, ${conn.failed} failed; holding up to ${opts.hold}s`);
  const holdStart = now();
  const stillConnected = () => conn.clients.reduce((a, s) => a + (s && s.connected ? 1 : 0), 0);
  partial = () => ({ ...info, held_s: round((now() - holdStart) / 1000), disconnected_during_hold: disconnected });
  await new Promise((resolve) => {
    const t = setTimeout(resolve, opts.hold * 1000);
    const stop = () => {
      clearTimeout(t);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return {
    ...info,
    held_s: round((now() - holdStart) / 1000),
    still_connected: stillConnected(),
    disconnected_during_hold: disconnected,
    disconnect_reasons: reasons,
  };
}

// ---------------------------------------------------------------- joinstorm

async function joinstorm() {
  const n = opts.clients;
  const prefix = `${opts.tag}-j`;
  // The watcher joins first; a probe client proves the watcher receives broadcasts.
  const watcher = makeClient();
  await waitConnect(watcher);
  watcher.emit('set_username', { username: `${opts.tag}-watcher` });
  const probe = makeClient();
  await waitConnect(probe);
  const probeName = `${opts.tag}-probe`;
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('watcher never saw the probe enter')), 10000);
    const onMsg = (d) => {
      if (d && d.name === null && d.txt === `${probeName} has entered the chat!`) {
        clearTimeout(t);
        watcher.off('message', onMsg);
        resolve();
      }
    };
    watcher.on('message', onMsg);
    probe.emit('set_username', { username: probeName });
  });

  const connectMs = new Float64Array(n);
  const enteredMs = new Float64Array(n);
  let nConnected = 0;
  let nEntered = 0;
  let tConnectedAll = null;
  let tEnteredAll = null;
  let lastEntered = 0;
  let resolveDone;
  const done = new Promise((r) => {
    resolveDone = r;
  });
  const seen = new Uint8Array(n);
  let conn = null;
  const re = new RegExp(`^${prefix}(\\d+) has entered the chat!$`);
  const t0 = now();
  watcher.on('message', (d) => {
    if (!d || d.name !== null || typeof d.txt !== 'string') return;
    const m = re.exec(d.txt);
    if (!m) return;
    const i = Number(m[1]);
    if (i >= n || seen[i]) return;
    seen[i] = 1;
    const t = now();
    enteredMs[nEntered++] = t - t0;
    lastEntered = t;
    if (nEntered === n) {
      tEnteredAll = t - t0;
      resolveDone();
    }
  });

  function summary() {
    const failed = conn ? conn.failed : null;
    const endMs = tEnteredAll !== null ? tEnteredAll : lastEntered ? lastEntered - t0 : null;
    return {
      clients: n,
      connected: nConnected,
      failed,
      entered_seen: nEntered,
      connect_all_s: round(tConnectedAll !== null ? tConnectedAll / 1000 : null),
      entered_all_s: round(tEnteredAll !== null ? tEnteredAll / 1000 : null),
      clients_per_s: round(endMs ? (nEntered / endMs) * 1000 : null, 1),
      connects_per_s: round(tConnectedAll ? (nConnected / tConnectedAll) * 1000 : null, 1),
      connect_latency: percentiles(connectMs, nConnected),
      entered_latency: percentiles(enteredMs, nEntered),
      complete: nEntered === n,
    };
  }
  partial = () => summary();

  log(`storming ${n} clients${opts.batch ? ` in batches of ${opts.batch}` : ' at once'}`);
  conn = await connectMany(n, opts.batch, (s, i) => {
    s.once('connect', () => {
      connectMs[nConnected++] = now() - t0;
      if (nConnected === n) tConnectedAll = now() - t0;
      s.emit('set_username', { username: `${prefix}${i}` });
    });
  });
  log(`${nConnected} connected (${conn.failed} failed) in ${(tConnectedAll / 1000 || 0).toFixed(2)}s`);
  if (conn.failed === 0) {
    const deadline = now() + (opts.timeout - (now() - t0) / 1000 - 5) * 1000;
    while (nEntered < n && now() < deadline) {
      await Promise.race([done, sleep(1000)]);
      if (nEntered < n) log(`${nEntered}/${n} entered seen`);
    }
  }
  return summary();
}

// ---------------------------------------------------------------- games

async function games() {
  const n = opts.players;
  if (n % 2) throw new Error('--players must be even');
  const bestOf = opts['best-of'];
  const needed = Math.floor(bestOf / 2) + 1;
  const conn = await connectMany(n, opts.batch);
  requireAll(conn, 'players');
  const players = conn.clients;
  log(`${n} players connected in ${conn.seconds.toFixed(2)}s; naming`);
  await nameAll(players, `${opts.tag}-g`);

  const MOVES = ['rock', 'paper', 'scissors'];
  const completed = new Set();
  let completedInWindow = 0;
  let rounds = 0;
  let forfeits = 0;
  let opponentThrew = 0;
  const errors = {};
  const matchMs = [];
  let stopQueueing = false;
  let t0 = 0;
  let tEnd = 0;
  let rejectFatal;
  const fatal = new Promise((_, reject) => {
    rejectFatal = reject;
  });
  const countErr = (what, r) => {
    const reason = (r && (r.error || r.message)) || JSON.stringify(r);
    const k = `${what}: ${reason}`.slice(0, 100);
    errors[k] = (errors[k] || 0) + 1;
    // A server without the game events can't be measured: stop at once instead of spinning.
    if (/unknown event/i.test(reason)) rejectFatal(new Error(`server refused ${what}: ${reason}`));
  };
  const state = players.map(() => ({ game: null, matchedAt: 0, queued: false }));

  function queue(i) {
    if (stopQueueing || now() >= tEnd) {
      state[i].queued = false;
      return;
    }
    state[i].queued = true;
    players[i].emit('find_match', { best_of: bestOf }, (r) => {
      if (!r || !r.ok) {
        countErr('find_match', r);
        setTimeout(() => queue(i), 50);
      }
    });
  }
  function throwMove(i) {
    const g = state[i].game;
    players[i].emit('throw', { game_id: g, move: MOVES[Math.floor(Math.random() * 3)] }, (r) => {
      if (!r || !r.ok) countErr('throw', r);
    });
  }

  players.forEach((s, i) => {
    s.on('match_found', (d) => {
      state[i].game = d.game_id;
      state[i].queued = false;
      state[i].matchedAt = now();
      throwMove(i);
    });
    s.on('opponent_threw', () => {
      opponentThrew++;
    });
    s.on('round_result', (d) => {
      if (String(d.game_id) !== String(state[i].game)) return;
      rounds++; // counted once per player: halved in the summary
      const best = Math.max(0, ...Object.values(d.score || {}).map(Number));
      if (best < needed) throwMove(i);
    });
    s.on('game_over', (d) => {
      if (String(d.game_id) !== String(state[i].game)) return;
      state[i].game = null;
      const key = String(d.game_id);
      if (d.reason !== 'won') forfeits++;
      else if (!completed.has(key)) {
        completed.add(key);
        const t = now();
        if (t <= tEnd) completedInWindow++;
        matchMs.push(t - state[i].matchedAt);
      }
      queue(i);
    });
  });

  function summary() {
    const windowS = Math.min(now(), tEnd) - t0;
    const arr = Float64Array.from(matchMs);
    const lat = percentiles(arr, arr.length);
    return {
      players: n,
      best_of: bestOf,
      duration_s: opts.duration,
      matches_completed: completedInWindow,
      matches_per_s: round((completedInWindow / windowS) * 1000, 1),
      rounds_per_s: round((rounds / 2 / windowS) * 1000, 1),
      match_p50_ms: lat.p50_ms,
      match_p99_ms: lat.p99_ms,
      forfeits,
      opponent_threw_seen: opponentThrew,
      errors,
    };
  }
  partial = () => summary();

  log(`playing best-of-${bestOf} for ${opts.duration}s`);
  t0 = now();
  tEnd = t0 + opts.duration * 1000;
  players.forEach((_, i) => queue(i));
  const timer = setInterval(() => log(`${completed.size} matches completed`), 2000);
  try {
    await Promise.race([sleep(opts.duration * 1000), fatal]);
  } finally {
    clearInterval(timer);
  }
  stopQueueing = true;
  // Let matches in flight finish (bounded) so the server is quiet when we leave.
  const drainEnd = now() + opts.drain * 1000;
  while (state.some((s) => s.game !== null) && now() < drainEnd) await sleep(50);
  return summary();
}

// ---------------------------------------------------------------- acked

const bump = (obj, key, by = 1) => {
  obj[key] = (obj[key] || 0) + by;
};

// Every client is a sender that waits for the ack of its message before it sends the next, so
// the server's store-then-ack path sets the pace; every acked message must also reach the others.
async function acked() {
  const { clients: n, duration } = opts;
  const conn = await connectMany(n, opts.batch);
  requireAll(conn, 'clients');
  const clients = conn.clients;
  log(`${n} clients connected in ${conn.seconds.toFixed(2)}s; naming`);
  await nameAll(clients, `${opts.tag}-a`);
  const prefix = `${opts.tag}|`;
  const recv = clients.map(() => []); // recv[k][seq]: deliveries of sender k's message seq
  const isAcked = clients.map(() => []);
  const ackMs = [];
  const errors = {};
  let sent = 0;
  let ackedAll = 0;
  let ackedInWindow = 0;
  let deliveries = 0;
  let lastDelivery = 0;
  let t0 = 0;
  let tEnd = 0;

  clients.forEach((s) => {
    s.on('message', (d) => {
      if (!d || d.name === null || typeof d.txt !== 'string' || !d.txt.startsWith(prefix)) return;
      const parts = d.txt.split('|');
      const row = recv[Number(parts[1])];
      const seq = Number(parts[2]);
      if (!row || !(seq < row.length)) return;
      row[seq]++;
      deliveries++;
      lastDelivery = now();
    });
  });

  function tally() {
    let lost = 0;
    let duplicates = 0;
    recv.forEach((row, k) => {
      row.forEach((c, seq) => {
        if (isAcked[k][seq]) lost += Math.max(0, n - 1 - c);
        duplicates += Math.max(0, c - (n - 1));
      });
    });
    return { lost, duplicates };
  }
  function summary() {
    const windowS = (Math.min(now(), tEnd) - t0) / 1000;
    const arr = Float64Array.from(ackMs);
    const lat = percentiles(arr, arr.length);
    return {
      clients: n,
      senders: n,
      duration_s: duration,
      messages_sent: sent,
      acked: ackedAll,
      acked_in_window: ackedInWindow,
      acked_per_s: round(ackedInWindow / windowS, 1),
      unacked: sent - ackedAll - Object.values(errors).reduce((a, b) => a + b, 0),
      ack_p50_ms: lat.p50_ms,
      ack_p99_ms: lat.p99_ms,
      ack_max_ms: lat.max_ms,
      deliveries,
      deliveries_per_s: round(deliveries / (((lastDelivery || now()) - t0) / 1000), 1),
      expected_deliveries: ackedAll * (n - 1),
      ...tally(),
      errors,
      error_count: Object.values(errors).reduce((a, b) => a + b, 0),
    };
  }
  partial = () => summary();

  let resolveSenders;
  const sendersDone = new Promise((r) => {
    resolveSenders = r;
  });
  let active = n;
  function send(k) {
    if (now() >= tEnd) {
      if (--active === 0) resolveSenders();
      return;
    }
    const seq = recv[k].length;
    recv[k].push(0);
    isAcked[k].push(0);
    const t = now();
    sent++;
    const payload = { msg: `${prefix}${k}|${seq}|acked payload`, client_id: `${opts.tag}-${k}-${seq}` };
    clients[k].timeout(opts.drain * 1000).emit('message', payload, (err, r) => {
      const ta = now();
      if (err) bump(errors, 'ack timeout');
      else if (!r || !r.ok) bump(errors, `message: ${(r && r.error) || JSON.stringify(r)}`.slice(0, 100));
      else {
        isAcked[k][seq] = 1;
        ackedAll++;
        if (ta <= tEnd) ackedInWindow++;
        ackMs.push(ta - t);
      }
      send(k);
    });
  }

  log(`${n} senders, each waiting for its ack, for ${duration}s`);
  t0 = now();
  tEnd = t0 + duration * 1000;
  clients.forEach((_, k) => send(k));
  const timer = setInterval(() => log(`${ackedAll} acked, ${deliveries} delivered`), 2000);
  await sendersDone;
  clearInterval(timer);
  const drainEnd = now() + opts.drain * 1000;
  while (deliveries < ackedAll * (n - 1) && now() < drainEnd) await sleep(100);
  return summary();
}

// ---------------------------------------------------------------- soak

// Percentiles over a whole soak in constant memory: 0.1 ms buckets up to 60 s.
class Histogram {
  constructor() {
    this.buckets = new Uint32Array(600000);
    this.count = 0;
    this.max = 0;
  }

  add(ms) {
    this.buckets[Math.min(this.buckets.length - 1, Math.max(0, Math.floor(ms * 10)))]++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  pct(p) {
    if (!this.count) return null;
    const want = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i];
      if (seen >= want) return round((i + 1) / 10, 1);
    }
    return round(this.max);
  }
}

function newWindow() {
  return { sent: 0, acked: 0, ackMs: [], lat: [], matches: 0, rounds: 0, errors: 0, disconnects: 0 };
}

function windowSummary(w) {
  const lat = percentiles(Float64Array.from(w.lat), w.lat.length);
  const ack = percentiles(Float64Array.from(w.ackMs), w.ackMs.length);
  return {
    sent: w.sent,
    acked: w.acked,
    deliveries: w.lat.length,
    p50_ms: lat.p50_ms,
    p99_ms: lat.p99_ms,
    max_ms: lat.max_ms,
    ack_p99_ms: ack.p99_ms,
    matches: w.matches,
    rounds: w.rounds,
    errors: w.errors,
    disconnects: w.disconnects,
  };
}

// Chatters send at a steady total rate with acks (message k from chatter k mod chatters, on a
// schedule that does not wait); players play best-of-K games back to back, thinking a little
// before every throw. Every named client (players too) receives every chat message.
async function soak() {
  const C = opts.chatters;
  const P = opts.players;
  const n = C + P;
  if (P % 2) throw new Error('--players must be even');
  const bestOf = opts['best-of'];
  const needed = Math.floor(bestOf / 2) + 1;
  const errors = {};
  const windows = { tick: newWindow(), minute: newWindow() };
  const each = (fn) => {
    fn(windows.tick);
    fn(windows.minute);
  };
  const fail = (key) => {
    bump(errors, String(key).slice(0, 100));
    each((w) => w.errors++);
  };
  let running = false;
  let disconnects = 0;
  const conn = await connectMany(n, opts.batch, (s) => {
    s.on('disconnect', (reason) => {
      if (!running) return;
      disconnects++;
      each((w) => w.disconnects++);
      fail(`disconnect: ${reason}`);
    });
  });
  requireAll(conn, 'clients');
  const clients = conn.clients;
  log(`${n} clients connected in ${conn.seconds.toFixed(2)}s; naming`);
  await nameAll(clients, `${opts.tag}-s`, 60);

  const total = Math.round(opts.rate * opts.duration);
  const recvCount = new Uint16Array(total);
  const ackedFlag = new Uint8Array(total);
  const seen = clients.map(() => new Uint8Array(total));
  const latHist = new Histogram();
  const ackHist = new Histogram();
  const matchMs = [];
  const prefix = `${opts.tag}|`;
  let sent = 0;
  let ackedN = 0;
  let deliveries = 0;
  let duplicates = 0;
  let matches = 0;
  let rounds = 0;
  let maxLag = 0;

  clients.forEach((s, ci) => {
    s.on('message', (d) => {
      const t = now();
      if (!d || d.name === null || typeof d.txt !== 'string' || !d.txt.startsWith(prefix)) return;
      const parts = d.txt.split('|');
      const k = Number(parts[1]);
      if (!(k >= 0 && k < total)) return;
      if (seen[ci][k]) {
        duplicates++;
        return;
      }
      seen[ci][k] = 1;
      recvCount[k]++;
      deliveries++;
      const ms = t - Number(parts[2]);
      latHist.add(ms);
      each((w) => w.lat.push(ms));
    });
  });

  // ---- players
  const MOVES = ['rock', 'paper', 'scissors'];
  const think = () => opts['think-ms'] * (0.5 + Math.random());
  const state = clients.map(() => ({ game: null, matchedAt: 0 }));
  let tEnd = Infinity;
  // Both players see every round_result and game_over: count the first, forget on the second.
  const half = new Set();
  const firstOfTwo = (key) => {
    if (half.delete(key)) return false;
    half.add(key);
    return true;
  };
  function queue(i) {
    if (now() >= tEnd) return;
    clients[i].emit('find_match', { best_of: bestOf }, (r) => {
      if (!r || !r.ok) {
        fail(`find_match: ${(r && r.error) || JSON.stringify(r)}`);
        setTimeout(() => queue(i), 500);
      }
    });
  }
  function throwLater(i, game) {
    setTimeout(() => {
      if (state[i].game !== game) return;
      const move = MOVES[Math.floor(Math.random() * 3)];
      clients[i].emit('throw', { game_id: game, move }, (r) => {
        if (!r || !r.ok) fail(`throw: ${(r && r.error) || JSON.stringify(r)}`);
      });
    }, think());
  }
  for (let i = C; i < n; i++) {
    const s = clients[i];
    s.on('match_found', (d) => {
      state[i].game = d.game_id;
      state[i].matchedAt = now();
      throwLater(i, d.game_id);
    });
    s.on('round_result', (d) => {
      if (String(d.game_id) !== String(state[i].game)) return;
      if (firstOfTwo(`${d.game_id}:${d.round}`)) {
        rounds++;
        each((w) => w.rounds++);
      }
      const best = Math.max(0, ...Object.values(d.score || {}).map(Number));
      if (best < needed) throwLater(i, state[i].game);
    });
    s.on('game_over', (d) => {
      if (String(d.game_id) !== String(state[i].game)) return;
      state[i].game = null;
      if (d.reason === 'won') {
        if (firstOfTwo(String(d.game_id))) {
          matches++;
          each((w) => w.matches++);
        }
        matchMs.push(now() - state[i].matchedAt);
      } else fail(`game_over: ${d.reason}`);
      queue(i);
    });
  }

  function summary(timedOut) {
    let lostMessages = 0;
    let missing = 0;
    for (let k = 0; k < sent; k++) {
      if (!ackedFlag[k]) continue;
      const m = Math.max(0, n - 1 - recvCount[k]);
      missing += m;
      if (m) lostMessages++;
    }
    const match = percentiles(Float64Array.from(matchMs), matchMs.length);
    return {
      chatters: C,
      players: P,
      clients: n,
      rate_per_s: opts.rate,
      duration_s: opts.duration,
      messages_sent: sent,
      acked: ackedN,
      unacked: sent - ackedN,
      expected_deliveries: ackedN * (n - 1),
      deliveries,
      lost: lostMessages,
      deliveries_missing: missing,
      duplicates,
      p50_ms: latHist.pct(50),
      p99_ms: latHist.pct(99),
      p999_ms: latHist.pct(99.9),
      max_ms: round(latHist.max, 1),
      ack_p50_ms: ackHist.pct(50),
      ack_p99_ms: ackHist.pct(99),
      max_send_lag_ms: round(maxLag),
      matches,
      rounds,
      match_p50_ms: match.p50_ms,
      match_p99_ms: match.p99_ms,
      disconnects,
      errors,
      error_count: Object.values(errors).reduce((a, b) => a + b, 0),
      complete: !timedOut && ackedN === sent && missing === 0,
    };
  }
  partial = () => summary(true);

  log(`soak: ${C} chatters at ${opts.rate} msg/s, ${P} players, for ${opts.duration}s`);
  running = true;
  const t0 = now();
  tEnd = t0 + opts.duration * 1000;
  const elapsed = () => round((now() - t0) / 1000, 1);
  const connected = () => clients.reduce((a, s) => a + (s.connected ? 1 : 0), 0);
  const report = (label, key) => {
    const line = { t: elapsed(), ...windowSummary(windows[key]), connected: connected() };
    windows[key] = newWindow();
    process.stderr.write(`${label} ${JSON.stringify(line)}\n`);
  };
  const tick = setInterval(() => report('TICK', 'tick'), opts.interval * 1000);
  const minute = setInterval(() => report('MINUTE', 'minute'), 60000);
  for (let i = C; i < n; i++) queue(i);

  for (let k = 0; k < total; k++) {
    const due = t0 + (k * 1000) / opts.rate;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    const t = now();
    maxLag = Math.max(maxLag, t - due);
    const payload = { msg: `${prefix}${k}|${t.toFixed(4)}|soak chat line`, client_id: `${opts.tag}-${k}` };
    clients[k % C].timeout(opts['ack-timeout'] * 1000).emit('message', payload, (err, r) => {
      if (err) fail('message: ack timeout');
      else if (!r || !r.ok) fail(`message: ${(r && r.error) || JSON.stringify(r)}`);
      else {
        ackedFlag[k] = 1;
        ackedN++;
        const ms = now() - t;
        ackHist.add(ms);
        each((w) => {
          w.acked++;
          w.ackMs.push(ms);
        });
      }
    });
    sent++;
    each((w) => w.sent++);
  }
  const rest = tEnd - now();
  if (rest > 0) await sleep(rest);
  clearInterval(tick);
  clearInterval(minute);
  for (const [label, key] of [['TICK', 'tick'], ['MINUTE', 'minute']]) {
    if (windows[key].sent || windows[key].lat.length) report(label, key); // the partial window
  }
  // Drain (bounded): the last messages' deliveries and acks, and the games in flight.
  const drainEnd = now() + opts.drain * 1000;
  const busy = () => deliveries < ackedN * (n - 1) || ackedN < sent || state.some((s) => s.game !== null);
  while (busy() && now() < drainEnd) await sleep(100);
  running = false;
  return summary(false);
}

// ---------------------------------------------------------------- main

const SCENARIOS = { fanout, latency, capacity, joinstorm, games, acked, soak };

SCENARIOS[scenario]()
  .then((result) => {
    emitResult(result);
    exitSoon(0);
  })
  .catch((err) => {
    log(`failed: ${(err && err.stack) || err}`);
    emitResult({ ...partial(), error: String((err && err.message) || err) });
    exitSoon(1);
  });
