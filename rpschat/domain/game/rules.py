"""Rock-paper-scissors rules and the parsing of untrusted client input into valid values."""

from typing import Literal

from rpschat.domain.errors import Code, Refused

ROCK = "rock"
PAPER = "paper"
SCISSORS = "scissors"
MOVES: tuple[str, ...] = (ROCK, PAPER, SCISSORS)

# Each move beats exactly the one it maps to: the rules are a 3-cycle.
_DEFEATS: dict[str, str] = {ROCK: SCISSORS, PAPER: ROCK, SCISSORS: PAPER}

VALID_BEST_OF: tuple[int, ...] = (1, 3, 5)
DEFAULT_BEST_OF = 3

# Echoing a client's whole string back would let it make our error messages arbitrarily long.
_MAX_ECHOED_CHARS = 20

_BAD_BEST_OF = "best_of must be 1, 3 or 5."
NOT_A_MOVE = "A move must be one of rock, paper or scissors."

Side = Literal["a", "b"]


def beats(a: str, b: str) -> bool:
    """True when move `a` defeats move `b`."""
    return _DEFEATS[a] == b


def round_winner(move_a: str, move_b: str) -> Side | None:
    """'a' or 'b' for the side whose move wins, None for a draw."""
    if beats(move_a, move_b):
        return "a"
    if beats(move_b, move_a):
        return "b"
    return None


def wins_needed(best_of: int) -> int:
    """Round wins that decide a best-of-N match: a strict majority of N."""
    return validate_best_of(best_of) // 2 + 1


def parse_move(raw: object) -> str:
    """Normalise a client-sent move ('  Rock ' -> 'rock') or refuse it."""
    if not isinstance(raw, str):
        raise Refused(Code.BAD_REQUEST, NOT_A_MOVE, field="move")
    move = raw.strip().lower()
    if move not in MOVES:
        raise Refused(
            Code.BAD_REQUEST,
            f"Unknown move {_echo(raw)}: choose rock, paper or scissors.",
            field="move",
        )
    return move


def validate_best_of(best_of: object) -> int:
    """Accept only the ints in VALID_BEST_OF (bool is an int subclass, so it is excluded)."""
    if isinstance(best_of, bool) or not isinstance(best_of, int) or best_of not in VALID_BEST_OF:
        raise Refused(Code.BAD_REQUEST, _BAD_BEST_OF, field="best_of")
    return best_of


def parse_best_of(raw: object, default: int = DEFAULT_BEST_OF) -> int:
    """Client-sent best_of: missing -> default; an int or a digit string like "3"; else refused."""
    if raw is None:
        return default
    if isinstance(raw, str):
        text = raw.strip()
        # leading zeros aside, more than 2 digits is no best_of: never int() thousands of them
        if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > 2:
            raise Refused(Code.BAD_REQUEST, _BAD_BEST_OF, field="best_of")
        raw = int(text)
    return validate_best_of(raw)


def _echo(text: str) -> str:
    shown = text.strip()
    if len(shown) > _MAX_ECHOED_CHARS:
        shown = shown[:_MAX_ECHOED_CHARS] + "…"
    return repr(shown)
