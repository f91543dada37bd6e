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
from rpschat.domain.game.ports import EXPIRED_CHALLENGES_KEPT, GameArchive, GameStores, ResultsStore
from rpschat.domain.game.service import GameService
from rpschat.domain.moderation import ModerationService
from rpschat.domain.ports import (
    AccountStore,
    DmStore,
    HistoryStore,
    ModerationStore,
    Outbox,
    Runtime,
    TokenStore,
)
from rpschat.storage.common import OnBatch
from rpschat.storage.confusables import NAME_RULES
from rpschat.storage.memory.accounts import MemoryAccounts
from rpschat.storage.memory.archive import MemoryArchive
from rpschat.storage.memory.directory import MemoryDirectory
from rpschat.storage.memory.dms import MemoryDms
from rpschat.storage.memory.games import (
    MemoryDropStore,
    MemoryExpiredChallenges,
    MemoryMatchStore,
    MemorySpectatorStore,
)
from rpschat.storage.memory.history import MemoryHistory
from rpschat.storage.memory.matchmaking import (
    MemoryChallengeStore,
    MemoryQueueStore,
    MemoryRematchStore,
)
from rpschat.storage.memory.moderation import MemoryModeration
from rpschat.storage.memory.ratelimit import MemoryRateLimiter
from rpschat.storage.memory.results import MemoryResults
from rpschat.storage.memory.tokens import MemoryTokens
from rpschat.storage.passwords import Argon2Passwords
from rpschat.storage.redis.state import RedisState
from rpschat.storage.sql.accounts import SqlAccounts
from rpschat.storage.sql.archive import SqlArchive
from rpschat.storage.sql.database import Database, is_memory_url
from rpschat.storage.sql.dms import SqlDms
from rpschat.storage.sql.history import SqlHistory
from rpschat.storage.sql.moderation import SqlModeration
from rpschat.storage.sql.results import SqlResults
from rpschat.storage.sql.tokens import SqlTokens

log = logging.getLogger("rpschat")


@dataclass
class Storage:
    """What lasts: in the one database of DATABASE_URL, opened once and shared by every SQL
    store, or in this process (memory://). `tokens` serve a single node (Redis has its own)."""

    database: Database | None
    history: HistoryStore
    results: ResultsStore
    accounts: AccountStore
    archive: GameArchive
    dms: DmStore
    moderation: ModerationStore
    tokens: TokenStore

    def close(self) -> None:
        """Commit what was accepted, then close the database (once)."""
        drained = self.history.close()
        if drained and self.database is not None and not self.database.closed:
            self.database.close()


def open_storage(
    database_url: str | None,
    runtime: Runtime,
    token_ttl_seconds: float = 86_400,
    on_batch: OnBatch | None = None,
) -> Storage:
    """memory://, sqlite:///path (relative to the working directory) or postgres(ql)://...;
    None means the default SQLite file under instance/. `on_batch`: told of every commit of
    chat messages (metrics)."""
    if is_memory_url(database_url):
        accounts = MemoryAccounts()
        return Storage(
            database=None,
            history=MemoryHistory(runtime, on_batch=on_batch),
            results=MemoryResults(accounts),  # in SQL the standings query joins the accounts
            accounts=accounts,
            archive=MemoryArchive(),
            dms=MemoryDms(runtime),
            moderation=MemoryModeration(),
            tokens=MemoryTokens(token_ttl_seconds),
        )
    database = Database(database_url, runtime)
    return Storage(
        database=database,
        history=SqlHistory(database, runtime, on_batch=on_batch),
        results=SqlResults(database, runtime),
        accounts=SqlAccounts(database),
        archive=SqlArchive(database),
        dms=SqlDms(database),
        moderation=SqlModeration(database),
        tokens=SqlTokens(database, token_ttl_seconds),  # they outlive a restart
    )


@dataclass
class Services:
    settings: Settings
    runtime: Any
    chat: ChatService
    storage: Storage
    games: GameService
    shared: RedisState | None = None
    keeper: ClusterKeeper | None = None
    closing: bool = False

    def close(self) -> None:
        """Stop background work and commit everything accepted so far."""
        self.closing = True
        if self.keeper is not None:
            self.keeper.stop()  # leaves the cluster at once: the other nodes take over its users
        self.storage.close()


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


def build_services(
    settings: Settings, runtime: Any, outbox: Outbox, metrics: Any = None
) -> Services:
    """`metrics`: an rpschat.ops.metrics.Metrics that counts commits and recorded games."""
    storage = open_storage(
        settings.database_url,
        runtime,
        token_ttl_seconds=settings.token_ttl_seconds,
        on_batch=metrics.history_committed if metrics is not None else None,
    )
    history = storage.history
    results = metrics.count_results(storage.results) if metrics else storage.results
    shared = open_shared_state(settings)
    chat = ChatService(
        directory=shared.directory if shared else MemoryDirectory(),
        tokens=shared.tokens if shared else storage.tokens,
        history=history,
        limiter=shared.limiter if shared else MemoryRateLimiter(),
        outbox=outbox,
        runtime=runtime,
        limits=chat_limits(settings),
        names=NAME_RULES,
        accounts=storage.accounts,
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
        archive=storage.archive,
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
    moderation = ModerationService(chat, storage.moderation, settings.moderators)
    chat.guard = moderation
    chat.dms = DmService(chat, storage.dms, shared_queue=shared is not None)
    keeper = None
    if shared is not None:
        keeper = ClusterKeeper(shared, chat, runtime, games)
        keeper.start()
    services = Services(
        settings=settings,
        runtime=runtime,
        chat=chat,
        storage=storage,
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
