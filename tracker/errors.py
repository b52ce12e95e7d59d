"""The tracker's exceptions: each message says what failed and what to do."""


class TrackerError(Exception):
    """Base of every error the tracker reports to its user."""


class ConfigError(TrackerError):
    """The configuration file is missing, malformed or has a bad value."""


class SourceError(TrackerError):
    """A source could not be fetched, or its new revision is not trustworthy."""


class ParseError(TrackerError):
    """A page could not be understood; nothing derived from it may be stored."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class StoreError(TrackerError):
    """The database is unreachable or its schema does not match the code."""


class DeliveryError(TrackerError):
    """A notification could not be delivered.

    ``permanent`` tells whether retrying can help (a timeout, a 5xx) or not
    (a revoked token, an unknown channel). ``retry_after`` is how many
    seconds the server asked us to wait, when it said; ``delivered`` how
    many posts of a split message went out before the failure. ``uncertain``
    says the server may have taken the failed post all the same (no answer
    came after the request was sent), so that the next try first looks
    whether it arrived.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        delivered: int = 0,
        uncertain: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.delivered = delivered
        self.uncertain = uncertain
