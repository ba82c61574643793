"""No command is answered before the read table shows it; a stalled projector is loud."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from skill_ledger.assessments import Answer
from skill_ledger.domain import Assessment, Outcome, Status
from skill_ledger.readside.consistency import NotYetVisible
from skill_ledger.readside.table import TABLE
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import seed_cast

LONG_WAIT = 60.0  # a timeout would answer NotYetVisible without a stall: never reached here


class Answered:
    """A use case run in a thread: its answer (or error), and the read table as it answered."""

    def __init__(self, services: Services, command: Callable[[], Answer]) -> None:
        self.answer: Answer | None = None
        self.error: Exception | None = None
        self.row_when_answered: Assessment | None = None
        self._thread = threading.Thread(target=self._run, args=(services, command))
        self._thread.start()

    def _run(self, services: Services, command: Callable[[], Answer]) -> None:
        try:
            self.answer = command()
        except Exception as e:
            self.error = e
            return
        self.row_when_answered = services.readmodel.get(self.answer.result.assessment_id)

    def still_waiting_after(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return self._thread.is_alive()

    def result(self) -> Answer:
        self._thread.join(LONG_WAIT)
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer


def test_an_identical_assess_answers_only_once_the_read_table_shows_the_assessment(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url, projection_wait_seconds=LONG_WAIT)
    cast = seed_cast(services)
    first = services.ledger.assess(cast.instructor, cast.license_id, "passing", 7, 10)

    again = Answered(
        services,
        lambda: services.assessments.assess(cast.instructor, cast.license_id, "passing", 7, 10, ""),
    )
    waiting = again.still_waiting_after(0.3)
    services.start_projector()
    answer = again.result()

    assert waiting, "an identical outcome must wait for the stream's last event"
    assert answer.result.outcome is Outcome.IDENTICAL
    assert answer.result.assessment_id == first.assessment_id
    assert again.row_when_answered is not None
    assert again.row_when_answered.id == first.assessment_id


def test_validate_and_archive_find_an_assessment_recorded_but_not_yet_projected(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url, projection_wait_seconds=LONG_WAIT)
    cast = seed_cast(services)
    passing = services.ledger.assess(cast.instructor, cast.license_id, "passing", 7, 10)
    heading = services.ledger.assess(cast.instructor, cast.license_id, "heading", 4, 10)

    validated = Answered(
        services, lambda: services.assessments.validate(cast.admin, passing.assessment_id)
    )
    archived = Answered(
        services,
        lambda: services.assessments.archive(cast.instructor, heading.assessment_id, "redo"),
    )
    validated.still_waiting_after(0.3)
    services.start_projector()

    assert validated.result().assessment.status is Status.VALIDATED
    assert archived.result().assessment.status is Status.ARCHIVED
    assert validated.row_when_answered is not None
    assert validated.row_when_answered.status is Status.VALIDATED
    assert archived.row_when_answered is not None
    assert archived.row_when_answered.status is Status.ARCHIVED


def test_a_command_the_read_side_cannot_show_in_time_is_not_answered_as_done(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url, projection_wait_seconds=0.3)
    cast = seed_cast(services)

    with pytest.raises(NotYetVisible) as caught:
        services.assessments.assess(cast.instructor, cast.license_id, "passing", 7, 10, "")

    assert caught.value.stall is None
    assert caught.value.retry_after >= 1
    assert services.ledger.record(cast.license_id, "passing").version == 1, "it was recorded"
    services.start_projector()
    again = services.assessments.assess(cast.instructor, cast.license_id, "passing", 7, 10, "")
    assert again.result.outcome is Outcome.IDENTICAL, "the retry is safe"


def delete_row(services: Services, assessment_id: Any) -> None:
    """What an operator's stray DELETE does to the read table."""
    with services.db.transaction() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", (assessment_id,))


def test_a_projection_failure_stalls_loudly_and_never_fails_a_recorded_command(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url, projection_wait_seconds=LONG_WAIT)
    services.start_projector()
    cast = seed_cast(services)
    first = services.assessments.assess(cast.instructor, cast.license_id, "passing", 3, 10, "")
    delete_row(services, first.result.assessment_id)

    with pytest.raises(NotYetVisible) as replacing:
        services.assessments.assess(cast.instructor, cast.license_id, "passing", 4, 10, "")
    with pytest.raises(NotYetVisible) as elsewhere:
        services.assessments.assess(cast.instructor, cast.license_id, "heading", 5, 10, "")
    status = services.projector.status()

    stall = replacing.value.stall
    assert stall is not None
    assert services.ledger.record(cast.license_id, "passing").version == 3, "both events saved"
    assert stall.position == first.result.position + 1  # the Archived of the replacement
    assert "Archived version 2 of stream" in stall.reason
    assert elsewhere.value.stall == stall, "while stalled, commands are refused at once"
    assert status.stall == stall
    assert status.position == first.result.position

    services.projector.rebuild()
    assert services.projector.status().stall is None
    answer = services.assessments.assess(cast.instructor, cast.license_id, "heading", 6, 10, "")
    assert answer.result.outcome is Outcome.REPLACED
    assert services.readmodel.get(answer.result.assessment_id) is not None


def test_a_process_without_a_projector_learns_the_stall_from_the_tracking_row(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    api = open_services(database_url, projection_wait_seconds=LONG_WAIT)
    projector = open_services(database_url)
    api.start_follower()
    projector.start_projector()
    cast = seed_cast(api)
    first = api.assessments.assess(cast.instructor, cast.license_id, "passing", 3, 10, "")
    delete_row(api, first.result.assessment_id)

    with pytest.raises(NotYetVisible) as caught:
        api.assessments.assess(cast.instructor, cast.license_id, "passing", 4, 10, "")

    assert caught.value.stall is not None
    assert caught.value.stall.position == first.result.position + 1
    assert api.projector.stall == caught.value.stall
