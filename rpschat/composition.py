"""The composition root: builds every service from the settings, for app.py's `create_app`.

In-process state by default; Redis and a SQL database when REDIS_URL / DATABASE_URL say so. The
services receive their collaborators in their constructors, typed by the Protocols of
domain/ports.py, in an order that needs no service before it is built: the stores, the presence
hub, then the services from those everyone asks (sanctions, connections, limits) to those that
ask the others (naming, resuming, moderation, the game); the hub's listeners subscribe last.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rpschat.cluster import ClusterKeeper
from rpschat.config import Settings
from rpschat.domain.claims import ClaimedNames
from rpschat.domain.connections import Connections
from rpschat.domain.conversations import DmConversations
from rpschat.domain.devices import DeviceTokens
from rpschat.domain.dms import DmLimits, DmService
from rpschat.domain.edits import MessageEdits
from rpschat.domain.game.arenas import Arenas
from rpschat.domain.game.book import GameBook
from rpschat.domain.game.busy import BusyPlayers
from rpschat.domain.game.context import GameSettings
from rpschat.domain.game.invites import Invites
from rpschat.domain.game.locks import KeyedLocks
from rpschat.domain.game.ports import EXPIRED_CHALLENGES_KEPT, GameArchive, GameStores, ResultsStore
from rpschat.domain.game.service import GameService
from rpschat.domain.identity import Identity
from rpschat.domain.limits import ChatLimits, JoinLimit, RateLimits
from rpschat.domain.lobby import Lobby
from rpschat.domain.moderation import ModerationService
from rpschat.domain.passwords import PasswordWork
from rpschat.domain.ports import (
    AccountStore,
    ChangeLog,
    Directory,
    DmStore,
    HistoryStore,
    ModerationStore,
    Outbox,
    RateLimiter,
    RoleStore,
    Runtime,
    TokenStore,
)
from rpschat.domain.presence import PresenceHub
from rpschat.domain.reactions import MessageReactions
from rpschat.domain.reports import Reports
from rpschat.domain.roles import OWNER, RoleService
from rpschat.domain.room_tools import RoomTools
from rpschat.domain.sanctions import Sanctions
from rpschat.domain.search import MessageSearch
from rpschat.domain.sessions import Sessions
from rpschat.domain.signout import OtherSessions
from rpschat.domain.slow_mode import SlowMode
from rpschat.ops.metrics import Metrics
from rpschat.storage.common import OnBatch
from rpschat.storage.confusables import NAME_RULES
from rpschat.storage.memory.accounts import MemoryAccounts
from rpschat.storage.memory.archive import MemoryArchive
from rpschat.storage.memory.arenas import MemoryArenas
from rpschat.storage.memory.changes import MemoryChanges
from rpschat.storage.memory.directory import MemoryDirectory
from rpschat.storage.memory.dms import MemoryDms
from rpschat.storage.memory.games import (
    MemoryDropStore,
    MemoryExpiredChallenges,
    MemoryMatchStore,
    MemorySpectatorStore,
)
from rpschat.storage.memory.history import MemoryHistory
from rpschat.storage.memory.invites import MemoryInvites
from rpschat.storage.memory.matchmaking import (
    MemoryChallengeStore,
    MemoryQueueStore,
    MemoryRematchStore,
)
from rpschat.storage.memory.moderation import MemoryModeration
from rpschat.storage.memory.ratelimit import MemoryRateLimiter
from rpschat.storage.memory.results import MemoryResults
from rpschat.storage.memory.roles import MemoryRoles
from rpschat.storage.memory.seeks import MemorySeeks
from rpschat.storage.memory.tokens import MemoryTokens
from rpschat.storage.passwords import Argon2Passwords
from rpschat.storage.redis.state import RedisState
from rpschat.storage.sql.accounts import SqlAccounts
from rpschat.storage.sql.archive import SqlArchive
from rpschat.storage.sql.changes import SqlChanges
from rpschat.storage.sql.database import Database, is_memory_url
from rpschat.storage.sql.dms import SqlDms
from rpschat.storage.sql.history import SqlHistory
from rpschat.storage.sql.moderation import SqlModeration
from rpschat.storage.sql.results import SqlResults
from rpschat.storage.sql.roles import SqlRoles
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
    changes: ChangeLog  # the edits and deletes of the two above
    moderation: ModerationStore
    roles: RoleStore
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
    rated_per_pair: int | None = None,
) -> Storage:
    """memory://, sqlite:///path (relative to the working directory) or postgres(ql)://...;
    None means the default SQLite file under instance/. `on_batch`: told of every commit of
    chat messages (metrics). `rated_per_pair`: rated games a pair of claimed users may play a
    day (None: no limit)."""
    if is_memory_url(database_url):
        accounts = MemoryAccounts()
        changes = MemoryChanges()
        return Storage(
            database=None,
            history=MemoryHistory(runtime, on_batch=on_batch, changes=changes),
            # in SQL the standings query joins the accounts
            results=MemoryResults(accounts, rated_per_pair=rated_per_pair),
            accounts=accounts,
            archive=MemoryArchive(),
            dms=MemoryDms(runtime, changes=changes),
            changes=changes,
            moderation=MemoryModeration(),
            roles=MemoryRoles(),
            tokens=MemoryTokens(token_ttl_seconds),
        )
    database = Database(database_url, runtime)
    return Storage(
        database=database,
        history=SqlHistory(database, runtime, on_batch=on_batch),
        results=SqlResults(database, runtime, rated_per_pair=rated_per_pair),
        accounts=SqlAccounts(database),
        archive=SqlArchive(database),
        dms=SqlDms(database),
        changes=SqlChanges(database),
        moderation=SqlModeration(database),
        roles=SqlRoles(database),
        tokens=SqlTokens(database, token_ttl_seconds),  # they outlive a restart
    )


@dataclass
class Services:
    """Everything `create_app` hands the web layer and ops, and closes at the end."""

    settings: Settings
    runtime: Runtime
    storage: Storage
    directory: Directory  # the live state: in this process, or shared (Redis)
    tokens: TokenStore
    limiter: RateLimiter
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
    sanctions: Sanctions
    moderation: ModerationService
    reports: Reports
    roles: RoleService
    games: GameService
    book: GameBook
    invites: Invites
    arenas: Arenas
    shared: RedisState | None = None
    keeper: ClusterKeeper | None = None
    closing: bool = False

    def close(self) -> None:
        """Stop background work and commit everything accepted so far."""
        self.closing = True
        self.connections.close()
        if self.keeper is not None:
            self.keeper.stop()  # leaves the cluster at once: the other nodes take over its users
        self.storage.close()


def chat_limits(settings: Settings) -> ChatLimits:
    return ChatLimits(
        max_message_chars=settings.max_message_chars,
        chat_rate=settings.chat_rate,
        other_rate=settings.other_rate,
        join_rate=settings.join_rate,
        login_rate=settings.login_rate,
        login_rate_per_address=settings.login_rate_per_ip,
        login_rate_per_name=settings.login_rate_per_name,
        max_answer_bytes=settings.max_backlog_bytes // 4,
        resume_grace_seconds=settings.resume_grace_seconds,
        unnamed_idle_seconds=settings.unnamed_idle_seconds,
        history_on_join=settings.history_on_join,
        edit_window_seconds=settings.edit_window_seconds,
    )


def game_settings(settings: Settings, limits: ChatLimits) -> GameSettings:
    return GameSettings(
        round_seconds=settings.round_seconds,
        challenge_seconds=settings.challenge_seconds,
        resume_grace_seconds=settings.resume_grace_seconds,
        max_message_chars=limits.max_message_chars,
        max_answer_bytes=limits.max_answer_bytes,
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
        "seeks": MemorySeeks(),
    }


def game_stores(
    shared: RedisState | None,
    storage: Storage,
    finished_game_seconds: float,
    metrics: Metrics | None,
    runtime: Runtime,
) -> GameStores:
    """Live games in this process, or each its owner's with Redis (and the lobby's lock shared),
    results and finished games in the storage; `metrics` counts lock waits and recorded games."""
    live = shared.game_stores(finished_game_seconds, runtime) if shared else memory_game_stores()
    return GameStores(
        **live,
        locks=KeyedLocks(
            shared.lock if shared else None,
            on_wait=metrics.lock_waited if metrics is not None else None,
        ),
        results=metrics.count_results(storage.results) if metrics else storage.results,
        archive=storage.archive,
    )


def build_services(
    settings: Settings, runtime: Runtime, outbox: Outbox, metrics: Metrics | None = None
) -> Services:
    """`metrics`: what counts commits, lock waits and recorded games (None: metrics are off)."""
    storage = open_storage(
        settings.database_url,
        runtime,
        token_ttl_seconds=settings.token_ttl_seconds,
        on_batch=metrics.history_committed if metrics is not None else None,
        rated_per_pair=settings.rated_games_per_pair or None,
    )
    shared = open_shared_state(settings)
    directory = shared.directory if shared else MemoryDirectory()
    tokens = shared.tokens if shared else storage.tokens
    limiter = shared.limiter if shared else MemoryRateLimiter()
    limits = chat_limits(settings)
    games_config = game_settings(settings, limits)
    stores = game_stores(shared, storage, games_config.finished_game_seconds, metrics, runtime)
    accounts, names = storage.accounts, NAME_RULES

    presence = PresenceHub()  # its listeners (the lobby, the game) subscribe once built
    roles = RoleService(
        storage.roles, accounts, names, storage.moderation, now_ms=lambda: int(runtime.now() * 1000)
    )
    roles.seed(settings.moderators)  # MODERATORS: bound once, or reserved (domain/roles.py)
    roles.seed(settings.owners, OWNER)  # OWNERS: the same, for the owner role
    sanctions = Sanctions(storage.moderation, names, accounts, roles, runtime)
    connections = Connections(directory, limiter, outbox, runtime, limits, sanctions, presence)
    rate_limits = RateLimits(limiter, runtime, limits)
    joins = JoinLimit(limits.join_rate, runtime)
    slow = SlowMode(storage.moderation, limiter, sanctions, runtime)
    lobby = Lobby(
        callers=connections,
        limits=rate_limits,
        posting=sanctions,
        history=storage.history,
        directory=directory,
        outbox=outbox,
        settings=limits,
        changes=storage.changes,
        slow=slow,
    )
    edits = MessageEdits(
        callers=connections,
        limits=rate_limits,
        posting=sanctions,
        ignores=sanctions,
        history=storage.history,
        dms=storage.dms,
        changes=storage.changes,
        outbox=outbox,
        runtime=runtime,
        settings=limits,
    )
    reactions = MessageReactions(
        callers=connections,
        limits=rate_limits,
        posting=sanctions,
        ignores=sanctions,
        history=storage.history,
        dms=storage.dms,
        outbox=outbox,
        runtime=runtime,
    )
    search = MessageSearch(
        callers=connections,
        limits=rate_limits,
        ignores=sanctions,
        directory=directory,
        accounts=accounts,
        names=names,
        history=storage.history,
        dms=storage.dms,
        settings=limits,
    )
    dms = DmService(
        callers=connections,
        limits=rate_limits,
        posting=sanctions,
        ignores=sanctions,
        directory=directory,
        accounts=accounts,
        names=names,
        store=storage.dms,
        outbox=outbox,
        settings=limits,
        limits_unread=DmLimits(
            unread_on_log_in=settings.dm_unread_on_login,
            unread_per_recipient=settings.dm_unread_max or None,
            unread_per_sender=settings.dm_unread_per_sender or None,
        ),
        shared_queue=shared is not None,
    )
    busy = BusyPlayers(stores, directory, runtime)
    claims = ClaimedNames(
        callers=connections,
        limits=rate_limits,
        accounts=accounts,
        passwords=PasswordWork(  # a few at a time, beside the database's threads
            Argon2Passwords(memory_cost=settings.password_hash_kib),
            runtime,
            concurrency=settings.password_hash_concurrency,
            queue=settings.password_hash_queue,
        ),
        limiter=limiter,
        runtime=runtime,
        names=names,
        settings=limits,
        busy=busy,
        reserved=roles,
        sessions=OtherSessions(tokens, directory, outbox),
        devices=DeviceTokens(settings.secret_key),
        on_release=[roles],  # the game's standings subscribe once built
    )
    identity = Identity(
        connections=connections,
        limits=rate_limits,
        directory=directory,
        tokens=tokens,
        accounts=accounts,
        claims=claims,
        names=names,
        joins=joins,
        admission=sanctions,
        busy=busy,
        lobby=lobby,
        dms=dms,
        presence=presence,
        outbox=outbox,
    )
    sessions = Sessions(
        connections=connections,
        directory=directory,
        tokens=tokens,
        claims=claims,
        joins=joins,
        admission=sanctions,
        lobby=lobby,
        dms=dms,
        presence=presence,
        outbox=outbox,
        changes=edits,
    )
    moderation = ModerationService(
        callers=connections,
        limits=rate_limits,
        sanctions=sanctions,
        store=storage.moderation,
        directory=directory,
        accounts=accounts,
        names=names,
        history=storage.history,
        removal=connections,
        outbox=outbox,
        runtime=runtime,
    )
    room_tools = RoomTools(
        roles=roles,
        callers=connections,
        limits=rate_limits,
        sanctions=sanctions,
        store=storage.moderation,
        directory=directory,
        accounts=accounts,
        names=names,
        history=storage.history,
        outbox=outbox,
        runtime=runtime,
        max_message_chars=limits.max_message_chars,
        slow=slow,
    )
    reports = Reports(
        callers=connections,
        limits=rate_limits,
        posting=sanctions,
        limiter=limiter,
        runtime=runtime,
        history=storage.history,
        store=storage.moderation,
        roles=roles,
        outbox=outbox,
        rate=settings.report_rate,
        rate_per_address=settings.report_rate_per_ip,
    )
    games = GameService(
        callers=connections,
        limits=rate_limits,
        posting=sanctions,
        ignores=sanctions,
        directory=directory,
        accounts=accounts,
        outbox=outbox,
        runtime=runtime,
        history=storage.history,
        stores=stores,
        settings=games_config,
    )
    book = GameBook(connections, rate_limits, stores.results, accounts, names)
    invites = Invites(
        callers=connections,
        limits=rate_limits,
        directory=directory,
        outbox=outbox,
        runtime=runtime,
        store=shared.invites if shared else MemoryInvites(),
        matches=games,
        ttl_seconds=settings.invite_ttl_seconds,
    )
    arenas = Arenas(
        callers=connections,
        limits=rate_limits,
        accounts=accounts,
        moderators=sanctions,
        outbox=outbox,
        runtime=runtime,
        store=shared.arenas if shared else MemoryArenas(),
        games=games,
        results=stores.results,
        lock=lambda: stores.locks.hold("arenas"),
    )
    arenas.start_ticking()  # arenas scheduled before a restart, or on another node
    presence.subscribe(lobby)  # first: "has left" before the game's reactions
    presence.subscribe(games)
    presence.subscribe(invites)  # an invite ends with its inviter
    claims.on_release.append(games)  # a released account's standing leaves the leaderboard
    keeper = None
    if shared is not None:
        keeper = ClusterKeeper(shared, connections, games, outbox, runtime)
        keeper.start()
    runtime.spawn(connections.sweep_idle)
    return Services(
        settings=settings,
        runtime=runtime,
        storage=storage,
        directory=directory,
        tokens=tokens,
        limiter=limiter,
        connections=connections,
        sessions=sessions,
        identity=identity,
        claims=claims,
        lobby=lobby,
        edits=edits,
        reactions=reactions,
        search=search,
        room_tools=room_tools,
        dms=dms,
        conversations=DmConversations(dms),
        sanctions=sanctions,
        moderation=moderation,
        reports=reports,
        roles=roles,
        games=games,
        book=book,
        invites=invites,
        arenas=arenas,
        shared=shared,
        keeper=keeper,
    )
