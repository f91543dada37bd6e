"""Whether a user is busy with the game: in a game, looking for one, or in a pending challenge.
Naming asks (a busy user's name must not change: the queue, challenges and the live-game index
are by name); it is a query of
the game's stores alone, so it is built before the game and the chat's services alike."""

from __future__ import annotations

from rpschat.domain.game.context import LOBBY_LOCK
from rpschat.domain.game.matchmaking import Challenges
from rpschat.domain.game.ports import GameStores
from rpschat.domain.ports import Directory, Runtime


class BusyPlayers:
    def __init__(self, stores: GameStores, directory: Directory, runtime: Runtime) -> None:
        self._stores = stores
        self._directory = directory
        self._runtime = runtime
        self._challenges = Challenges(stores.challenges)

    def is_busy(self, user_id: str) -> bool:
        name = self._directory.name_of(user_id)
        if name is None:
            return False
        stores = self._stores
        with stores.locks.hold(LOBBY_LOCK):
            drop = stores.drops.get(name)
            return (
                stores.matches.live_game_of(name) is not None
                or stores.queue.best_of_for(name) is not None
                or (drop is not None and drop.queued_best_of is not None)
                or bool(self._challenges.pending_for(name, self._runtime.now()))
            )
