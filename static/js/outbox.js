// Outgoing lobby messages: each has a client_id and stays pending until acked,
// survives reloads (sessionStorage) and is resent in order after a reconnect.
import { request, isNamed } from './connection.js';
import * as store from './storage.js';

const pending = new Map(); // client_id -> {client_id, msg, at}
let view = null; // {pending(entry), sent(entry, ack), failed(entry, error)}
let pumping = false;
let retryTimer = null;

const save = () => store.setPending([...pending.values()]);

/** Restores messages left pending by a previous page load. */
export function initOutbox(renderer) {
  view = renderer;
  for (const entry of store.getPending()) {
    pending.set(entry.client_id, entry);
    view.pending(entry);
  }
}

/** Queues a lobby message; `replyTo` {id, quote}: the message it answers (edits.js). */
export function send(msg, replyTo = null) {
  const entry = { client_id: crypto.randomUUID(), msg, at: Date.now() };
  if (replyTo) Object.assign(entry, { reply_to: replyTo.id, quote: replyTo.quote });
  pending.set(entry.client_id, entry);
  save();
  view.pending(entry);
  pump();
}

/** Sends pending messages one at a time so the server stores them in order. */
export async function pump() {
  if (pumping) return;
  pumping = true;
  clearTimeout(retryTimer);
  try {
    while (isNamed() && pending.size) {
      const entry = pending.values().next().value;
      const payload = { msg: entry.msg, client_id: entry.client_id };
      if (entry.reply_to) payload.reply_to = entry.reply_to;
      const ack = await request('message', payload);
      if (!pending.has(entry.client_id)) continue;
      if (ack.ok) {
        pending.delete(entry.client_id);
        view.sent(entry, ack);
      } else if (ack.transient) {
        if (!isNamed()) break; // resent after the next resume
      } else if (['rate_limited', 'name_required', 'unavailable', 'restarting'].includes(ack.code)) {
        // kept and sent again: too fast, not named yet, the server's storage failed or it is
        // restarting (protocol "Refusal codes": each says when, retry_after)
        retryTimer = setTimeout(pump, (ack.retry_after || 1) * 1000 + 50);
        break;
      } else {
        pending.delete(entry.client_id);
        view.failed(entry, ack.error);
      }
      save();
    }
  } finally {
    pumping = false;
  }
}
