"""A projector session's liveness: heartbeats, and how long the server lets a silent one live."""

from __future__ import annotations

import time

from skill_ledger.database import Session

SILENCE_SECONDS = 3.0
"""A projector's session (and a batch transaction) silent this long is ended by the server, so
a frozen or cut-off leader frees the lead and the tracking row for a standby within seconds,
not when TCP gives up. Sessions send a heartbeat well within it."""
HEARTBEAT_SECONDS = 1.0
STEP_BACK_SECONDS = 2.0
"""A leader that lost its session stands by this long first, so a healthy standby takes over."""


def alive(session: Session) -> bool:
    """Whether the session still answers."""
    try:
        session.heartbeat()
    except Exception:
        return False
    return True


class Heartbeat:
    """A leader's session heartbeats at most every HEARTBEAT_SECONDS."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.last = time.monotonic()

    def maybe(self) -> None:
        """Beat if the last beat is a heartbeat interval old."""
        now = time.monotonic()
        if now - self.last >= HEARTBEAT_SECONDS:
            self.session.heartbeat()
            self.last = now

    def progress(self, done: int, total: int) -> None:
        """A catch-up's progress callback: beat between batches."""
        self.maybe()
