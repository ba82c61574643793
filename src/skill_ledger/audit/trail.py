"""What auditors read: a pair's event history, its state at a past version or time, the global feed.

Plain data for the HTTP API. Every answer is folded from the raw stored events (never from
snapshots), so it is exactly what `ledger audit verify` checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from skill_ledger.audit.records import EventRecord, decode_event, record_of
from skill_ledger.database import Database
from skill_ledger.domain import Assessment, LedgerError, NotFound, fold, record_id
from skill_ledger.eventstore.log import EventLog

MAX_FEED_LIMIT = 1000


class InvalidQuery(LedgerError):
    """A history query's parameters are malformed or contradict each other."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class VersionNotFound(NotFound):
    """The pair's stream has not reached this version."""

    def __init__(self, stream: UUID, version: int, last: int) -> None:
        super().__init__(f"Stream {stream} has no version {version}; its last version is {last}")
        self.stream = stream
        self.version = version
        self.last = last


class UnreadableHistory(LedgerError):
    """A stored event cannot be replayed: the store was tampered with (`ledger audit verify`)."""


def parse_as_of(text: str) -> datetime:
    """An RFC 3339 date-time with an offset (Z or ±hh:mm); InvalidQuery otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidQuery("as_of", f"not an RFC 3339 date-time: {text!r}") from None
    if moment.tzinfo is None:
        raise InvalidQuery("as_of", "must carry a UTC offset (Z or ±hh:mm)")
    return moment


@dataclass(frozen=True, slots=True)
class PairState:
    """A pair's assessments as they stood after `version` (0: before its first event)."""

    license_id: int
    skill_name: str
    stream: UUID
    version: int
    as_of: datetime | None
    assessments: list[Assessment]

    @property
    def active(self) -> Assessment | None:
        """The active assessment then, if any."""
        return next((row for row in self.assessments if row.is_active), None)


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A page of the global feed and the cursor for the next one."""

    events: list[EventRecord]
    next_after: int
    has_more: bool


class AuditTrail:
    """Read-only queries on the event log for auditors and downstream consumers."""

    def __init__(self, db: Database, eventlog: EventLog) -> None:
        self.db = db
        self.eventlog = eventlog

    def events(self, license_id: int, skill_name: str) -> list[EventRecord]:
        """The pair's full history in version order: who did what, when, with which hash."""
        return self.stream(record_id(license_id, skill_name))

    def stream(self, stream: UUID) -> list[EventRecord]:
        """One stream's full history in version order (a pair's, a user's or a license's)."""
        with self.db.transaction(write=False) as cursor:
            rows = self.eventlog.read_stream(cursor, stream)
        return [record_of(row, self.eventlog.mapper) for row in rows]

    def state(
        self,
        license_id: int,
        skill_name: str,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> PairState:
        """The pair's assessments at a version, or at a moment (the latest version not after it).

        Events are taken in version order and folding stops at the first one stamped after
        `as_of`, so the answer is always a state the pair really had. Without either, the
        current state.
        """
        if version is not None and as_of is not None:
            raise InvalidQuery("version", "give either version or as_of, not both")
        if version is not None and version < 0:
            raise InvalidQuery("version", "must be 0 or more")
        if as_of is not None and as_of.tzinfo is None:
            raise InvalidQuery("as_of", "must carry a UTC offset (Z or ±hh:mm)")
        stream = record_id(license_id, skill_name)
        with self.db.transaction(write=False) as cursor:
            stored = self.eventlog.read_stream(cursor, stream)
        last = stored[-1].version if stored else 0
        if version is not None and version > last:
            raise VersionNotFound(stream, version, last)
        rows: dict[UUID, Assessment] = {}
        reached = 0
        for raw in stored:
            if version is not None and raw.version > version:
                break
            event = decode_event(raw, self.eventlog.mapper)
            if event is None:
                raise UnreadableHistory(f"Stream {stream} version {raw.version} cannot be read")
            if as_of is not None and event.timestamp > as_of:
                break
            try:
                fold(rows, (event,))
            except KeyError:
                raise UnreadableHistory(
                    f"Stream {stream} version {event.originator_version} cannot be replayed"
                ) from None
            reached = event.originator_version
        assessments = sorted(
            rows.values(), key=lambda row: (row.assessed_at, row.status_changed_at), reverse=True
        )
        return PairState(license_id, skill_name, stream, reached, as_of, assessments)

    def feed(self, after: int = 0, limit: int = 100) -> FeedPage:
        """Events after position `after` in notification order, at most `limit` of them.

        Commit order equals position order (the store's table lock), so a consumer that keeps
        passing `next_after` back never skips an event.
        """
        if after < 0:
            raise InvalidQuery("after", "must be 0 or more")
        if not 1 <= limit <= MAX_FEED_LIMIT:
            raise InvalidQuery("limit", f"must be between 1 and {MAX_FEED_LIMIT}")
        with self.db.transaction(write=False) as cursor:
            rows = self.eventlog.read(cursor, after, limit + 1)
        page = [record_of(row, self.eventlog.mapper) for row in rows[:limit]]
        return FeedPage(
            events=page,
            next_after=page[-1].position if page else after,
            has_more=len(rows) > limit,
        )
