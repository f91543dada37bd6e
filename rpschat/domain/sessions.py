"""Connecting: a new connection joins the lobby, one with a token resumes its user's session
(docs/protocol.md, "Resuming"): its name, the messages it missed, its games and its DMs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from rpschat.domain.errors import Code, Refused
from rpschat.domain.limits import JoinLimit
from rpschat.domain.ports import (
    LOBBY,
    Admission,
    ChangeReplay,
    Claims,
    Directory,
    DmInbox,
    LobbyEntry,
    Outbox,
    PresenceListener,
    TokenStore,
    UserConnections,
)

log = logging.getLogger("rpschat.chat")

EXPIRED = "Your session has expired: pick a name again."


@dataclass(frozen=True)
class Auth:
    """What a client connects with (docs/protocol.md, "Resuming"): all None for a new user."""

    token: str | None = None
    last_id: int | None = None  # the highest message id it has seen
    dm_last_id: int | None = None  # the highest direct message id it has seen
    last_change: int | None = None  # the highest change `seq` it has seen (domain/edits.py)


@dataclass
class Sessions:
    connections: UserConnections
    directory: Directory
    tokens: TokenStore
    claims: Claims
    joins: JoinLimit
    admission: Admission
    lobby: LobbyEntry
    dms: DmInbox
    presence: PresenceListener  # the hub: a resume is the user's return
    outbox: Outbox
    changes: ChangeReplay | None = None  # edits and deletes missed (domain/edits.py)

    def connect(self, sid: str, address: str, auth: Auth) -> Callable[[], None] | None:
        """Register a connection. Raises Refused (a ban) before taking anything.

        With a token, return the resume: it sends `session` and the replay, so the caller runs
        it once the client has been told it is connected, before the connection's next event.
        If the resume fails, it releases all the connection took (its slot in the per-address
        count, the name) and raises: the caller then ends the connection."""
        self.connections.connect(sid, address, auth.dm_last_id)
        token = auth.token
        if token is None:
            self.outbox.join(sid, LOBBY)
            return None
        return lambda: self._resume_or_join(sid, token, auth)

    def _resume_or_join(self, sid: str, token: str, auth: Auth) -> None:
        try:
            conn = self.connections.connection(sid)
        except KeyError:
            return  # gone before its resume ran
        try:
            if not self._resume(sid, token, auth):
                self.outbox.join(sid, LOBBY)
        except BaseException:
            self.connections.disconnect(conn.sid, voluntary=False)
            raise

    def _resume(self, sid: str, token: str, auth: Auth) -> bool:
        last_id = auth.last_id
        grant = self.tokens.resolve(token)
        if grant is None:
            self._resume_failed(sid, Refused(Code.SESSION_EXPIRED, EXPIRED))
            return False
        conn = self.connections.connection(sid)
        held = self.directory.name_of(grant.user_id)
        try:
            if held is not None:
                self.admission.check_can_take(conn, grant.user_id, held)
            else:  # the grace period ran out: take the name again if still free
                self.joins.take(conn.address)
                self.claims.check_not_claimed_by_another(grant.user_id, grant.name)
                self.admission.check_can_take(conn, grant.user_id, grant.name)
                self.directory.claim(grant.user_id, grant.name)
        except Refused as refusal:
            self._resume_failed(sid, refusal)
            return False
        announce, name = held is None, held or grant.name
        try:
            self.connections.adopt(sid, grant.user_id, name, token)
        except BaseException:
            if announce and conn.user_id is None:
                self.directory.release(grant.user_id)  # not ours yet: connect() can't see it
            raise
        self.connections.end_grace(grant.user_id)
        log.info("resume %s", name, extra=conn.log_fields())
        self.outbox.emit("session", {"resumed": True, "username": name, "token": token}, to=sid)
        if announce:
            self.lobby.announce_entry(sid, name)
        if last_id is not None:
            self.lobby.replay(sid, last_id)
        else:
            self.outbox.join(sid, LOBBY)
            self.lobby.send_recent(sid)
        self.presence.user_back(grant.user_id, name, sid, last_id)
        self.dms.attach(sid, grant.user_id, conn.dm_cursor, new_user=False)
        if auth.last_change is not None and self.changes is not None:
            self.changes.replay_changes(sid, grant.user_id, auth.last_change)
        return True

    def _resume_failed(self, sid: str, refusal: Refused) -> None:
        self.outbox.emit("session", {"resumed": False, **refusal.to_wire()}, to=sid)
