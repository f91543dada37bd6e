"""The one error type the domain raises, and the registry of its codes.

A refusal carries a stable `code` for programs (clients switch on it), a `reason` for people
(shown as is; its wording may change) and `details`, JSON values a client can act on:
`retry_after` (seconds to wait), `field` (the payload field at fault), `until` (ms since the
epoch). On the wire: `{ok: false, code, error: reason, ...details}` (docs/protocol.md, "Errors").

`Code` is the one registry: each member with its meaning, the details it carries and the events
that can answer it, beside it. docs/protocol.md's "Refusal codes" table is rendered from it
(`python -m rpschat.domain.errors docs/protocol.md` rewrites it); tests/unit/test_refusal_codes.py
keeps the two equal and checks that every `Refused(...)` names a registered code.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

RETRY_SOON_SECONDS = 1.0  # "try again in a moment": the database, Redis, a restart

# keys of the wire answer that details can't take
_ANSWER_KEYS = frozenset({"ok", "code", "error", "event"})


class Code(StrEnum):
    """Every refusal's code: `NAME = "value", meaning, details, events`."""

    meaning: str
    details: tuple[str, ...]
    events: str

    def __new__(cls, value: str, meaning: str, details: tuple[str, ...], events: str) -> Code:
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        member.details = details
        member.events = events
        return member

    # ---- any event
    BAD_REQUEST = (
        "bad_request",
        "The payload's shape, or a field's type or range, is wrong: the client's fault, not "
        "the user's.",
        ("field",),
        "every event; `connect` (`auth`)",
    )
    UNKNOWN_EVENT = "unknown_event", "No such event on this server.", (), "any undeclared event"
    INTERNAL_ERROR = (
        "internal_error",
        "A bug on the server (logged); the request may be sent again.",
        (),
        "every event; `connect`",
    )
    UNAVAILABLE = (
        "unavailable",
        "The database or the shared state (Redis) failed, or the server was too busy: nothing "
        "was done; send it again after `retry_after`.",
        ("retry_after",),
        "every event; `session`",
    )
    RESTARTING = (
        "restarting",
        "The server is shutting down: send it again once reconnected.",
        ("retry_after",),
        "every event",
    )
    RATE_LIMITED = (
        "rate_limited",
        "Too many events too fast (`RATE_LIMIT`, `RATE_LIMIT_OTHER`): nothing was done; wait.",
        ("retry_after",),
        "every event",
    )
    NAME_REQUIRED = (
        "name_required",
        "The connection has no name yet: `set_username` first.",
        (),
        "every event but `set_username`, `users`",
    )
    # ---- connecting, sessions, sanctions
    TOO_MANY_CONNECTIONS = (
        "too_many_connections",
        "Too many connections from this address (`MAX_CONNECTIONS_PER_IP`).",
        (),
        "`connect`",
    )
    SESSION_EXPIRED = (
        "session_expired",
        "The resume token is unknown or expired: pick a name again.",
        (),
        "`session`",
    )
    BANNED = (
        "banned",
        "A moderator banned this address, name or user until `until`.",
        ("retry_after", "until"),
        "`connect`, `set_username`, `session`",
    )
    KICKED = (
        "kicked",
        "A moderator removed this user: its tokens and log-ins are refused until `until`.",
        ("retry_after", "until"),
        "`set_username`, `session`",
    )
    MUTED = (
        "muted",
        "A moderator muted this user (or, for a guest, a user of its address) until `until`: "
        "no chat, game chat, direct message, report, challenge or new name.",
        ("retry_after", "until"),
        "`message`, `game_chat`, `dm`, `edit_message`, `react`, `report`, `challenge`, "
        "`set_username`",
    )
    # ---- names and claims
    BAD_NAME = (
        "bad_name",
        "Not a name anyone can take: empty, too long, with control or lone surrogate "
        "characters, or nothing visible.",
        (),
        "`set_username`, `ignore`, `unignore`, `mod_*`",
    )
    NAME_RESERVED = (
        "name_reserved",
        "The page's or the server's own name, or a name kept for a moderator's account until "
        "the operator designates it (in any case or look-alike): pick another.",
        (),
        "`set_username`, `session`",
    )
    NAME_TAKEN = (
        "name_taken",
        "Someone online holds the name: pick another.",
        (),
        "`set_username`, `session`",
    )
    NAME_LOOK_ALIKE = (
        "name_look_alike",
        "The name looks like one online or claimed (Unicode confusables): pick another.",
        (),
        "`set_username`",
    )
    NAME_CLAIMED = (
        "name_claimed",
        "Another user claimed the name: it is taken only with its password.",
        (),
        "`set_username`, `claim_name`, `session`",
    )
    NOT_CLAIMED = (
        "not_claimed",
        "The name is not claimed: take it without a password (`set_username`), or there is "
        "nothing to release (or whose password to change, or to make a moderator); "
        "`arena_join`: only claimed names play in arenas.",
        (),
        "`set_username`, `release_name`, `change_password`, `end_sessions`, `mod_grant`, "
        "`mod_revoke`, `arena_join`",
    )
    WRONG_PASSWORD = (
        "wrong_password",
        "The password does not match the claimed name.",
        (),
        "`set_username`, `release_name`, `change_password`, `end_sessions`",
    )
    TOO_MANY_ATTEMPTS = (
        "too_many_attempts",
        "Too many password attempts for this name or from this address (`LOGIN_RATE`, "
        "`LOGIN_RATE_PER_IP`, `LOGIN_RATE_PER_NAME`): wait.",
        ("retry_after",),
        "`set_username`, `release_name`, `change_password`, `end_sessions`",
    )
    TOO_MANY_NAMES = (
        "too_many_names",
        "Too many names taken from this address (`JOIN_RATE`): wait.",
        ("retry_after",),
        "`set_username`, `session`",
    )
    BAD_PASSWORD = (
        "bad_password",
        "A new password must have 8 to 128 characters, no NUL or lone surrogate.",
        (),
        "`claim_name`, `change_password`",
    )
    ALREADY_CLAIMED = (
        "already_claimed",
        "The caller has claimed its name already.",
        (),
        "`claim_name`",
    )
    CLAIMS_DISABLED = (
        "claims_disabled",
        "This server keeps no claimed names.",
        (),
        "`claim_name`",
    )
    RENAME_WHILE_PLAYING = (
        "rename_while_playing",
        "A name can't change during a game or while looking for one.",
        (),
        "`set_username`",
    )
    RELEASE_FIRST = (
        "release_first",
        "The caller's name is claimed: `release_name` before changing it.",
        (),
        "`set_username`",
    )
    # ---- chat, direct messages, users
    BAD_MESSAGE = (
        "bad_message",
        "The text is empty, too long, or holds NUL or lone surrogate characters.",
        (),
        "`message`, `game_chat`, `dm`, `edit_message`",
    )
    NOT_ONLINE = (
        "not_online",
        "Nobody online holds that name (and, where a claimed name will do, nobody claimed it).",
        (),
        "`dm`, `dm_history`, `dm_unread`, `dm_read`, `challenge`, `ignore`, `unignore`, `mod_*`",
    )
    GUEST_LEFT = (
        "guest_left",
        "The recipient was a guest who sent the caller messages and has left: a guest can't be "
        "reached once gone (a claimed name can, offline).",
        (),
        "`dm`",
    )
    INBOX_FULL = (
        "inbox_full",
        "The recipient holds as many unread direct messages as the server keeps, from the "
        "caller (`DM_UNREAD_PER_SENDER`) or in all (`DM_UNREAD_MAX`): send again once they "
        "have read some.",
        (),
        "`dm`",
    )
    IGNORED = (
        "ignored",
        "The challenged user does not take the caller's challenges (it ignores them; a DM to "
        "them is not refused, see `dm`).",
        (),
        "`challenge`",
    )
    SELF_TARGET = (
        "self_target",
        "The caller named itself where another user is needed.",
        (),
        "`dm`, `challenge`, `ignore`",
    )
    # ---- moderation
    NOT_MODERATOR = (
        "not_moderator",
        "Only moderators can do that.",
        (),
        "`mod_*`",
    )
    TARGET_IS_MODERATOR = (
        "target_is_moderator",
        "Moderators can't act on each other.",
        (),
        "`mod_*`",
    )
    NO_SUCH_MESSAGE = (
        "no_such_message",
        "No message has that id (or it was deleted).",
        (),
        "`mod_delete`, `report`, `edit_message`, `delete_message`, `react`, `mod_resolve`",
    )
    NOT_YOUR_MESSAGE = (
        "not_your_message",
        "Only the author of a message can change it.",
        (),
        "`edit_message`, `delete_message`",
    )
    EDIT_WINDOW_CLOSED = (
        "edit_window_closed",
        "The message is older than the edit window (`EDIT_WINDOW_SECONDS`, 15 minutes by "
        "default): it can't be edited any more.",
        (),
        "`edit_message`",
    )
    NOT_MUTED = "not_muted", "The user is not muted.", (), "`mod_unmute`"
    SLOW_MODE = (
        "slow_mode",
        "The lobby is in slow mode (`mod_slow`): one message per person every N seconds; wait "
        "`retry_after`.",
        ("retry_after",),
        "`message`",
    )
    NOT_OWNER = "not_owner", "Only owners can do that.", (), "`mod_grant`, `mod_revoke`"
    NOT_BANNED = "not_banned", "The user (or the name) is not banned.", (), "`mod_unban`"
    # ---- games
    NO_SUCH_GAME = (
        "no_such_game",
        "The server knows no game of that id (a live game's events: finished games are "
        "forgotten after 2 minutes; `game_record`: no finished game has that id).",
        (),
        "`throw`, `leave_game`, `rematch`, `watch`, `game_chat`, `game_record`",
    )
    NO_SUCH_INVITE = (
        "no_such_invite",
        "No invite has that code (or it is another user's, for `cancel_invite`).",
        (),
        "`accept_invite`, `cancel_invite`",
    )
    INVITE_EXPIRED = (
        "invite_expired",
        "The invite is older than `INVITE_TTL_SECONDS` (10 minutes by default).",
        (),
        "`accept_invite`",
    )
    INVITE_USED = "invite_used", "Someone already accepted the invite.", (), "`accept_invite`"
    INVITE_CANCELLED = (
        "invite_cancelled",
        "The inviter cancelled the invite.",
        (),
        "`accept_invite`",
    )
    INVITER_GONE = (
        "inviter_gone",
        "The inviter left (an invite ends with its inviter).",
        (),
        "`accept_invite`",
    )
    TOO_MANY_INVITES = (
        "too_many_invites",
        "The caller has 5 invites waiting: one must end first.",
        (),
        "`invite`",
    )
    NO_SUCH_ARENA = "no_such_arena", "No arena has that id.", (), "`arena_*`"
    ARENA_OVER = "arena_over", "The arena is over.", (), "`arena_join`"
    NOT_IN_ARENA = "not_in_arena", "The caller is not in this arena.", (), "`arena_leave`"
    NO_SUCH_PLAYER = (
        "no_such_player",
        "Nobody claimed that name: profiles are for claimed names.",
        (),
        "`profile`",
    )
    NOT_A_PLAYER = (
        "not_a_player",
        "The caller does not play (or did not play) in this game.",
        (),
        "`throw`, `rematch`",
    )
    NOT_IN_GAME = (
        "not_in_game",
        "The caller neither plays nor watches this game.",
        (),
        "`leave_game`, `game_chat`",
    )
    GAME_OVER = "game_over", "The game is over.", (), "`throw`, `watch`"
    GAME_NOT_OVER = "game_not_over", "The game is not over yet.", (), "`rematch`"
    LEFT_GAME = "left_game", "The caller has left this game.", (), "`rematch`"
    OPPONENT_LEFT = (
        "opponent_left",
        "The opponent left the game or went offline.",
        (),
        "`rematch`",
    )
    IN_GAME = (
        "in_game",
        "The caller is already in a game (or, for `release_name`, in a game, looking for one "
        "or in a pending challenge).",
        (),
        "`find_match`, `challenge`, `answer_challenge`, `rematch`, `release_name`",
    )
    OPPONENT_BUSY = (
        "opponent_busy",
        "The other player is already in a game.",
        (),
        "`challenge`, `answer_challenge`, `rematch`",
    )
    ALREADY_QUEUED = (
        "already_queued",
        "The caller is already looking for a match.",
        (),
        "`find_match`",
    )
    NOT_QUEUED = "not_queued", "The caller is not looking for a match.", (), "`cancel_match`"
    ALREADY_THREW = (
        "already_threw",
        "The caller has thrown this round already.",
        (),
        "`throw`",
    )
    TIME_IS_UP = (
        "time_is_up",
        "The round's time ran out; its `round_result` follows.",
        (),
        "`throw`",
    )
    NO_SUCH_CHALLENGE = (
        "no_such_challenge",
        "No pending challenge has that id.",
        (),
        "`answer_challenge`",
    )
    CHALLENGE_EXPIRED = (
        "challenge_expired",
        "The challenge expired (`CHALLENGE_SECONDS`).",
        (),
        "`answer_challenge`",
    )
    NOT_CHALLENGED = (
        "not_challenged",
        "Only the challenged user can answer a challenge.",
        (),
        "`answer_challenge`",
    )
    ALREADY_CHALLENGED = (
        "already_challenged",
        "The caller's challenge to that user is pending.",
        (),
        "`challenge`",
    )
    CHALLENGED_YOU = (
        "challenged_you",
        "That user's challenge to the caller is pending: answer it instead.",
        (),
        "`challenge`",
    )


def retry_after(seconds: float) -> float:
    """Seconds to wait as sent: rounded up to a tenth (float noise aside), at least 0.1."""
    return max(0.1, math.ceil(round(seconds * 10, 6)) / 10)


class Refused(Exception):
    """A request the server will not carry out: `code` for programs, `reason` for people (shown
    as is), `details` (JSON values, such as `retry_after`) for the client to act on."""

    def __init__(self, code: Code, reason: str, **details: Any):
        if not isinstance(code, Code):
            raise TypeError(f"a refusal's code must be a Code, not {code!r}")
        clash = _ANSWER_KEYS & details.keys()
        if clash:
            raise ValueError(f"details can't be named {sorted(clash)}")
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.details = details

    def to_wire(self) -> dict[str, Any]:
        """`{code, error, ...details}`: what an ack, an `error` event or `session` carries."""
        return {"code": self.code.value, "error": self.reason, **self.details}


TABLE_START = "<!-- refusal codes: generated, do not edit by hand -->\n"
TABLE_END = "<!-- end of refusal codes -->\n"


def codes_table() -> str:
    """docs/protocol.md's "Refusal codes" table, from the registry."""
    rows = ["| code | meaning | details | events |", "|---|---|---|---|"]
    for code in Code:
        details = ", ".join(f"`{name}`" for name in code.details) or "-"
        rows.append(f"| `{code.value}` | {code.meaning} | {details} | {code.events} |")
    return "\n".join(rows) + "\n"


def with_codes_table(doc: str) -> str:
    """`doc` (docs/protocol.md) with the table between its markers rendered afresh."""
    head, start, rest = doc.partition(TABLE_START)
    _, end, tail = rest.partition(TABLE_END)
    if not start or not end:
        raise ValueError("the refusal codes' markers are missing")
    return head + start + codes_table() + end + tail


if __name__ == "__main__":  # python -m rpschat.domain.errors [docs/protocol.md: rewrite it]
    import pathlib
    import sys

    if len(sys.argv) > 1:
        path = pathlib.Path(sys.argv[1])
        path.write_text(with_codes_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(codes_table(), end="")
