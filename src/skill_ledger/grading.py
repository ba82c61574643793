"""Grading a training session: each item its own assess command, saved together.

Every item gets today's rules (its own stream, content idempotency, replacement, policy,
permissions); the decided events of all items go to the group committer at once, so a squad's
grades share as few transactions as it allows. A refused item is that item's answer only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from copy import deepcopy
from itertools import chain
from typing import cast
from uuid import UUID

import structlog

from skill_ledger.application import AssessItem, CommandResult, Decision, Ledger
from skill_ledger.domain import Actor, LedgerError, Outcome, SkillRecord, record_id
from skill_ledger.eventstore.log import EventLog

log = structlog.get_logger("skill_ledger.application")
Outcomes = list[CommandResult | LedgerError]
COMMAND = "assess"


class SessionGrading:
    """Many assess commands by one actor, decided under their streams' locks, saved together."""

    def __init__(self, ledger: Ledger, eventlog: EventLog) -> None:
        self.ledger = ledger
        self.eventlog = eventlog

    def grade(self, actor: Actor, items: Sequence[AssessItem]) -> Outcomes:
        """One outcome per item, in order: its command's result or the error refusing it."""
        started = time.perf_counter()
        outcomes: list[CommandResult | LedgerError | None] = [None] * len(items)
        with self.ledger.observed(COMMAND):
            rounds = self._checked_rounds(actor, items, outcomes)
            if rounds:
                prior = [self.ledger.prior_assessments(actor)]
                for indexes in rounds:
                    self._round(actor, items, indexes, prior, outcomes)
        done = [outcome for outcome in outcomes if outcome is not None]
        assert len(done) == len(items)
        # One closing line for the session instead of one per item (the seed's lines stay).
        counts = Counter(
            o.outcome.value if isinstance(o, CommandResult) else "refused" for o in done
        )
        log.info(
            "session_graded",
            pipeline="skill_assessment",
            items=len(items),
            **counts,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return done

    def _checked_rounds(
        self,
        actor: Actor,
        items: Sequence[AssessItem],
        outcomes: list[CommandResult | LedgerError | None],
    ) -> list[list[int]]:
        """The items that pass the checks, in rounds where each stream appears at most once.

        The second grade of one pair in a session must see the first: it goes a round later.
        """
        rounds: list[list[int]] = []
        seen: dict[UUID, int] = {}
        for index, item in enumerate(items):
            try:
                self.ledger.check_assess(actor, item)
            except LedgerError as e:
                self._refused(outcomes, index, e)
                continue
            stream = record_id(item.license_id, item.skill_name)
            turn = seen.get(stream, 0)
            seen[stream] = turn + 1
            if turn == len(rounds):
                rounds.append([])
            rounds[turn].append(index)
        return rounds

    def _round(
        self,
        actor: Actor,
        items: Sequence[AssessItem],
        indexes: list[int],
        prior: list[int],
        outcomes: list[CommandResult | LedgerError | None],
    ) -> None:
        """Decide each item under its stream's lock, save all, settle; conflicts one by one."""
        ledger = self.ledger
        started = time.perf_counter()
        decisions: dict[int, Decision] = {}
        conflicted: list[int] = []
        streams = sorted(record_id(items[i].license_id, items[i].skill_name) for i in indexes)
        with ExitStack() as held:
            for stream in streams:  # one order for every taker: no deadlock
                held.enter_context(ledger.stream_locks.hold(stream))
            records = self._records([items[i] for i in indexes])
            for index in indexes:
                item = items[index]
                decide = ledger.assess_decider(actor, item, prior[0])
                record = records[record_id(item.license_id, item.skill_name)]
                try:
                    decision = ledger.decide(item.license_id, item.skill_name, decide, record)
                except LedgerError as e:
                    self._refused(outcomes, index, e)
                    continue
                if decision.outcome in (Outcome.CREATED, Outcome.REPLACED):
                    prior[0] += 1  # the policy counts this session's earlier grades too
                decisions[index] = decision
            saving = [index for index, decision in decisions.items() if decision.pending]
            saved = ledger.committer.put_many([decisions[index].pending for index in saving])
            recordings = dict(zip(saving, saved, strict=True))
            seconds = time.perf_counter() - started
            for index, decision in decisions.items():
                recorded = recordings.get(index, [])
                if recorded is None:
                    conflicted.append(index)
                    continue
                result = ledger.settle(decision, recorded)
                ledger.completed(COMMAND, result, 1, seconds, line=False)
                outcomes[index] = result
        for index in conflicted:  # another process won the stream: the single command's retries
            ledger.observer.conflicted(COMMAND)
            item = items[index]
            try:
                outcomes[index] = ledger.assess(
                    actor,
                    item.license_id,
                    item.skill_name,
                    item.points_earned,
                    item.points_total,
                    item.notes,
                )
            except LedgerError as e:
                outcomes[index] = e

    def _records(self, items: list[AssessItem]) -> dict[UUID, SkillRecord]:
        """Every item's record, current, loaded in two queries instead of two per item.

        As the repository does it: a cached record is brought up to date with the events
        after its version, any other is rebuilt from its latest snapshot and the events after
        it; the cache gets the up-to-date record and the caller a copy. The caller holds the
        streams' locks; the cached object itself is never changed (a replacement is cached).
        """
        cache = self.ledger.repository.cache
        pairs = {record_id(i.license_id, i.skill_name): (i.license_id, i.skill_name) for i in items}
        cached: dict[UUID, SkillRecord] = {}
        for stream in pairs:
            try:
                if cache is not None:
                    cached[stream] = cast(SkillRecord, deepcopy(cache.get(stream)))
            except KeyError:
                continue
        missing = [stream for stream in pairs if stream not in cached]
        mapper = self.eventlog.mapper
        with self.eventlog.db.transaction(write=False) as cursor:
            snapshots = self.eventlog.latest_snapshots(cursor, missing)
            after = {stream: record.version for stream, record in cached.items()}
            after |= {s: snapshots[s].originator_version if s in snapshots else 0 for s in missing}
            events = self.eventlog.read_streams_after(cursor, after)
        records: dict[UUID, SkillRecord] = {}
        for stream, (license_id, skill_name) in pairs.items():
            snapshot = [mapper.to_domain_event(snapshots[stream])] if stream in snapshots else []
            loaded = chain(snapshot, map(self.eventlog.decode, events[stream]))
            record = cached.get(stream)
            for event in loaded:  # as project_aggregate, without its per-event protocol check
                record = event.mutate(record)
            if record is None:
                records[stream] = SkillRecord.start(license_id, skill_name)
                continue
            if cache is not None:
                cache.put(stream, record)
            records[stream] = deepcopy(record)
        return records

    def _refused(
        self, outcomes: list[CommandResult | LedgerError | None], index: int, error: LedgerError
    ) -> None:
        self.ledger.observer.rejected(COMMAND, type(error).__name__)
        outcomes[index] = error
