"""The write side: commands on skill records, saved to the event store with bounded retries."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper, Recording, Transcoder
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from eventsourcing.utils import Environment, EnvType

from skill_ledger.commands import AssessItem, CommandResult, Decide, Decision
from skill_ledger.database import Breaker, DatabaseUnavailable
from skill_ledger.domain import (
    Action,
    Actor,
    AssessmentNotFound,
    ConcurrencyConflict,
    DisputeOutcome,
    LedgerError,
    LicenseNotFound,
    Modification,
    Outcome,
    Role,
    SkillRecord,
    Transition,
    UnknownSkill,
    check_points,
    check_role,
    percentage,
    record_id,
    replacement_of,
    transitions,
)
from skill_ledger.eventstore.groupcommit import GroupCommitter, StreamLocks
from skill_ledger.eventstore.transcoder import MsgspecTranscoder, TypedMapper
from skill_ledger.ports import CommandObserver, Directory, NullObserver
from skill_ledger.settings import Settings

__all__ = ["AssessItem", "CommandResult", "Decide", "Decision", "Ledger"]
log = structlog.get_logger("skill_ledger.application")

APPLICATION_NAME = "ledger"
KNOWN_CACHE_SIZE = 100_000
STORE_DEFAULTS = {
    "CREATE_TABLE": "n",  # migrations own every table
    "IS_SNAPSHOTTING_ENABLED": "y",
    "AGGREGATE_CACHE_MAXSIZE": "10000",
}


class Ledger(Application[UUID]):
    """Assessment commands: load the pair's record, decide, save; retry when another writer won."""

    name = APPLICATION_NAME

    def __init__(
        self,
        settings: Settings,
        directory: Directory,
        store: dict[str, str],
        *,
        observer: CommandObserver | None = None,
        breaker: Breaker | None = None,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.observer: CommandObserver = observer or NullObserver()
        self.breaker = breaker
        self._skills = frozenset(settings.skills)
        self._known_licenses: set[int] = set()
        self._experienced: set[int] = set()
        super().__init__(env={**STORE_DEFAULTS, **store})
        self.stream_locks = StreamLocks()
        self.committer = GroupCommitter(self.events.put, on_commit=self.observer.committed)
        if breaker is not None:
            breaker.on_recover(self.discard_broken_connections)

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only our settings configure the store: stray POSTGRES_* variables are ignored."""
        return Environment(name, dict(env or {}))

    def construct_transcoder(self) -> Transcoder:
        """msgspec JSON."""
        return MsgspecTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        """Canonical payloads in, typed events out."""
        return TypedMapper(transcoder=self.construct_transcoder())

    # -- commands -----------------------------------------------------------------------

    def assess(
        self,
        actor: Actor,
        license_id: int,
        skill_name: str,
        points_earned: int,
        points_total: int,
        notes: str = "",
    ) -> CommandResult:
        """Grade a skill on a license: created, replaced or identical."""
        with self.observed("assess"):
            return self._assess(actor, license_id, skill_name, points_earned, points_total, notes)

    def _assess(
        self,
        actor: Actor,
        license_id: int,
        skill_name: str,
        points_earned: int,
        points_total: int,
        notes: str,
    ) -> CommandResult:
        item = AssessItem(license_id, skill_name, points_earned, points_total, notes)
        self.check_assess(actor, item)
        decide = self.assess_decider(actor, item, self.prior_assessments(actor))
        return self._execute("assess", license_id, skill_name, decide)

    def check_assess(self, actor: Actor, item: AssessItem) -> None:
        """The checks before loading anything: role, points, skill, license."""
        check_role(actor.role, Action.ASSESS)
        check_points(item.points_earned, item.points_total, item.notes)
        self.check_skill(item.skill_name)
        self.check_license(item.license_id)

    def assess_decider(self, actor: Actor, item: AssessItem, prior: int) -> Decide:
        """The assess decision on a record: the policy asked, the seed's lines logged."""
        policy = self.settings.policy
        points_earned, points_total = item.points_earned, item.points_total

        def decide(record: SkillRecord) -> tuple[Outcome, UUID]:
            replaced, last = record.active, record.last_assessment
            requires = policy.requires_validation(
                actor,
                prior,
                percentage(points_earned, points_total),
                last.percentage if last else None,
                replaced,
            )
            new_id = uuid4()
            outcome = record.assess(
                actor, points_earned, points_total, item.notes, requires, new_id
            )
            if outcome is Outcome.IDENTICAL:
                assert replaced is not None
                log.info(
                    "🔒 IDEMPOTENT: Assessment with identical data already exists "
                    f"(id={replaced.id})",
                    assessment_id=str(replaced.id),
                    user=actor.user_id,
                )
                return outcome, replaced.id
            if replaced is not None:
                log.info(
                    "📝 UPDATE DETECTED: Assessment data changed "
                    f"(old: {replaced.points_earned}/{replaced.points_total}, "
                    f"new: {points_earned}/{points_total})",
                    assessment_id=str(replaced.id),
                    user=actor.user_id,
                )
            return outcome, new_id

        return decide

    def validate(self, actor: Actor, assessment_id: UUID) -> CommandResult:
        """An admin confirms an assessment someone else made."""
        with self.observed("validate"):
            license_id, skill_name = self.locate(assessment_id)
            return self._execute(
                "validate",
                license_id,
                skill_name,
                lambda record: (record.validate(actor, assessment_id), assessment_id),
            )

    def archive(self, actor: Actor, assessment_id: UUID, reason: str) -> CommandResult:
        """Take an assessment out of the active set, with a reason."""
        with self.observed("archive"):
            license_id, skill_name = self.locate(assessment_id)
            return self._execute(
                "archive",
                license_id,
                skill_name,
                lambda record: (record.archive(actor, assessment_id, reason), assessment_id),
            )

    def dispute(self, actor: Actor, assessment_id: UUID, reason: str) -> CommandResult:
        """The license's holder contests a validated assessment, with a reason."""
        with self.observed("dispute"):
            check_role(actor.role, Action.DISPUTE)
            license_id, skill_name = self.locate(assessment_id)
            holder = self.directory.license_holder(license_id)
            window = timedelta(days=self.settings.dispute_window_days)

            def decide(record: SkillRecord) -> tuple[Outcome, UUID]:
                now = datetime.now(UTC)
                outcome = record.dispute(
                    actor, assessment_id, reason, holder, window=window, now=now
                )
                return outcome, assessment_id

            return self._execute("dispute", license_id, skill_name, decide)

    def resolve(
        self,
        actor: Actor,
        assessment_id: UUID,
        outcome: DisputeOutcome,
        note: str,
        points: tuple[int, int] | None = None,
    ) -> CommandResult:
        """An admin closes a dispute: approve, reject, or modify with new points."""
        with self.observed("resolve"):
            check_role(actor.role, Action.RESOLVE)
            license_id, skill_name = self.locate(assessment_id)
            prior = self.prior_assessments(actor)
            replacement: list[UUID | None] = [None]

            def decide(record: SkillRecord) -> tuple[Outcome, UUID]:
                modification = None
                if points is not None:
                    last = record.last_assessment
                    requires = self.settings.policy.requires_validation(
                        actor, prior, percentage(*points), last.percentage if last else None
                    )
                    modification = Modification(*points, requires, uuid4())
                done = record.resolve(actor, assessment_id, outcome, note, modification)
                replacement[0] = replacement_of(record.active, record.last_archived, assessment_id)
                return done, assessment_id

            result = self._execute("resolve", license_id, skill_name, decide)
            return dataclasses.replace(result, replacement=replacement[0])

    @contextmanager
    def observed(self, command: str) -> Iterator[None]:
        """The breaker checked first, refusals counted, a store outage as DatabaseUnavailable."""
        if self.breaker is not None:
            self.breaker.check()
        try:
            yield
        except LedgerError as e:
            self.observer.rejected(command, type(e).__name__)
            raise
        except (StoreOperationalError, StoreInterfaceError) as e:
            if self.breaker is not None:
                self.breaker.failed()
            raise DatabaseUnavailable(str(e)) from e

    def discard_broken_connections(self) -> None:
        """After the database came back: drop the store's pooled connections it closed."""
        datastore = getattr(self.factory, "datastore", None)
        pool = getattr(datastore, "pool", None)
        if pool is not None and hasattr(pool, "check"):
            pool.check()

    # -- queries on the write side ---------------------------------------------------------

    def record(self, license_id: int, skill_name: str, version: int | None = None) -> SkillRecord:
        """The pair's record (at a version), empty when nothing was recorded yet."""
        try:
            found: SkillRecord = self.repository.get(
                record_id(license_id, skill_name), version=version
            )
        except AggregateNotFoundError:
            return SkillRecord.start(license_id, skill_name)
        return found

    def locate(self, assessment_id: UUID) -> tuple[int, str]:
        """The pair an assessment belongs to; AssessmentNotFound when none."""
        pair = self.directory.locate(assessment_id)
        if pair is None:
            raise AssessmentNotFound(assessment_id)
        return pair

    def check_skill(self, skill_name: str) -> None:
        """UnknownSkill unless the skill is in the catalogue."""
        if skill_name not in self._skills:
            raise UnknownSkill(skill_name)

    def check_license(self, license_id: int) -> None:
        """LicenseNotFound unless the license exists (licenses are never deleted: cache hits)."""
        if license_id in self._known_licenses:
            return
        if not self.directory.license_exists(license_id):
            raise LicenseNotFound(license_id)
        if len(self._known_licenses) >= KNOWN_CACHE_SIZE:
            self._known_licenses.clear()
        self._known_licenses.add(license_id)

    def prior_assessments(self, actor: Actor) -> int:
        """The actor's assessments so far, as far as the policy cares (the count only grows)."""
        threshold = self.settings.policy.new_instructor_assessments
        if actor.role is Role.ADMIN or actor.user_id in self._experienced:
            return threshold
        prior = self.directory.assessments_made_by(actor.user_id, at_most=threshold)
        if prior >= threshold:
            if len(self._experienced) >= KNOWN_CACHE_SIZE:
                self._experienced.clear()
            self._experienced.add(actor.user_id)
        return prior

    # -- the retry loop ---------------------------------------------------------------------

    def _execute(
        self,
        command: str,
        license_id: int,
        skill_name: str,
        decide: Decide,
    ) -> CommandResult:
        started = time.perf_counter()
        stream = record_id(license_id, skill_name)
        attempts = self.settings.command_retries
        with self.stream_locks.hold(stream):
            for attempt in range(1, attempts + 1):
                result = self._attempt(license_id, skill_name, decide)
                if result is not None:
                    break
                self.observer.conflicted(command)
                log.info(
                    "🔒 CONCURRENT CREATION DETECTED: another writer saved this stream first, "
                    "deciding again",
                    stream=str(stream),
                    command=command,
                    attempt=attempt,
                )
                # Full jitter, growing: other processes' writers to this stream spread out.
                time.sleep(random.uniform(0, min(0.5, 0.004 * 2**attempt)))  # noqa: S311
            else:
                log.warning(
                    "command_gave_up", command=command, stream=str(stream), attempts=attempts
                )
                raise ConcurrencyConflict(
                    f"{command} on license {license_id} skill {skill_name}: "
                    f"other writers won {attempts} times, try again"
                )
        self.completed(command, result, attempt, time.perf_counter() - started)
        return result

    def completed(
        self,
        command: str,
        result: CommandResult,
        attempts: int,
        seconds: float,
        *,
        line: bool = True,
    ) -> None:
        """Count the command and (unless a session sums it up) log its closing line."""
        self.observer.completed(command, result.outcome.value, seconds)
        if not line:
            return
        log.info(
            "lock_released",
            pipeline="skill_assessment",
            command=command,
            outcome=result.outcome.value,
            stream=str(record_id(result.license_id, result.skill_name)),
            attempts=attempts,
            duration_ms=round(seconds * 1000, 2),
        )

    def _attempt(self, license_id: int, skill_name: str, decide: Decide) -> CommandResult | None:
        """Load, decide, save once; None when another writer saved the stream first."""
        decision = self.decide(license_id, skill_name, decide)
        recordings: list[Recording[UUID]] = []
        if decision.pending:
            try:
                recordings = self.committer.put(decision.pending)
            except IntegrityError:
                return None
        return self.settle(decision, recordings)

    def decide(
        self,
        license_id: int,
        skill_name: str,
        decide: Decide,
        record: SkillRecord | None = None,
    ) -> Decision:
        """Load the pair's record (unless given, current) and decide, under the stream's lock
        that the caller holds."""
        record = record or self.record(license_id, skill_name)
        before = {row.id: row for row in record.rows()}
        outcome, assessment_id = decide(record)
        pending = list(record.collect_events())
        # Before the commit: a surprise fails early.
        changes = transitions(before, pending) if pending else []
        return Decision(record, outcome, assessment_id, pending, changes)

    def settle(self, decision: Decision, recordings: list[Recording[UUID]]) -> CommandResult:
        """After the events were saved: log the transitions, maybe snapshot, the result."""
        record, position = decision.record, None
        if decision.pending:
            self._log_transitions(decision.changes)
            self._maybe_snapshot(record, decision.pending)
            position = recordings[-1].notification.id if recordings else None
        found = record.find(decision.assessment_id)
        return CommandResult(
            decision.outcome,
            decision.assessment_id,
            found,
            position,
            record.license_id,
            record.skill_name,
        )

    def _maybe_snapshot(self, record: SkillRecord, events: list[Any]) -> None:
        """Snapshot the record when its events crossed a multiple of the interval (best effort)."""
        interval = self.settings.snapshot_interval
        first, last = events[0].originator_version, events[-1].originator_version
        if self.snapshots is None or (first - 1) // interval == last // interval:
            return
        try:
            self.snapshots.put([SkillRecord.Snapshot.take(record)])
        except Exception as e:  # the events are committed; a snapshot only saves replay time
            self.observer.snapshot_failed()
            log.warning(
                "snapshot_failed",
                stream=str(record.id),
                version=record.version,
                error=str(e).splitlines()[0] if str(e) else type(e).__name__,
            )

    @staticmethod
    def _log_transitions(changes: list[Transition]) -> None:
        for change in changes:
            suffix = f" ({change.reason})" if change.reason else ""
            log.info(
                f"✅ STATE TRANSITION: Assessment {change.assessment_id}: "
                f"{change.before.value} → {change.after.value}{suffix} (user={change.actor})",
                assessment_id=str(change.assessment_id),
                from_status=change.before.value,
                to_status=change.after.value,
                user=change.actor,
                role=change.role,
                reason=change.reason or None,
            )
