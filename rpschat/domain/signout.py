"""Ending a user's other sessions: after a password change, "log out everywhere else"
(`end_sessions`) or a release of its claimed name (issue 21: a thief's old resume token
outlived a release and a new claim, and resumed as the owner, DMs and all).

Every token of the user is revoked, on every node (tokens are shared), each other connection is
told why (`session_ended`), then closed; the caller's connection gets a new token in its slot,
so a copy of its old one resumes nothing either.
"""

from __future__ import annotations

from dataclasses import dataclass

from rpschat.domain.ports import Directory, NamedConnection, Outbox, TokenStore, token_slot

# Why a session ended (`session_ended`, docs/protocol.md): its reason and what a person reads
PASSWORD_CHANGED, SESSIONS_ENDED, NAME_RELEASED = "password_changed", "sessions_ended", "released"
SESSION_ENDED_MESSAGES = {
    PASSWORD_CHANGED: "The password of this name was changed on another device: log in again.",
    SESSIONS_ENDED: "This name was signed out everywhere from another device: log in again.",
    NAME_RELEASED: "This name was released on another device: pick a name again.",
}


@dataclass
class OtherSessions:
    tokens: TokenStore
    directory: Directory  # every connection of the user, on every node
    outbox: Outbox

    def end_other_sessions(self, conn: NamedConnection, reason: str) -> str:
        """Returns the caller's new token (it replaces `conn.token`)."""
        self.tokens.revoke_user(conn.user_id)
        conn.token = self.tokens.issue(token_slot(conn.token), conn.name)
        ended = {"reason": reason, "message": SESSION_ENDED_MESSAGES[reason]}
        for sid in self.directory.connections_of(conn.user_id):
            if sid != conn.sid:  # a remote one's emit and disconnect go through the queue
                self.outbox.emit("session_ended", ended, to=sid)
                self.outbox.disconnect(sid)
        return conn.token
