"""Search (issue 25, point 5): `search {q, before}` finds the lobby's messages and the caller's
own DMs, newest first, by words and `from:name`; never another user's DMs, never a deleted
message (it is gone from storage), never a message of a user the caller ignores.

Words. A message's words are its runs of letters and digits (Unicode), NFKC-normalized and
casefolded (`words`); storage keeps them, joined by spaces, beside the text (`search_text`), in
the same commit as the message or its edit. A query word matches a message word it begins
(prefix), and every query word must match. So SQLite's FTS5 index, PostgreSQL's tsvector and
the memory store's scan see the same tokens and return the same hits: the databases'
tokenizers are never asked to split text themselves.

Paging. Lobby messages and DMs have id sequences of their own; the cursor (`before`) holds the
lowest id returned of each, "<lobby id>.<dm id>", and the answer's `before` continues it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from rpschat.domain.answers import fit_answer
from rpschat.domain.errors import Code, Refused
from rpschat.domain.limits import ChatLimits
from rpschat.domain.names import NameRules
from rpschat.domain.ports import (
    MAX_ID,
    AccountStore,
    Callers,
    DirectMessage,
    Directory,
    DmStore,
    HistoryStore,
    Ignores,
    Limits,
    SearchQuery,
    StoredMessage,
)

_WORD = re.compile(r"[^\W_]+")
MAX_QUERY_CHARS = 200
MAX_WORDS = 8
MAX_PAGE = 50
QUERY_REFUSAL = "Search for at least one word (or from:name), in at most 200 characters."
CURSOR_REFUSAL = "before must be the `before` of a previous search answer."


def words(text: str) -> list[str]:
    """The words a message is found by: letters and digits, normalized and casefolded."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def search_text(text: str) -> str:
    return " ".join(words(text))


def matches(query_words: list[str], text_words: list[str]) -> bool:
    """Every query word begins some word of the text (the memory store's scan)."""
    return all(any(w.startswith(q) for w in text_words) for q in query_words)


def sent_by(query: SearchQuery, user_id: str, name: str) -> bool:
    """The message's sender is the one `from:` asks for (or none was asked for)."""
    if query.sender_id is not None:
        return user_id == query.sender_id
    return query.sender_name is None or name == query.sender_name


def parse_cursor(before: str | None) -> tuple[int, int]:
    if before is None:
        return MAX_ID, MAX_ID
    lobby, dot, dm = before.partition(".")
    if not (dot and lobby.isdigit() and dm.isdigit() and len(before) <= 40):
        raise Refused(Code.BAD_REQUEST, CURSOR_REFUSAL, field="before")
    return min(int(lobby), MAX_ID), min(int(dm), MAX_ID)


@dataclass(frozen=True)
class SearchPage:
    hits: list[dict[str, Any]]  # newest first
    before: str  # the cursor of the next page
    has_more: bool


@dataclass
class MessageSearch:
    callers: Callers
    limits: Limits
    ignores: Ignores
    directory: Directory
    accounts: AccountStore | None
    names: NameRules
    history: HistoryStore
    dms: DmStore
    settings: ChatLimits

    def search(self, sid: str, q: str, before: str | None, limit: int | None) -> SearchPage:
        conn = self.callers.named(sid)
        limit = 20 if limit is None else limit
        if not 1 <= limit <= MAX_PAGE:
            raise Refused(Code.BAD_REQUEST, f"limit must be a whole number from 1 to {MAX_PAGE}.",
                          field="limit")  # fmt: skip
        query = self._query(q)
        lobby_before, dm_before = parse_cursor(before)
        self.limits.limit(conn, "other")
        lobby = self.history.search(query, lobby_before, limit + 1)
        dms = self.dms.search(conn.user_id, query, dm_before, limit + 1)
        merged: list[StoredMessage | DirectMessage] = sorted(
            [*lobby, *dms], key=lambda m: (m.ts, isinstance(m, StoredMessage), m.id), reverse=True
        )
        hits: list[dict[str, Any]] = []
        cursors: list[tuple[int, int]] = []  # the cursor once each hit is taken
        ignored: dict[str, bool] = {}
        walked = 0
        for message in merged:
            if len(hits) == limit:
                break
            walked += 1
            if isinstance(message, StoredMessage):
                lobby_before, author = message.id, message.user_id
                hit = {"kind": "lobby", **message.to_wire()}
            else:
                dm_before, author = message.id, message.sender_id
                hit = {"kind": "dm", **message.to_wire()}
            hit.pop("reply_to", None)
            if author != conn.user_id and ignored.setdefault(
                author, self.ignores.ignores(conn.user_id, author)
            ):
                continue
            hits.append(hit)
            cursors.append((lobby_before, dm_before))
        has_more = walked < len(merged) or len(lobby) > limit or len(dms) > limit
        kept, cut = fit_answer(hits, False, self.settings.max_answer_bytes)
        if cut and kept:  # the next page starts after the last hit sent
            lobby_before, dm_before = cursors[len(kept) - 1]
        return SearchPage(kept, f"{lobby_before}.{dm_before}", has_more or cut)

    def _query(self, q: str) -> SearchQuery:
        if len(q) > MAX_QUERY_CHARS:
            raise Refused(Code.BAD_REQUEST, QUERY_REFUSAL, field="q")
        found: list[str] = []
        sender_id = sender_name = None
        for part in q.split():
            if part.casefold().startswith("from:") and len(part) > 5:
                sender_name = part[5:].lstrip("@")
                sender_id = self._user_of(sender_name)
            else:
                found += words(part)
        if not found and sender_name is None:
            raise Refused(Code.BAD_REQUEST, QUERY_REFUSAL, field="q")
        return SearchQuery(found[:MAX_WORDS], sender_id, sender_name)

    def _user_of(self, name: str) -> str | None:
        """The user a `from:` name stands for: online, or a claimed name's account."""
        user_id = self.directory.user_of(name)
        if user_id is None and self.accounts is not None:
            account = self.accounts.get(self.names.key(name))
            user_id = account.user_id if account is not None else None
        return user_id
