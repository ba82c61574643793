"""Each event is declared once; every reader of the store derives from that declaration."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from skill_ledger.audit.records import ACTOR_FIELDS, EVENT_TYPES
from skill_ledger.domain import (
    ACCOUNT_EVENTS,
    EVENT_CLASSES,
    RECORD_EVENTS,
    LicenseRow,
    RowEffect,
    SkillRecord,
    Status,
    TableEffect,
    UserAccount,
    UserRow,
)
from skill_ledger.domain.assessment import TIMESTAMP
from skill_ledger.eventstore.transcoder import EVENTS_BY_TOPIC, MsgspecTranscoder, TypedMapper
from skill_ledger.readside.rebuild import RowFold, UnfoldableEvent, payload_type
from skill_ledger.readside.table import MUTABLE


def field_names(event_class: type[Any]) -> set[str]:
    return {field.name for field in dataclasses.fields(event_class)}


@pytest.mark.parametrize("event_class", EVENT_CLASSES)
def test_every_event_is_known_to_every_reader_by_its_stored_topic(event_class: type[Any]) -> None:
    assert EVENTS_BY_TOPIC[event_class.TOPIC] is event_class
    assert f"skill_ledger.domain:{event_class.__qualname__}" == event_class.TOPIC
    assert EVENT_TYPES[event_class.TOPIC] == event_class.__name__
    assert ACTOR_FIELDS[event_class.__name__] == event_class.effect.actor
    assert event_class.effect.actor in field_names(event_class)


@pytest.mark.parametrize("event_class", RECORD_EVENTS)
def test_every_row_effect_is_decoded_by_the_bulk_rebuild(event_class: type[Any]) -> None:
    assert set(payload_type(event_class).__struct_fields__) <= field_names(event_class)


@pytest.mark.parametrize("event_class", ACCOUNT_EVENTS)
def test_every_account_effect_reads_fields_its_event_has(event_class: type[Any]) -> None:
    effect: TableEffect = event_class.effect
    assert {effect.key, effect.actor, *effect.columns.values()} <= field_names(event_class)
    assert effect.row in (UserRow, LicenseRow)


def test_every_stored_event_is_a_record_or_an_account_event_and_none_is_skipped() -> None:
    assert set(EVENT_CLASSES) == set(RECORD_EVENTS) | set(ACCOUNT_EVENTS)
    assert len({cls.__name__ for cls in EVENT_CLASSES}) == len(EVENT_CLASSES)


def test_an_account_event_without_a_table_effect_is_refused_when_declared() -> None:
    with pytest.raises(TypeError, match="TableEffect"):

        class Forgotten(UserAccount.Event):
            TOPIC = "tests:ForgottenAccount"
            effect = RowEffect(Status.VALIDATED, actor="validated_by")


def test_a_table_effect_on_a_column_the_row_lacks_is_refused() -> None:
    with pytest.raises(TypeError, match="password_hash"):
        TableEffect(UserRow, key="user_id", actor="x", columns={"password_hash": "secret"})


@pytest.mark.parametrize("event_class", RECORD_EVENTS)
def test_every_effect_reads_fields_its_event_has(event_class: type[Any]) -> None:
    effect: RowEffect = event_class.effect
    sources = set(effect.columns.values()) | {effect.actor}
    assert sources - {TIMESTAMP} <= field_names(event_class)
    if not effect.creates:
        assert set(effect.columns) <= set(MUTABLE)


def test_an_event_without_a_row_effect_is_refused_when_declared() -> None:
    with pytest.raises(TypeError, match="RowEffect"):

        class Forgotten(SkillRecord.Event):
            TOPIC = "tests:Forgotten"


def test_an_event_without_its_own_topic_is_refused_when_declared() -> None:
    with pytest.raises(TypeError, match="TOPIC"):

        class Nameless(SkillRecord.Event):
            effect = RowEffect(Status.VALIDATED, actor="validated_by")


def test_an_effect_on_a_column_the_row_lacks_is_refused() -> None:
    with pytest.raises(TypeError, match="not_a_column"):
        RowEffect(Status.VALIDATED, actor="validated_by", columns={"not_a_column": "x"})


def test_the_rebuild_passes_over_account_events_but_refuses_an_unknown_type() -> None:
    fold = RowFold(TypedMapper(transcoder=MsgspecTranscoder()))
    fold.apply_all([(1, UserAccount.Registered.TOPIC, b"{}")])
    assert fold.take_active() == []


def test_the_rebuild_refuses_an_event_type_it_does_not_know_instead_of_skipping_it() -> None:
    fold = RowFold(TypedMapper(transcoder=MsgspecTranscoder()))
    with pytest.raises(UnfoldableEvent, match=r"position 7 .*not an event type of this ledger"):
        fold.apply_all([(7, "elsewhere:Renamed", b"{}")])
