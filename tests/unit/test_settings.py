"""Settings read from the environment: defaults in one place, clear errors for bad values."""

from __future__ import annotations

import pytest

from skill_ledger.domain import ValidationPolicy
from skill_ledger.settings import (
    PROJECTOR_SHARE,
    ConfigurationError,
    Pools,
    Settings,
    api_worker_share,
    pools_for,
)


def test_the_policy_rules_default_to_the_strict_side() -> None:
    policy = Settings.from_env({}).policy
    assert policy == ValidationPolicy()
    assert (policy.new_instructor_assessments, policy.score_jump_percent) == (10, 25.0)
    assert policy.replacing_validated
    assert policy.replacing_others


def test_each_policy_rule_is_read_from_its_variable() -> None:
    policy = Settings.from_env(
        {
            "LEDGER_POLICY_NEW_INSTRUCTOR": "3",
            "LEDGER_POLICY_SCORE_JUMP": "40",
            "LEDGER_POLICY_REPLACING_VALIDATED": "false",
            "LEDGER_POLICY_REPLACING_OTHERS": "0",
        }
    ).policy
    assert policy == ValidationPolicy(3, 40.0, replacing_validated=False, replacing_others=False)


def test_a_flag_that_is_not_true_or_false_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="LEDGER_POLICY_REPLACING_OTHERS"):
        Settings.from_env({"LEDGER_POLICY_REPLACING_OTHERS": "sometimes"})


def test_read_replicas_are_read_as_a_comma_separated_list_of_postgresql_urls() -> None:
    settings = Settings.from_env(
        {
            "LEDGER_DATABASE_URL": "postgresql://ledger@primary/ledger",
            "LEDGER_READ_DATABASE_URL": "postgresql://ledger@standby-1/ledger, "
            "postgresql://ledger@standby-2:5433/ledger",
            "LEDGER_READ_WAIT_SECONDS": "0.5",
        }
    )

    assert [(u.host, u.port) for u in settings.read_databases] == [
        ("standby-1", 5432),
        ("standby-2", 5433),
    ]
    assert settings.read_wait_seconds == 0.5


def test_read_replicas_need_a_postgresql_primary_and_postgresql_urls() -> None:
    with pytest.raises(ConfigurationError, match="needs a PostgreSQL LEDGER_DATABASE_URL"):
        Settings.from_env(
            {
                "LEDGER_DATABASE_URL": "sqlite:///var/ledger.db",
                "LEDGER_READ_DATABASE_URL": "postgresql://ledger@standby/ledger",
            }
        )
    with pytest.raises(ConfigurationError, match="PostgreSQL hot standbys"):
        Settings.from_env(
            {
                "LEDGER_DATABASE_URL": "postgresql://ledger@primary/ledger",
                "LEDGER_READ_DATABASE_URL": "sqlite:///var/replica.db",
            }
        )


def test_the_connection_budget_bounds_every_pool_of_a_deployment() -> None:
    budget = 40
    share = api_worker_share(budget, workers=2, separate_projector=True)
    workers = 2 * pools_for(share).total
    projector = pools_for(PROJECTOR_SHARE).total
    assert workers + projector <= budget
    assert pools_for(share).eventstore >= 4
    assert pools_for(budget).total <= budget


def test_the_connection_budget_is_read_once_and_pool_size_caps_each_pool() -> None:
    settings = Settings.from_env({"LEDGER_CONNECTION_BUDGET": "20", "LEDGER_POOL_SIZE": "3"})
    assert settings.connection_budget == 20
    assert settings.pools == Pools(main=3, eventstore=3, projection=2)


def test_a_budget_too_small_for_the_workers_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="LEDGER_CONNECTION_BUDGET=12"):
        api_worker_share(12, workers=2, separate_projector=True)
