"""Builds the services from the settings: in-process state by default, Redis and a SQL
database when REDIS_URL / DATABASE_URL say so."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rpschat.config import Settings
from rpschat.domain.chat import ChatLimits, ChatService
from rpschat.domain.ports import Outbox
from rpschat.domain.ratelimit import MemoryRateLimiter
from rpschat.storage.history import open_history
from rpschat.storage.presence import MemoryDirectory, MemoryTokens

log = logging.getLogger("rpschat")


@dataclass
class Services:
    settings: Settings
    runtime: Any
    chat: ChatService
    history: Any
    games: Any = None
    closing: bool = False

    def close(self) -> None:
        """Stop background work and commit everything accepted so far."""
        self.closing = True
        self.history.close()


def chat_limits(settings: Settings) -> ChatLimits:
    return ChatLimits(
        max_message_chars=settings.max_message_chars,
        chat_rate=settings.chat_rate,
        other_rate=settings.other_rate,
        resume_grace_seconds=settings.resume_grace_seconds,
        unnamed_idle_seconds=settings.unnamed_idle_seconds,
        history_on_join=settings.history_on_join,
    )


def build_services(settings: Settings, runtime: Any, outbox: Outbox) -> Services:
    history = open_history(settings.database_url, runtime)
    chat = ChatService(
        directory=MemoryDirectory(),
        tokens=MemoryTokens(settings.token_ttl_seconds),
        history=history,
        limiter=MemoryRateLimiter(),
        outbox=outbox,
        runtime=runtime,
        limits=chat_limits(settings),
    )
    return Services(settings=settings, runtime=runtime, chat=chat, history=history)
