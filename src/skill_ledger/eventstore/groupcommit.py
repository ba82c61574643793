"""Group commit: the events of concurrent commands share one event-store transaction.

The store's table lock serialises every insert (commit order = notification order), so throughput
comes from putting more work into each transaction, not from more transactions. Whichever command
thread finds no commit in progress becomes the writer for everything queued so far; the others wait
for their share of the result. A conflict in a batch (another process won a stream) is isolated by
saving the batch's commands one by one, so only the loser retries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Recording

Put = Callable[[Sequence[Any]], list[Recording[UUID]]]


@dataclass(eq=False)
class _Pending:
    events: list[Any]
    recordings: list[Recording[UUID]] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class GroupCommitter:
    """Batches concurrent `put` calls of the event store into single transactions."""

    def __init__(
        self, put: Put, max_batch: int = 256, on_commit: Callable[[int], None] | None = None
    ) -> None:
        self._put = put
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._writing = False
        self._changed = threading.Condition()
        self.batches = 0
        self.commands = 0

    def put(self, events: list[Any]) -> list[Recording[UUID]]:
        """Record these events (one command's) atomically, possibly with other commands' events."""
        item = _Pending(events)
        self._run([item])
        return self._result(item)

    def put_many(self, commands: Sequence[list[Any]]) -> list[list[Recording[UUID]] | None]:
        """Record several commands' events, queued together; None for a command that conflicted.

        Each command stays atomic on its own: a conflict fails only that command (its stream was
        saved first by another writer). Any other failure (the store is down) is raised.
        """
        items = [_Pending(events) for events in commands]
        self._run(items)
        for item in items:
            if item.error is not None and not isinstance(item.error, IntegrityError):
                raise item.error
        return [None if item.error is not None else item.recordings for item in items]

    def _run(self, items: list[_Pending]) -> None:
        """Queue the items, then wait for, or become, the writer until every one is done."""
        with self._changed:
            self._queue.extend(items)
        while True:
            with self._changed:
                while self._writing and not all(item.done for item in items):
                    self._changed.wait()
                if all(item.done for item in items):
                    return
                self._writing = True
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
            # Our items may lie beyond max_batch: they stay queued (never queued twice) and the
            # loop waits for, or becomes, the writer of a later batch.
            try:
                self._commit(batch)
            finally:
                with self._changed:
                    self._writing = False
                    for pending in batch:
                        pending.done = True
                    self._changed.notify_all()

    @staticmethod
    def _result(item: _Pending) -> list[Recording[UUID]]:
        if item.error is not None:
            raise item.error
        return item.recordings

    def _commit(self, batch: list[_Pending]) -> None:
        self.batches += 1
        self.commands += len(batch)
        if self._on_commit is not None:
            self._on_commit(len(batch))
        try:
            recordings = self._put([event for pending in batch for event in pending.events])
        except IntegrityError as e:
            if len(batch) == 1:
                batch[0].error = e
                return
            for pending in batch:
                try:
                    pending.recordings = self._put(pending.events)
                except IntegrityError as conflict:
                    pending.error = conflict
            return
        except BaseException as e:  # the store is down: every command in the batch failed
            for pending in batch:
                pending.error = e
            return
        start = 0
        for pending in batch:
            pending.recordings = recordings[start : start + len(pending.events)]
            start += len(pending.events)


class StreamLocks:
    """One lock per stream id, so commands on the same stream in this process take turns."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[UUID, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, stream: UUID) -> Iterator[None]:
        """Hold the stream's lock for the duration of the block."""
        with self._guard:
            lock, users = self._locks.get(stream, (threading.Lock(), 0))
            self._locks[stream] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[stream]
                if users == 1:
                    del self._locks[stream]
                else:
                    self._locks[stream] = (lock, users - 1)
