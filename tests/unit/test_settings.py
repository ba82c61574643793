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
