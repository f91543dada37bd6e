"""Shared state in Redis (REDIS_URL), so that many nodes behind a load balancer act as one server.

With REDIS_URL set, everything that must be the same on every node lives here, changed only by
atomic operations (a Lua script or a single command): the names online and who holds them, each
user's connection and node, tokens, rate-limit buckets, the match-making queue, challenges,
rematch requests and live games. What stays in a node's memory is only about its own sockets.

Nodes and ghosts. Every node has an id and a key `alive:<node>` that expires after
NODE_TTL_SECONDS; `ClusterKeeper` refreshes it every tick (a quarter of the TTL, at most 1 s).
Each online user records its node (`home`), which moves when the user resumes elsewhere. Every
node's keeper also looks for nodes whose key has expired (killed, frozen, cut off): it takes
their users over one by one (an atomic move, so one node gets each) and treats each as dropped,
through the chat's normal path: the opponent is told, and after RESUME_GRACE_SECONDS without a
resume the user leaves (leave line, presence, game over by `disconnect`, queue entries and
challenges dropped). A dead node's users are therefore gone within
NODE_TTL_SECONDS + one tick + RESUME_GRACE_SECONDS: 21 s with the defaults.

Round timers run on the node that started the round; the keeper on every node also settles
rounds more than a tick overdue (idempotent under the game lock), which covers a dead node's.

Redis down. Commands retry with exponential backoff for about a second and a half; after that
the call raises `SharedStateUnavailable`, a refusal, so the handler acks a clear error instead of
crashing. The keeper survives outages, and when Redis comes back empty (restarted without
persistence) it puts back its node's users, names and tokens from its own connections.

The scripts build a few key names themselves (a node's user set): fine on one Redis, not on
Redis Cluster.
"""
