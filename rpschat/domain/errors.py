"""The one error type the domain raises: a refusal with a human-readable reason."""


class Refused(Exception):
    """A request the server will not carry out; `reason` is shown to the user as is."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
