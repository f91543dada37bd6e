// Drive the server with the official socket.io-client (node_modules/socket.io-client, 4.8.4).
//
// Reads a scenario as JSON from stdin (or from argv[2]) and prints one JSON report line:
//   {"saved": {...}, "events": {"<client>": [[event, data], ...]}, "error": null | "..."}
//
// Scenario: {"url": "http://127.0.0.1:PORT", "timeout": 5000,
//            "clients": {"a": {"transports": ["websocket"], "auth": {}, "extraHeaders": {}}},
//            "steps": [...]}
// Steps (run in order; `client` names one of `clients`; `save` stores a result under a key):
//   {"connect": "a", "save": "k"}             -> {connected, id, error}; fails unless connected,
//                                                 or with "expect_error": true, unless refused
//   {"call": "set_username", "client": "a", "data": {...}, "save": "k", "timeout": ms}
//   {"emit": "message", "client": "a", "data": {...}}   (no ack callback)
//   {"wait": "message", "client": "b", "match": {"txt": "..."}, "save": "k", "timeout": ms}
//   {"disconnect": "a"}                       (socket.disconnect(): a voluntary leave)
//   {"upgraded": "a", "timeout": ms}          waits until a's transport is WebSocket (after the
//                                                 upgrade from long-polling); fails otherwise
//   {"sleep": ms}
//   {"crowd": "m", "count": 1100, "transports": ["websocket"], "batch": 100, "save": "k"}
//       opens `count` extra clients (no names) -> {connected, failed, errors: [first few]}
//   {"crowd_wait": "m", "event": "message", "match": {...}, "timeout": ms, "save": "k"}
//       -> {received, count}: how many crowd clients got a matching event
//   {"crowd_close": "m"}
import { io } from "socket.io-client";
import { readFileSync } from "node:fs";

const report = { saved: {}, events: {}, error: null };

function readScenario() {
  const raw = process.argv[2] ?? readFileSync(0, "utf8");
  return JSON.parse(raw);
}

function matches(data, match) {
  if (match === undefined || match === null) return true;
  if (typeof match !== "object") return JSON.stringify(data) === JSON.stringify(match);
  if (data === null || typeof data !== "object") return false;
  return Object.entries(match).every(([k, v]) =>
    v !== null && typeof v === "object" ? matches(data[k], v) : data[k] === v,
  );
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function makeSocket(url, options) {
  return io(url, {
    forceNew: true,
    reconnection: false,
    autoConnect: false,
    timeout: 10000,
    ...options,
  });
}

class Recorder {
  constructor(name, socket) {
    this.name = name;
    this.socket = socket;
    this.events = [];
    this.waiters = [];
    report.events[name] = this.events;
    socket.onAny((event, ...args) => this.push(event, args.length === 1 ? args[0] : args));
    socket.on("connect", () => this.push("connect", null));
    socket.on("connect_error", (err) => this.push("connect_error", String(err?.message ?? err)));
    socket.on("disconnect", (reason) => this.push("disconnect", reason));
  }

  push(event, data) {
    this.events.push([event, data]);
    for (const waiter of [...this.waiters]) waiter();
  }

  waitFor(event, match, timeout) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.events.find(([e, d]) => e === event && matches(d, match));
        if (hit) {
          done();
          resolve(hit[1]);
          return true;
        }
        return false;
      };
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      const timer = setTimeout(() => {
        done();
        const last = this.events.slice(-10).map(([e, d]) => [e, JSON.stringify(d)?.slice(0, 100)]);
        reject(
          new Error(
            `${this.name}: no ${event} matching ${JSON.stringify(match)} within ${timeout} ms; ` +
              `last: ${JSON.stringify(last)}`,
          ),
        );
      }, timeout);
      if (!check()) this.waiters.push(check);
    });
  }
}

function connectOne(socket, timeout) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish({ connected: false, error: "timeout" }), timeout);
    const finish = (result) => {
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
      resolve(result);
    };
    const onConnect = () => finish({ connected: true, id: socket.id });
    const onError = (err) =>
      finish({ connected: false, error: String(err?.message ?? err), data: err?.data ?? null });
    socket.once("connect", onConnect);
    socket.once("connect_error", onError);
    socket.connect();
  });
}

async function run(scenario) {
  const url = scenario.url;
  const defaultTimeout = scenario.timeout ?? 5000;
  const clients = {};
  const crowds = {};
  for (const [name, options] of Object.entries(scenario.clients ?? {})) {
    clients[name] = new Recorder(name, makeSocket(url, options));
  }
  const client = (step) => {
    const c = clients[step.client];
    if (!c) throw new Error(`unknown client ${step.client}`);
    return c;
  };
  const save = (step, value) => {
    if (step.save) report.saved[step.save] = value;
  };

  try {
    for (const step of scenario.steps ?? []) {
      const timeout = step.timeout ?? defaultTimeout;
      if ("connect" in step) {
        const c = clients[step.connect];
        const result = await connectOne(c.socket, timeout);
        save(step, result);
        if (!result.connected && !step.expect_error) {
          throw new Error(`${step.connect} could not connect: ${result.error}`);
        }
        if (result.connected && step.expect_error) {
          throw new Error(`${step.connect} connected but was expected to be refused`);
        }
      } else if ("call" in step) {
        const ack = await client(step).socket.timeout(timeout).emitWithAck(step.call, step.data);
        save(step, ack);
      } else if ("emit" in step) {
        client(step).socket.emit(step.emit, step.data);
      } else if ("wait" in step) {
        save(step, await client(step).waitFor(step.wait, step.match, timeout));
      } else if ("disconnect" in step) {
        clients[step.disconnect].socket.disconnect();
      } else if ("upgraded" in step) {
        const engine = clients[step.upgraded].socket.io.engine;
        const deadline = Date.now() + timeout;
        while (engine?.transport?.name !== "websocket") {
          if (Date.now() > deadline) throw new Error(`${step.upgraded} did not upgrade`);
          await sleep(10);
        }
      } else if ("sleep" in step) {
        await sleep(step.sleep);
      } else if ("crowd" in step) {
        const sockets = [];
        const result = { connected: 0, failed: 0, errors: [] };
        const batch = step.batch ?? 100;
        for (let i = 0; i < step.count; i += batch) {
          const group = [];
          for (let j = i; j < Math.min(step.count, i + batch); j++) {
            const socket = makeSocket(url, { transports: step.transports ?? ["websocket"] });
            socket.received = [];
            socket.onAny((event, data) => socket.received.push([event, data]));
            sockets.push(socket);
            group.push(connectOne(socket, timeout));
          }
          for (const r of await Promise.all(group)) {
            if (r.connected) result.connected += 1;
            else {
              result.failed += 1;
              if (result.errors.length < 5) result.errors.push(r.error);
            }
          }
        }
        crowds[step.crowd] = sockets;
        save(step, result);
      } else if ("crowd_wait" in step) {
        const sockets = crowds[step.crowd_wait];
        const got = (s) => s.received.some(([e, d]) => e === step.event && matches(d, step.match));
        const deadline = Date.now() + timeout;
        while (Date.now() < deadline && !sockets.every(got)) await sleep(50);
        save(step, { received: sockets.filter(got).length, count: sockets.length });
      } else if ("crowd_close" in step) {
        for (const socket of crowds[step.crowd_close] ?? []) socket.disconnect();
      } else {
        throw new Error(`unknown step ${JSON.stringify(step)}`);
      }
    }
  } catch (err) {
    report.error = String(err?.stack ?? err);
  } finally {
    for (const c of Object.values(clients)) c.socket.disconnect();
    for (const sockets of Object.values(crowds)) for (const s of sockets) s.disconnect();
  }
}

run(readScenario())
  .catch((err) => {
    report.error = String(err?.stack ?? err);
  })
  .finally(() => {
    process.stdout.write(JSON.stringify(report) + "\n", () => process.exit(report.error ? 1 : 0));
  });
