"""Invite links and open challenges (issue 26, point 1), with the shared state in memory and in
Redis: single use, expiry on a held clock, cancel, the inviter gone or busy, the lobby list."""

from __future__ import annotations

from rpschat.domain.errors import Code
from tests.support.refusals import refused
from tests.unit.conftest import HeldClock
from tests.unit.test_game_handlers import OK, Seat, find_match

SHARED_STATES = ("memory", "redis")


def invite(seat, best_of=3, **extra):
    answer = seat.emit("invite", {"best_of": best_of, **extra})
    assert answer["ok"] is True, answer
    return answer


def test_an_invite_link_starts_a_game_with_the_inviter(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    made = invite(ada, best_of=5)
    code = made["code"]
    assert made == {"ok": True, "code": code, "from": "Ada", "best_of": 5, "open": False,
                    "expires_in_ms": 600_000, "url": f"http://localhost/play/{code}"}  # fmt: skip
    assert len(code) == 10 and code.isalnum()
    assert harness.flask_app.test_client().get(f"/play/{code}").status_code == 200
    assert bea.emit("accept_invite", {"code": code}) == OK
    [found_a], [found_b] = ada.take("match_found"), bea.take("match_found")
    assert found_a["game_id"] == found_b["game_id"]
    assert (found_a["opponent"], found_b["opponent"], found_b["best_of"]) == ("Bea", "Ada", 5)
    assert ada.take("invite_accepted") == [{"code": code, "by": "Bea", "best_of": 5}]
    # single use
    cyd = Seat(harness, "Cyd")
    assert cyd.emit("accept_invite", {"code": code}) == refused(
        "This invite was already used: ask for a new link.", Code.INVITE_USED
    )


def test_an_invite_expires(harness):
    clock = HeldClock(harness.services.runtime)
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    code = invite(ada)["code"]
    clock.advance(599)
    assert ada.emit("my_invites", {})["invites"][0]["expires_in_ms"] == 1000
    clock.advance(1.1)
    assert ada.take("invite_ended") == [{"code": code, "reason": "expired"}]
    assert bea.emit("accept_invite", {"code": code}) == refused(
        "This invite has expired: ask for a new link.", Code.INVITE_EXPIRED
    )
    assert ada.emit("my_invites", {})["invites"] == []


def test_cancelled_unknown_own_and_inviter_gone(harness):
    ada, bea = Seat(harness, "Ada"), Seat(harness, "Bea")
    code = invite(ada)["code"]
    assert ada.emit("accept_invite", {"code": code}) == refused(
        "This is your own invite: send the link to someone else.", Code.SELF_TARGET
    )
    assert bea.emit("cancel_invite", {"code": code}) == refused(
        "No such invite: check the link.", Code.NO_SUCH_INVITE
    )
    assert ada.emit("cancel_invite", {"code": code}) == OK
    assert bea.emit("accept_invite", {"code": code}) == refused(
        "This invite was cancelled.", Code.INVITE_CANCELLED
    )
    assert bea.emit("accept_invite", {"code": "nosuchcode"})["code"] == "no_such_invite"
    assert bea.emit("accept_invite", {"code": 42})["code"] == "no_such_invite"
    second = invite(ada)["code"]
    ada.client.disconnect()
    assert bea.emit("accept_invite", {"code": second}) == refused(
        "Ada has left: the invite ended with them.", Code.INVITER_GONE
    )


def test_the_inviter_busy_in_a_game_keeps_the_link_for_later(harness):
    ada, bea, cyd = Seat(harness, "Ada"), Seat(harness, "Bea"), Seat(harness, "Cyd")
    code = invite(ada)["code"]
    game_id = find_match([ada, cyd], best_of=1)
    assert bea.emit("accept_invite", {"code": code}) == refused(
        "Ada is in a game: try again when it ends.", Code.OPPONENT_BUSY
    )
    assert ada.emit("leave_game", {"game_id": game_id}) == OK
    assert bea.emit("accept_invite", {"code": code}) == OK
    assert bea.take("match_found")[0]["opponent"] == "Ada"


def test_an_open_challenge_is_listed_in_the_lobby_until_taken(harness):
    ada, bea, cyd = Seat(harness, "Ada"), Seat(harness, "Bea"), Seat(harness, "Cyd")
    private = invite(ada)["code"]
    made = invite(ada, best_of=1, open=True)
    code = made["code"]
    [pushed] = cyd.take("open_challenge")
    assert pushed == {"action": "add", "code": code, "from": "Ada", "best_of": 1, "open": True,
                      "expires_in_ms": 600_000}  # fmt: skip
    listed = bea.emit("open_challenges", {})["challenges"]
    assert [c["code"] for c in listed] == [code]  # the private invite is not listed
    assert bea.emit("accept_invite", {"code": code}) == OK
    assert cyd.take("open_challenge") == [{"action": "remove", "code": code, "reason": "used"}]
    assert bea.emit("open_challenges", {})["challenges"] == []
    assert private in [i["code"] for i in ada.emit("my_invites", {})["invites"]]


def test_bad_invites_are_refused(harness):
    ada = Seat(harness, "Ada")
    assert ada.emit("invite", {"best_of": 2})["code"] == "bad_request"
    assert ada.emit("invite", {"best_of": 3, "open": "yes"}) == refused(
        "open must be true or false.", Code.BAD_REQUEST, field="open"
    )
    for _ in range(5):
        invite(ada)
    assert ada.emit("invite", {"best_of": 3}) == refused(
        "You have 5 invites waiting: cancel one first.", Code.TOO_MANY_INVITES
    )
    anonymous = harness.client()
    assert anonymous.emit("invite", {"best_of": 3}, callback=True)["code"] == "name_required"
