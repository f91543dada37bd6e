"""What the stores of every kind (memory/, sql/, redis/) share: their refusals when storage
fails, the on_commit call, and the formats of tokens and conversations."""

from __future__ import annotations

import logging
from collections.abc import Callable

from rpschat.domain.errors import RETRY_SOON_SECONDS, Code, Refused
from rpschat.domain.ports import OnCommit, StoredMessage, UnreadCapReached, UnreadCaps

logger = logging.getLogger(__name__)


class StorageUnavailable(Refused):
    """The database could not carry out a request (it is down, or refused the write)."""

    def __init__(
        self,
        code: Code = Code.UNAVAILABLE,
        reason: str = "The server could not save that: try again in a moment.",
    ):
        super().__init__(code, reason, retry_after=RETRY_SOON_SECONDS)


class StorageClosed(StorageUnavailable):
    """The store is closed: the server is shutting down."""

    def __init__(self) -> None:
        super().__init__(
            Code.RESTARTING, "The server is restarting: send it again once you are reconnected."
        )


# Told of every committed batch: (messages newly stored, seconds the commit took). For metrics.
OnBatch = Callable[[int, float], None]


def check_page_args(before: int | None, after: int | None) -> None:
    if before is not None and after is not None:
        raise ValueError("page() takes before or after, not both")


def notify_commit(on_commit: OnCommit | None, message: StoredMessage) -> None:
    if on_commit is None:
        return
    try:
        on_commit(message)
    except Exception:  # a failing listener must not lose or delay anyone else's message
        logger.exception("on_commit failed for message %d", message.id)


def split_token(token: object) -> tuple[str, str] | None:
    """A token is `<user_id>.<secret>`: looked up by user id, its secret compared in
    constant time, so a lookup's timing tells nothing about the secret."""
    if not isinstance(token, str) or len(token) > 200:
        return None
    user_id, dot, secret = token.partition(".")
    return (user_id, secret) if dot and user_id and secret else None


def pair_of(user_id: str, other_id: str) -> str:
    return "|".join(sorted((user_id, other_id)))


def check_caps(caps: UnreadCaps, held: int, from_sender: int) -> None:
    """Raises UnreadCapReached when the recipient holds `held` unread DMs (`from_sender` of
    them from this sender) and one more would pass a cap."""
    if caps.per_sender is not None and from_sender >= caps.per_sender:
        raise UnreadCapReached(per_sender=True, cap=caps.per_sender)
    if caps.per_recipient is not None and held >= caps.per_recipient:
        raise UnreadCapReached(per_sender=False, cap=caps.per_recipient)
