"""What the game does when a user drops, comes back or leaves for good (it listens to the
presence hub, domain/presence.py). Each reaction costs the user's own games, queue entry and
challenges: never a pass over every game stored."""

from __future__ import annotations

import logging

from rpschat.domain.answers import MAX_REPLAY, wire_bytes
from rpschat.domain.game.context import GameContext, game_room
from rpschat.domain.game.lifecycle import MatchLifecycle
from rpschat.domain.game.match import Match
from rpschat.domain.game.pairing import Pairing
from rpschat.domain.game.ports import Drop
from rpschat.domain.game.records import GameRecords
from rpschat.domain.game.routing import GameRouting

log = logging.getLogger("rpschat.games")


class PresenceReactions:
    def __init__(
        self,
        ctx: GameContext,
        lifecycle: MatchLifecycle,
        pairing: Pairing,
        records: GameRecords,
        routing: GameRouting,
    ) -> None:
        self._ctx = ctx
        self._routing = routing
        self._records = records
        self._lifecycle = lifecycle
        self._pairing = pairing

    def user_dropped(self, user_id: str, name: str) -> None:
        """Lost connection, maybe back soon. The round timer keeps running meanwhile."""
        ctx = self._ctx
        with ctx.lobby():
            matchmaker = self._pairing.matchmaker
            best_of = matchmaker.queued_best_of(name)
            if best_of is not None:  # nobody should be matched with a player who can't hear it
                matchmaker.remove(name)
            ctx.drops.add(name, Drop(ctx.runtime.now(), best_of))
        match = self._live_match_of(name)
        if match is not None and user_id in match.players:
            self._lifecycle.tell_opponent_away(match, user_id, ctx.settings.resume_grace_seconds)

    def user_back(self, user_id: str, name: str, sid: str, last_id: int | None) -> None:
        """A resumed connection: back into its rooms, its game state and its queue; with
        `last_id`, the game chat it missed."""
        self._rejoin(user_id, name, sid)
        if last_id is not None:
            self.replay_game_chat(user_id, name, sid, last_id)

    def _rejoin(self, user_id: str, name: str, sid: str) -> None:
        ctx = self._ctx
        ctx.remember(user_id, name)
        created = None
        with ctx.lobby():
            drop = ctx.drops.pop(name)
            for game_id in self.games_of(user_id, name):
                ctx.outbox.join(sid, game_room(game_id))
            live = self._live_match_of(name)
            if live is not None and user_id in live.players:
                # from the game's owner: its snapshot elsewhere has the rounds, not the moves
                # thrown in this one (`your_move`, `thrown`)
                state = {"user_id": user_id, "sid": sid, "was_dropped": drop is not None}
                self._routing.run("state", live.game_id, state)
            now = ctx.runtime.now()
            for challenge in self._pairing.challenges.pending_for(name, now):
                if challenge.challenged == name:
                    self._pairing.send_challenged(challenge, now)
            if drop is not None and drop.queued_best_of is not None and live is None:
                created = self._pairing.requeue(name, drop.queued_best_of)
        if created is not None:
            self._pairing.announce(*created)

    def user_gone(self, user_id: str, name: str) -> None:
        """Gone for good (grace over, or a deliberate disconnect): forfeit and clean up. The
        finished games they played need no update: `Match.is_member` checks the user id."""
        ctx = self._ctx
        with ctx.lobby():
            ctx.drops.pop(name)
            self._pairing.matchmaker.remove(name)
            game_id = ctx.store.live_game_of(name)
            if game_id is not None:  # lost, on the game's owner (`MatchLifecycle.forfeit_gone`)
                self._routing.run("gone", game_id, {"user_id": user_id})
            self._pairing.cancel_challenges_of(name)
            self._pairing.rematches.cancel_for(user_id)
            ctx.spectators.drop_user(user_id)
        ctx.forget_user(user_id, name)
        try:  # a guest's standing goes with the guest: nobody who takes the name inherits it
            ctx.results.forget_guest(name, user_id)
        except Exception:  # the row is then started afresh by the next user who plays as it
            log.exception("forgetting the standing of a guest who left failed")
        self._records.forget_guest(user_id)  # a guest's history lasts as long as its session

    def games_of(self, user_id: str, name: str) -> list[str]:
        """The games a user is in the room of: played (and not left) or watched. From the
        user's own indexes, never a scan of every game stored."""
        played = [m.game_id for m in self._ctx.store.games_of(name) if m.is_member(user_id)]
        return played + self._ctx.spectators.games_of(user_id)

    def replay_game_chat(self, user_id: str, name: str, sid: str, last_id: int) -> None:
        """After a resume (once `user_back` put the connection back in its rooms): the game
        chat with ids above `last_id` of those games, as `game_message` with `replayed: true`.
        Not under a lock (storage reads); a message committed meanwhile may come twice, never
        not at all (docs/protocol.md, "Resume after a reconnect")."""
        budget = self._ctx.settings.max_answer_bytes  # for all the rooms together
        spent = 0
        for game_id in self.games_of(user_id, name):
            replayed_up_to = last_id
            for message in self._ctx.history.after(game_room(game_id), last_id, MAX_REPLAY):
                replayed = {"game_id": game_id, **message.to_wire(), "replayed": True}
                spent += wire_bytes(replayed)
                if budget is not None and spent > budget and spent > wire_bytes(replayed):
                    # no larger answer than a client can receive (docs/protocol.md, "Answer
                    # sizes"): the newer game chat of this room is not sent
                    cut = {"game_id": game_id, "last_id": replayed_up_to}
                    self._ctx.outbox.emit("replay_truncated", cut, to=sid)
                    break
                self._ctx.outbox.emit("game_message", replayed, to=sid)
                replayed_up_to = message.id

    def _live_match_of(self, name: str) -> Match | None:
        game_id = self._ctx.store.live_game_of(name)
        return self._ctx.store.get(game_id) if game_id is not None else None

    def send_game_state(self, game_id: str, player: str, sid: str, was_dropped: bool) -> None:
        """On the game's owner (routing.py): `game_state` to a resumed player's connection."""
        match = self._ctx.store.owned(game_id)
        if match is not None and not match.is_over and player in match.players:
            self._send_game_state(match, player, sid, was_dropped)

    def _send_game_state(self, match: Match, player: str, sid: str, was_dropped: bool) -> None:
        ctx = self._ctx
        state = {**ctx.view(match), "your_move": match.move_of(player)}
        ctx.outbox.emit("game_state", state, to=sid)
        if was_dropped:
            status = {"game_id": match.game_id, "name": match.name_of(player), "connected": True}
            ctx.emit_to_user(match.opponent_of(player), "opponent_status", status)
