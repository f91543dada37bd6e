"""Every client event, declared with Flask-SocketIO's public API: the one place to look.

`connect`, `disconnect` and the catch-all `*` are `@socketio.on` handlers; each chat, game and
moderation event is `socketio.on_event(name, adapter)` in the table below. The adapters are in
`chat_events`, `dm_events`, `game_events` and `moderation_events`: each reads the payload into
typed arguments (a bad shape is refused there), calls the domain method of the same name and
shapes its answer into the ack (extra arguments after the payload are ignored). The events answered
after a commit (`declare_stored`) are checked in the handler and answered once the slow part is
done. A refusal (`Refused`) or a bug goes to `events.refuse`, Flask-SocketIO's default error
handler: the ack `{ok: false, code, error, ...details}`, or the `error` event for a client that
asked for no ack. A refused `connect` gives the client `connect_error` with the sentence as its
`message` and `{code, ...details}` as its `data`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import socketio
from flask import request
from flask_socketio import SocketIO

from rpschat.domain.claims import ClaimedNames
from rpschat.domain.connections import Connections
from rpschat.domain.conversations import DmConversations
from rpschat.domain.dms import DmService
from rpschat.domain.edits import MessageEdits
from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.arenas import Arenas
from rpschat.domain.game.book import GameBook
from rpschat.domain.game.invites import Invites
from rpschat.domain.game.service import GameService
from rpschat.domain.identity import Identity
from rpschat.domain.lobby import Lobby
from rpschat.domain.moderation import ModerationService
from rpschat.domain.reactions import MessageReactions
from rpschat.domain.reports import Reports
from rpschat.domain.room_tools import RoomTools
from rpschat.domain.search import MessageSearch
from rpschat.domain.sessions import Sessions
from rpschat.web import (
    arena_events,
    book_events,
    chat_events,
    dm_events,
    edit_events,
    game_events,
    invite_events,
    moderation_events,
)
from rpschat.web.events import (
    after_connect,
    answer_later,
    close_transport,
    current_ack_id,
    refuse,
    request_sid,
    shown,
)
from rpschat.web.security import client_address

log = logging.getLogger("rpschat.connections")

DomainCall = Callable[[str, Any], Any]  # an adapter: (sid, payload) -> the ack (or its slow part)
# Wraps each domain call once at start-up (ops.Metrics.instrument counts and times them).
Instrument = Callable[[str, DomainCall], DomainCall]
UNKNOWN_EVENT = "(unknown)"  # the metrics' event label of every event nobody declared


class EventServices(Protocol):
    """The services the events call (what rpschat/composition.py builds)."""

    connections: Connections
    sessions: Sessions
    identity: Identity
    claims: ClaimedNames
    lobby: Lobby
    edits: MessageEdits
    reactions: MessageReactions
    search: MessageSearch
    room_tools: RoomTools
    dms: DmService
    conversations: DmConversations
    moderation: ModerationService
    reports: Reports
    games: GameService
    book: GameBook
    invites: Invites
    arenas: Arenas


def register_handlers(
    sio: SocketIO,
    services: EventServices,
    *,
    max_connections_per_ip: int,
    instrument: Instrument | None = None,
    defer: Callable[[Callable[[], None]], Any] | None = None,
) -> None:
    """Declare the connection lifecycle, every chat and game event, and the catch-all.

    `defer(fn)` runs fn without holding up the connection's reader (a green thread): the
    events answered after a commit are then answered from there, so a client's next messages
    are read, checked and queued for the same group commit meanwhile. Without it (threads, the
    test client) they are answered in the handler."""
    # A refusal is answered by the adapter that called the domain; `refuse` is also
    # Flask-SocketIO's error handler, for the rest (bugs, the lifecycle's and catch-all's
    # refusals). Refusals are common (every join past JOIN_RATE) and Flask-SocketIO's handler
    # keeps the exception in a local of its frame (sys.exc_info()), a cycle through the
    # traceback: each refusal's ~20 frames stayed until the cyclic collector ran.
    sio.on_error_default(refuse)
    _connections(sio, services.connections, services.sessions, max_connections_per_ip)

    def declare(event: str, call: DomainCall) -> None:
        counted = instrument(event, call) if instrument else call

        def adapter(payload: Any = None, *_extra: Any) -> dict:
            try:
                return counted(request_sid(), payload)
            except Refused as refused:
                return refuse(refused)  # (not through Flask-SocketIO: above)

        adapter.__name__ = f"on_{event}"
        sio.on_event(event, adapter)

    def declare_stored(event: str, check: Callable[[str, Any], Callable[[], dict]]) -> None:
        """`check(sid, payload)` validates at once, in arrival order, and returns the slow part
        (store and wait for the commit, or read), whose result is the answer."""
        counted = instrument(event, check) if instrument else check

        def adapter(payload: Any = None, *_extra: Any) -> Any:
            try:
                slow = counted(request_sid(), payload)
            except Refused as refused:
                return refuse(refused)  # (not through Flask-SocketIO: above)
            if defer is None:
                return slow()
            defer(answer_later(sio.server, request_sid(), current_ack_id(), event, slow))
            return sio.server.not_handled  # so python-socketio sends no ack: answer_later does

        adapter.__name__ = f"on_{event}"
        sio.on_event(event, adapter)

    # chat: docs/protocol.md, "Chat", "Presence", "History"
    identity, lobby, claims = services.identity, services.lobby, services.claims
    declare("set_username", partial(chat_events.set_username, identity))
    declare_stored("message", partial(chat_events.message, lobby))  # acked once committed
    declare("users", partial(chat_events.users, lobby))
    declare("typing", partial(chat_events.typing, lobby))
    declare("history", partial(chat_events.history, lobby))
    declare("claim_name", partial(chat_events.claim_name, claims))
    declare("release_name", partial(chat_events.release_name, claims))
    declare("change_password", partial(chat_events.change_password, claims))
    declare("end_sessions", partial(chat_events.end_sessions, claims))
    edits = services.edits  # docs/protocol.md, "Editing and deleting your messages"
    declare("edit_message", partial(edit_events.edit_message, edits))
    declare("delete_message", partial(edit_events.delete_message, edits))
    declare("react", partial(edit_events.react, services.reactions))
    declare("search", partial(edit_events.search, services.search))
    games = services.games  # docs/protocol.md, "Rock-paper-scissors"
    declare("find_match", partial(game_events.find_match, games))
    declare("cancel_match", partial(game_events.cancel_match, games))
    declare("throw", partial(game_events.throw, games))
    declare("leave_game", partial(game_events.leave_game, games))
    declare("challenge", partial(game_events.challenge, games))
    declare("answer_challenge", partial(game_events.answer_challenge, games))
    declare("rematch", partial(game_events.rematch, games))
    declare("games", partial(game_events.games, games))
    declare("watch", partial(game_events.watch, games))
    declare_stored("game_chat", partial(game_events.check_game_chat, games))
    declare_stored("leaderboard", partial(game_events.check_leaderboard, games))
    declare_stored("my_games", partial(game_events.check_my_games, games))
    book = services.book  # docs/protocol.md, "Finished games and profiles"
    declare_stored("game_record", partial(book_events.check_game_record, book))
    declare_stored("profile", partial(book_events.check_profile, book))
    invites = services.invites  # docs/protocol.md, "Invites and open challenges"
    declare("invite", partial(invite_events.invite, invites))
    declare("accept_invite", partial(invite_events.accept_invite, invites))
    declare("cancel_invite", partial(invite_events.cancel_invite, invites))
    declare("open_challenges", partial(invite_events.open_challenges, invites))
    declare("my_invites", partial(invite_events.my_invites, invites))
    arenas = services.arenas  # docs/protocol.md, "Arenas"
    declare("arena_create", partial(arena_events.arena_create, arenas))
    declare("arena_join", partial(arena_events.arena_join, arenas))
    declare("arena_leave", partial(arena_events.arena_leave, arenas))
    declare("arena_watch", partial(arena_events.arena_watch, arenas))
    declare("arena_standings", partial(arena_events.arena_standings, arenas))
    declare("arenas", partial(arena_events.arenas_list, arenas))
    dms = services.dms  # docs/protocol.md, "Direct messages": answered once committed
    declare_stored("dm", partial(dm_events.dm, dms))
    declare_stored("dm_history", partial(dm_events.dm_history, dms))
    declare_stored("dm_unread", partial(dm_events.dm_unread, dms))
    conversations = services.conversations
    declare_stored("dm_conversations", partial(dm_events.dm_conversations, conversations))
    declare_stored("dm_read", partial(dm_events.dm_read, conversations))
    moderation = services.moderation  # docs/protocol.md, "Moderation"
    declare("mod_delete", partial(moderation_events.mod_delete, moderation))
    declare("mod_mute", partial(moderation_events.mod_mute, moderation))
    declare("mod_unmute", partial(moderation_events.mod_unmute, moderation))
    declare("mod_unban", partial(moderation_events.mod_unban, services.room_tools))
    declare("mod_purge", partial(moderation_events.mod_purge, services.room_tools))
    declare("mod_slow", partial(moderation_events.mod_slow, services.room_tools))
    declare("my_roles", partial(moderation_events.my_roles, services.room_tools))
    declare("mod_grant", partial(moderation_events.mod_grant, services.room_tools))
    declare("mod_revoke", partial(moderation_events.mod_revoke, services.room_tools))
    declare("mod_kick", partial(moderation_events.mod_kick, moderation))
    declare("mod_ban", partial(moderation_events.mod_ban, moderation))
    declare("mod_log", partial(moderation_events.mod_log, moderation))
    declare("report", partial(moderation_events.report, services.reports))
    declare("mod_reports", partial(moderation_events.mod_reports, services.reports))
    declare("mod_resolve", partial(moderation_events.mod_resolve, services.reports))
    declare("ignore", partial(moderation_events.ignore, moderation))
    declare("unignore", partial(moderation_events.unignore, moderation))

    def refuse_unknown(_sid: str, event: Any) -> dict:
        raise Refused(Code.UNKNOWN_EVENT, f"Unknown event '{shown(event)}'.")

    # counted under one label, whatever the name: a client chooses it
    counted_unknown = instrument(UNKNOWN_EVENT, refuse_unknown) if instrument else refuse_unknown

    @sio.on("*")
    def unknown(event: Any, *_args: Any) -> dict:
        return counted_unknown(request_sid(), event)


def _connections(
    sio: SocketIO, connections: Connections, sessions: Sessions, per_address: int
) -> None:
    @sio.on("connect")
    def connect(auth: Any = None) -> None:
        sid = request_sid()
        address = client_address(request.environ)
        if per_address and connections.connections_from(address) >= per_address:
            log.info("refused %s: too many connections", address, extra={"address": address})
            raise refused_connection(
                Refused(Code.TOO_MANY_CONNECTIONS, "Too many connections from your address.")
            )
        log.info("connect %s from %s", sid, address, extra={"sid": sid, "address": address})
        try:
            resume = sessions.connect(sid, address, chat_events.auth(auth))
            # A resume sends `session` and the replay: after the answer to CONNECT. Where it
            # can't wait (the test client), it runs now, and a failure refuses the connect.
            if resume is not None and not after_connect(lambda: _resume(sio, sid, resume)):
                resume()
        except Refused as refused:  # a bad auth: connect() took nothing
            raise refused_connection(refused) from None
        except Exception:
            log.exception("connect failed for %s", sid)
            raise refused_connection(
                Refused(Code.INTERNAL_ERROR, "The server could not connect you.")
            ) from None

    @sio.on("disconnect")
    def disconnect(reason: str | None = None) -> None:
        voluntary = reason == socketio.Server.reason.CLIENT_DISCONNECT
        try:
            connections.disconnect(request_sid(), voluntary)
        except Exception:
            log.exception("disconnect failed for %s", request_sid())


def refused_connection(refused: Refused) -> socketio.exceptions.ConnectionRefusedError:
    """The client's `connect_error`: the sentence as `message`, `{code, ...details}` as `data`."""
    data = {"code": refused.code.value, **refused.details}
    return socketio.exceptions.ConnectionRefusedError(refused.reason, data)


def _resume(sio: SocketIO, sid: str, resume: Callable[[], None]) -> None:
    """A resume after the CONNECT answer. If it fails, it has released what the connection
    took; closing the transport (not a Socket.IO DISCONNECT) lets the client reconnect and try
    again, as after a lost connection."""
    try:
        resume()
    except Exception as exc:
        if isinstance(exc, Refused):
            log.info("resume failed for %s: %s", sid, exc.reason, extra={"sid": sid})
        else:
            log.exception("resume failed for %s", sid)
        eio_sid = sio.server.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is not None:
            close_transport(sio.server.eio, eio_sid)


def client_events(sio: SocketIO) -> list[str]:
    """The client events declared on `sio` (connection events and the catch-all excluded)."""
    declared = sio.server.handlers.get("/", {})
    return sorted(e for e in declared if e not in ("connect", "disconnect", "*"))
