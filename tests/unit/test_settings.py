"""Settings read from the environment: defaults in one place, clear errors for bad values."""

from __future__ import annotations

import pytest

from skill_ledger.domain import ValidationPolicy
from skill_ledger.settings import ConfigurationError, Settings


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
