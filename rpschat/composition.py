"""The composition root: builds the services from the settings (for app.py's `create_app`),
in-process state by default, Redis and a SQL database when REDIS_URL / DATABASE_URL say so."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rpschat.cluster import ClusterKeeper
from rpschat.config import Settings
from rpschat.domain.chat import ChatLimits, ChatService
from rpschat.domain.dms import DmService
from rpschat.domain.game.context import GameSettings
from rpschat.domain.game.locks import KeyedLocks
from rpschat.domain.game.ports import EXPIRED_CHALLENGES_KEPT, GameStores
from rpschat.domain.game.service import GameService
from rpschat.domain.moderation import ModerationService
from rpschat.domain.ports import Outbox
from rpschat.domain.ratelimit import MemoryRateLimiter
from rpschat.storage.accounts import Argon2Passwords, open_accounts
from rpschat.storage.archive import open_archive
from rpschat.storage.confusables import NAME_RULES
from rpschat.storage.dms import open_dms
from rpschat.storage.history import open_history
from rpschat.storage.memory.games import (
    MemoryDropStore,
    MemoryExpiredChallenges,
    MemoryMatchStore,
    MemorySpectatorStore,
)
from rpschat.storage.memory.matchmaking import (
    MemoryChallengeStore,
    MemoryQueueStore,
    MemoryRematchStore,
)
from rpschat.storage.moderation import open_moderation
from rpschat.storage.presence import MemoryDirectory, MemoryTokens
from rpschat.storage.redis.state import RedisState
from rpschat.storage.results import MemoryResults, open_results
from rpschat.storage.sessions import SqlTokens

log = logging.getLogger("rpschat")


@dataclass
class Services:
    settings: Settings
    runtime: Any
    chat: ChatService
    history: Any
    games: Any = None
    shared: RedisState | None = None
    keeper: ClusterKeeper | None = None
    closing: bool = False

    def close(self) -> None:
        """Stop background work and commit everything accepted so far."""
        self.closing = True
        if self.keeper is not None:
            self.keeper.stop()  # leaves the cluster at once: the other nodes take over its users
        self.history.close()


def chat_limits(settings: Settings) -> ChatLimits:
    return ChatLimits(
        max_message_chars=settings.max_message_chars,
        chat_rate=settings.chat_rate,
        other_rate=settings.other_rate,
        join_rate=settings.join_rate,
        login_rate_per_name=settings.login_rate,
        login_rate_per_address=settings.login_rate_per_ip,
        max_answer_bytes=settings.max_backlog_bytes // 4,
        resume_grace_seconds=settings.resume_grace_seconds,
        unnamed_idle_seconds=settings.unnamed_idle_seconds,
        history_on_join=settings.history_on_join,
    )


def open_shared_state(settings: Settings) -> RedisState | None:
    """With REDIS_URL, the state every node must see lives in Redis (rpschat/storage/redis)."""
    if not settings.redis_url:
        return None
    return RedisState(
        settings.redis_url,
        settings.redis_prefix,
        token_ttl_seconds=settings.token_ttl_seconds,
        node_ttl_seconds=settings.node_ttl_seconds,
    )


def memory_game_stores() -> dict[str, Any]:
    """The game's live state in this process, as `GameStores` fields."""
    return {
        "matches": MemoryMatchStore(),
        "queue": MemoryQueueStore(),
        "challenges": MemoryChallengeStore(),
        "rematches": MemoryRematchStore(),
        "spectators": MemorySpectatorStore(),
        "drops": MemoryDropStore(),
        "expired_challenges": MemoryExpiredChallenges(EXPIRED_CHALLENGES_KEPT),
    }


def local_tokens(settings: Settings, history: Any) -> Any:
    """Tokens of a single node: in the database when there is one, so they outlive a restart."""
    database = getattr(history, "database", None)
    if database is None:
        return MemoryTokens(settings.token_ttl_seconds)
    return SqlTokens(database, settings.token_ttl_seconds)


def build_services(
    settings: Settings, runtime: Any, outbox: Outbox, metrics: Any = None
) -> Services:
    """`metrics`: an rpschat.ops.metrics.Metrics that counts commits and recorded games."""
    history = open_history(settings.database_url, runtime)
    results = open_results(settings.database_url, runtime, shared_with=history)
    accounts = open_accounts(history)
    if isinstance(results, MemoryResults):
        results.accounts = accounts  # in SQL the standings query joins the accounts table
    if metrics is not None:
        history.on_batch = metrics.history_committed
        results = metrics.count_results(results)
    shared = open_shared_state(settings)
    chat = ChatService(
        directory=shared.directory if shared else MemoryDirectory(),
        tokens=shared.tokens if shared else local_tokens(settings, history),
        history=history,
        limiter=shared.limiter if shared else MemoryRateLimiter(),
        outbox=outbox,
        runtime=runtime,
        limits=chat_limits(settings),
        names=NAME_RULES,
        accounts=accounts,
        passwords=Argon2Passwords(memory_cost=settings.password_hash_kib),
    )
    game_settings = GameSettings(
        round_seconds=settings.round_seconds,
        challenge_seconds=settings.challenge_seconds,
        resume_grace_seconds=settings.resume_grace_seconds,
    )
    live = (
        shared.game_stores(game_settings.finished_game_seconds) if shared else memory_game_stores()
    )
    stores = GameStores(
        **live,
        locks=KeyedLocks(
            shared.lock if shared else None,
            on_wait=metrics.lock_waited if metrics is not None else None,
        ),
        results=results,
        archive=open_archive(history),
    )
    games = GameService(
        chat=chat,
        outbox=outbox,
        runtime=runtime,
        history=history,
        stores=stores,
        settings=game_settings,
    )
    chat.listener = games
    moderation = ModerationService(chat, open_moderation(history), settings.moderators)
    chat.guard = moderation
    chat.dms = DmService(chat, open_dms(history, runtime), shared_queue=shared is not None)
    keeper = None
    if shared is not None:
        keeper = ClusterKeeper(shared, chat, runtime, games)
        keeper.start()
    services = Services(
        settings=settings,
        runtime=runtime,
        chat=chat,
        history=history,
        shared=shared,
        keeper=keeper,
        games=games,
    )
    runtime.spawn(_sweep_idle, services)
    return services


def _sweep_idle(services: Services) -> None:
    """One task for all connections (not a timer each): closes those that never named
    themselves within UNNAMED_IDLE_SECONDS."""
    period = max(1.0, min(10.0, services.settings.unnamed_idle_seconds / 4))
    while not services.closing:
        services.runtime.sleep(period)
        try:
            services.chat.kick_idle_unnamed()
        except Exception:
            log.exception("idle sweep failed")
