"""Group commit: concurrent commands share transactions; a conflict fails only its own command."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, Notification, OperationalError, Recording

from skill_ledger.eventstore.groupcommit import GroupCommitter, StreamLocks


class FakeStore:
    """An event store port: records batches, refuses events marked 'conflict', can be 'down'."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.transactions: list[list[Any]] = []
        self.stored: set[Any] = set()
        self.position = 0
        self.down = False
        self.lock = threading.Lock()
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def put(self, events: Sequence[Any]) -> list[Recording[Any]]:
        self.entered.set()
        self.gate.wait()
        with self.lock:
            time.sleep(self.delay)
            if self.down:
                raise OperationalError("connection refused")
            if any(event == "conflict" or event in self.stored for event in events):
                raise IntegrityError("duplicate key")  # as the (stream, version) key refuses
            self.stored.update(events)
            self.transactions.append(list(events))
            recordings = []
            for event in events:
                self.position += 1
                notification = Notification(
                    id=self.position,
                    originator_id=uuid4(),
                    originator_version=1,
                    topic="t",
                    state=b"",
                )
                recordings.append(Recording(event, notification))
            return recordings


def run_concurrently(committer: GroupCommitter, batches: list[list[Any]]) -> list[Any]:
    results: list[Any] = [None] * len(batches)
    barrier = threading.Barrier(len(batches))

    def submit(index: int) -> None:
        barrier.wait()
        try:
            results[index] = [r.domain_event for r in committer.put(batches[index])]
        except Exception as e:
            results[index] = e

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_commands_share_transactions_and_get_their_own_recordings() -> None:
    store = FakeStore(delay=0.01)
    committer = GroupCommitter(store.put)
    commands = [[f"c{i}-a", f"c{i}-b"] for i in range(16)]
    results = run_concurrently(committer, commands)
    assert results == commands
    assert len(store.transactions) < 16
    assert committer.commands == 16
    assert sum(len(t) for t in store.transactions) == 32


def test_a_conflict_fails_only_the_command_that_caused_it() -> None:
    store = FakeStore(delay=0.01)
    committer = GroupCommitter(store.put)
    commands = [["ok-1"], ["conflict"], ["ok-2"], ["ok-3"]]
    results = run_concurrently(committer, commands)
    assert isinstance(results[1], IntegrityError)
    assert [results[0], results[2], results[3]] == [["ok-1"], ["ok-2"], ["ok-3"]]
    recorded = [event for transaction in store.transactions for event in transaction]
    assert sorted(recorded) == ["ok-1", "ok-2", "ok-3"]


def test_a_store_outage_fails_every_command_in_the_batch() -> None:
    store = FakeStore()
    store.down = True
    committer = GroupCommitter(store.put)
    results = run_concurrently(committer, [["a"], ["b"], ["c"]])
    assert all(isinstance(result, OperationalError) for result in results)
    store.down = False
    assert [r.domain_event for r in committer.put(["d"])] == ["d"]


def test_batches_never_exceed_the_maximum() -> None:
    store = FakeStore(delay=0.005)
    committer = GroupCommitter(store.put, max_batch=3)
    results = run_concurrently(committer, [[f"e{i}"] for i in range(10)])
    assert results == [[f"e{i}"] for i in range(10)]
    assert max(len(t) for t in store.transactions) <= 3


def test_stream_locks_serialise_one_stream_but_not_others() -> None:
    locks = StreamLocks()
    stream, other = uuid4(), uuid4()
    inside: list[str] = []
    overlap = threading.Event()

    def hold(key: Any, name: str) -> None:
        with locks.hold(key):
            inside.append(name)
            if len(inside) > 1:
                overlap.set()
            time.sleep(0.05)
            inside.remove(name)

    threads = [
        threading.Thread(target=hold, args=(stream, "a")),
        threading.Thread(target=hold, args=(other, "b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlap.is_set(), "different streams run in parallel"

    order: list[int] = []

    def take(n: int) -> None:
        with locks.hold(stream):
            order.append(n)
            time.sleep(0.01)
            order.append(n)

    threads = [threading.Thread(target=take, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(order[i] == order[i + 1] for i in range(0, len(order), 2)), (
        "same stream never overlaps"
    )


def one_held_writer_and_four_behind(tag: str) -> tuple[FakeStore, list[Any], list[Any]]:
    """One writer held inside the store while four commands queue behind it (max_batch=2)."""
    store = FakeStore()
    committer = GroupCommitter(store.put, max_batch=2)
    store.gate.clear()
    first: list[Any] = []
    writer = threading.Thread(
        target=lambda: first.append([r.domain_event for r in committer.put([f"{tag}-0"])])
    )
    writer.start()
    store.entered.wait(5)
    results: list[Any] = []
    queued = [[f"{tag}-{i}"] for i in range(1, 5)]
    behind = threading.Thread(target=lambda: results.extend(run_concurrently(committer, queued)))
    behind.start()
    time.sleep(0.05)  # let the four queue up behind the held writer
    store.gate.set()
    writer.join()
    behind.join()
    return store, first + results, [[f"{tag}-0"], *queued]


def test_a_command_beyond_the_batch_limit_is_stored_once_and_its_caller_gets_it() -> None:
    # Whichever of the four writes next leaves two beyond max_batch; repeated, so the
    # thread that becomes the writer is, some round, one whose own command was left out.
    for round_ in range(20):
        store, results, commands = one_held_writer_and_four_behind(str(round_))

        assert results == commands, f"round {round_}: {results}"
        stored = [event for transaction in store.transactions for event in transaction]
        assert sorted(stored) == sorted(event for command in commands for event in command)
        assert max(len(t) for t in store.transactions) <= 2


@pytest.mark.parametrize("size", [1, 2])
def test_a_single_command_is_committed_alone(size: int) -> None:
    store = FakeStore()
    committer = GroupCommitter(store.put)
    events = [f"x{i}" for i in range(size)]
    assert [r.domain_event for r in committer.put(events)] == events
    assert store.transactions == [events]


def test_commands_handed_over_together_share_one_transaction() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.put)
    results = committer.put_many([["a1", "a2"], ["b1"], ["c1", "c2", "c3"]])
    assert [[r.domain_event for r in found or []] for found in results] == [
        ["a1", "a2"],
        ["b1"],
        ["c1", "c2", "c3"],
    ]
    assert store.transactions == [["a1", "a2", "b1", "c1", "c2", "c3"]]


def test_a_conflicting_command_handed_over_together_fails_alone() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.put)
    results = committer.put_many([["a1"], ["conflict"], ["c1"]])
    assert results[1] is None
    assert [r.domain_event for r in results[0] or []] == ["a1"]
    assert [r.domain_event for r in results[2] or []] == ["c1"]
    assert store.stored == {"a1", "c1"}


def test_more_commands_than_a_batch_holds_are_all_committed_in_order() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.put, max_batch=4)
    results = committer.put_many([[f"e{i}"] for i in range(10)])
    assert [[r.domain_event for r in found or []] for found in results] == [
        [f"e{i}"] for i in range(10)
    ]
    assert [len(t) for t in store.transactions] == [4, 4, 2]


def test_a_store_that_is_down_fails_the_whole_hand_over() -> None:
    store = FakeStore()
    store.down = True
    committer = GroupCommitter(store.put)
    with pytest.raises(OperationalError):
        committer.put_many([["a1"], ["b1"]])
