"""The served OpenAPI document: valid 3.1, and per route exactly the answers the server gives.

What the routes really answer comes from the tables other modules assert over HTTP: the role
matrix (test_roles.py), the bad inputs (test_bad_input.py) and the statuses named below with
the test that asserts each. Whatever a route documents beyond those must be listed in
UNEXERCISED with its reason, so neither side can drift.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from tests.e2e.conftest import Server
from tests.e2e.test_account_roles import CALLERS as ACCOUNT_CALLERS
from tests.e2e.test_account_roles import ENDPOINTS as ACCOUNT_ENDPOINTS
from tests.e2e.test_account_roles import expected as account_expected
from tests.e2e.test_bad_input import ROWS as BAD_INPUT_ROWS
from tests.e2e.test_bad_input import UNKNOWN_UUID
from tests.e2e.test_roles import ROWS as ROLE_ROWS

PROBLEM = "application/problem+json"
LOGIN = ("POST", "/api/v1/auth/login")
ASSESS = ("POST", "/api/v1/licenses/{license_id}/skills/{skill}/assess")
SESSION = ("POST", "/api/v1/sessions/assess")
HISTORY = ("GET", "/api/v1/licenses/{license_id}/skills/{skill}/assessments")
ONE = ("GET", "/api/v1/assessments/{assessment_id}")
VALIDATE = ("POST", "/api/v1/assessments/{assessment_id}/validate")
ARCHIVE = ("POST", "/api/v1/assessments/{assessment_id}/archive")
DISPUTE = ("POST", "/api/v1/assessments/{assessment_id}/dispute")
RESOLVE = ("POST", "/api/v1/assessments/{assessment_id}/resolve")
DISPUTES = ("GET", "/api/v1/disputes")
EVENTS = ("GET", "/api/v1/licenses/{license_id}/skills/{skill}/events")
STATE = ("GET", "/api/v1/licenses/{license_id}/skills/{skill}/state")
FEED = ("GET", "/api/v1/events")
HEALTH = ("GET", "/health")
METRICS = ("GET", "/metrics")
USERS, LICENSES = "/api/v1/users", "/api/v1/licenses"
ACCOUNT_ROUTES = {
    "list_users": ("GET", USERS),
    "create_user": ("POST", USERS),
    "get_user": ("GET", f"{USERS}/{{user_id}}"),
    "deactivate": ("POST", f"{USERS}/{{user_id}}/deactivate"),
    "activate": ("POST", f"{USERS}/{{user_id}}/activate"),
    "set_role": ("POST", f"{USERS}/{{user_id}}/role"),
    "reset_password": ("POST", f"{USERS}/{{user_id}}/password"),
    "list_licenses": ("GET", LICENSES),
    "issue_license": ("POST", LICENSES),
    "get_license": ("GET", f"{LICENSES}/{{license_id}}"),
    "transfer": ("POST", f"{LICENSES}/{{license_id}}/transfer"),
}
USER_EVENTS = ("GET", f"{USERS}/{{user_id}}/events")
LICENSE_EVENTS = ("GET", f"{LICENSES}/{{license_id}}/events")
LOG_KEY = ("GET", "/api/v1/log/key")
LOG_CHECKPOINT = ("GET", "/api/v1/log/checkpoint")
INCLUSION = ("GET", "/api/v1/log/inclusion")
CONSISTENCY = ("GET", "/api/v1/log/consistency")
RECEIPT = ("GET", "/api/v1/assessments/{assessment_id}/receipt")
PUBLIC = {LOGIN, HEALTH, METRICS}
ROLE_ENDPOINTS = {
    "login": LOGIN,
    "assess": ASSESS,
    "session": SESSION,
    "history": HISTORY,
    "get_one": ONE,
    "validate": VALIDATE,
    "archive": ARCHIVE,
    "dispute": DISPUTE,
    "resolve": RESOLVE,
    "list_disputes": DISPUTES,
    "health": HEALTH,
}
# Statuses asserted over HTTP by other tests than the two tables.
ASSERTED_ELSEWHERE: dict[tuple[str, str], dict[int, str]] = {
    LOGIN: {
        429: "test_login.py::test_login_is_refused_with_429_after_the_configured_rate",
        503: "test_login_abuse.py::test_a_login_flood_is_refused_at_once_beyond_the_password…",
        413: "test_hostile_input.py::test_a_body_one_byte_over_64_kib_is_refused_with_413",
        500: "test_login.py::test_tokens_and_passwords_never_reach_the_logs",
    },
    ASSESS: {200: "test_smoke.py::test_seed_smoke_sequence_create_repeat_validate_history"},
    SESSION: {
        400: "test_sessions.py::test_an_invalid_envelope_is_refused_whole_with_400_naming_the_…",
        413: "test_sessions.py::test_more_than_200_items_or_a_body_over_1_mib_is_413",
    },
    ARCHIVE: {413: "test_hostile_input.py::test_a_body_one_byte_over_64_kib_is_refused_with_413"},
    HISTORY: {500: "test_login.py::test_tokens_and_passwords_never_reach_the_logs"},
    EVENTS: {
        200: "test_audit_api.py::test_the_events_of_a_pair_show_who_did_what_with_a_hash_chain",
        403: "test_audit_api.py::test_only_admins_and_auditors_read_the_audit_trail",
        404: "test_audit_api.py::test_only_admins_and_auditors_read_the_audit_trail",
    },
    STATE: {
        200: "test_audit_api.py::test_time_travel_by_version_and_by_time",
        400: "test_audit_api.py::test_time_travel_by_version_and_by_time",
        403: "test_audit_api.py::test_only_admins_and_auditors_read_the_audit_trail",
        404: "test_audit_api.py::test_time_travel_by_version_and_by_time",
    },
    FEED: {
        200: "test_audit_api.py::test_the_global_feed_pages_in_order_with_a_cursor",
        400: "test_audit_api.py::test_the_global_feed_pages_in_order_with_a_cursor",
        401: "test_audit_api.py::test_only_admins_and_auditors_read_the_audit_trail",
        403: "test_audit_api.py::test_only_admins_and_auditors_read_the_audit_trail",
    },
    DISPUTE: {
        400: "test_disputes.py::test_bad_disputes_and_resolutions_are_refused_as_problems",
        404: "test_disputes.py::test_bad_disputes_and_resolutions_are_refused_as_problems",
        409: "test_disputes.py::test_bad_disputes_and_resolutions_are_refused_as_problems",
    },
    RESOLVE: {
        400: "test_disputes.py::test_bad_disputes_and_resolutions_are_refused_as_problems",
        404: "test_disputes.py::test_bad_disputes_and_resolutions_are_refused_as_problems",
        409: "test_disputes.py::test_dispute_then_modify_archives_it_and_the_new_points_become…",
    },
    DISPUTES: {400: "test_disputes.py::test_the_dispute_list_pages_and_students_see_only_…"},
    HEALTH: {503: "test_operations.py::test_health_answers_503_when_its_database_is_gone"},
    METRICS: {200: "test_observability.py::test_metrics_count_commands_conflicts_and_rejections"},
    ACCOUNT_ROUTES["create_user"]: {
        400: "test_account_roles.py::test_bad_account_input_is_named_and_records_nothing",
        409: "test_account_roles.py::test_bad_account_input_is_named_and_records_nothing",
    },
    ACCOUNT_ROUTES["issue_license"]: {
        400: "test_account_roles.py::test_bad_account_input_is_named_and_records_nothing",
    },
    USER_EVENTS: {
        200: "test_account_roles.py::test_auditors_read_who_gave_a_user_which_role_and_who_…",
        403: "test_account_roles.py::test_auditors_read_who_gave_a_user_which_role_and_who_…",
        404: "test_account_roles.py::test_auditors_read_who_gave_a_user_which_role_and_who_…",
    },
    LICENSE_EVENTS: {
        200: "test_account_roles.py::test_auditors_read_who_gave_a_user_which_role_and_who_…",
    },
    LOG_KEY: {
        200: "test_log_api.py::test_a_students_receipt_checks_offline_with_the_published_key",
        403: "test_log_api.py::test_roles_log_proofs_for_admins_and_auditors_receipts_also_…",
    },
    LOG_CHECKPOINT: {
        200: "test_log_api.py::test_checkpoint_inclusion_and_consistency_for_admins_and_…",
        401: "test_log_api.py::test_roles_log_proofs_for_admins_and_auditors_receipts_also_…",
        403: "test_log_api.py::test_roles_log_proofs_for_admins_and_auditors_receipts_also_…",
    },
    INCLUSION: {
        200: "test_log_api.py::test_checkpoint_inclusion_and_consistency_for_admins_and_…",
        400: "test_log_api.py::test_sizes_beyond_the_tree_are_400_and_positions_outside_it_404",
        404: "test_log_api.py::test_sizes_beyond_the_tree_are_400_and_positions_outside_it_404",
    },
    CONSISTENCY: {
        200: "test_log_api.py::test_checkpoint_inclusion_and_consistency_for_admins_and_…",
        400: "test_log_api.py::test_sizes_beyond_the_tree_are_400_and_positions_outside_it_404",
    },
    RECEIPT: {
        200: "test_log_api.py::test_roles_log_proofs_for_admins_and_auditors_receipts_also_…",
        403: "test_log_api.py::test_roles_log_proofs_for_admins_and_auditors_receipts_also_…",
        404: "test_log_api.py::test_sizes_beyond_the_tree_are_400_and_positions_outside_it_404",
    },
}
SERVER_SIDE = {500: "a bug (logged with its traceback)", 503: "the database is unavailable"}
BODY_CHECKS = {
    413: "a body over 64 KiB (the same limit as assess, test_hostile_input.py)",
    415: "a declared non-JSON body (the same check as assess-text-plain)",
}
USER_ID_CHECKS = {400: "an out-of-range user id", 404: "an unknown user id"}
LICENSE_ID_CHECKS = {400: "an out-of-range license id", 404: "an unknown license id"}
LAST_ADMIN = "the last active admin (tests/integration/test_accounts.py)"
NO_HISTORY = "an account whose history is missing from the ledger (verify names it)"
AUDIT = "a role that may not read the audit trail (the same guard as the users' events)"
PROOFS = "a role that may not read proofs (the same guard as key and checkpoint)"
# Documented, and sent, but not asserted by the tables above: each with its reason.
UNEXERCISED: dict[tuple[str, str], dict[int, str]] = {
    LOGIN: {},
    ASSESS: {**SERVER_SIDE, 409: "concurrent writers won every retry (LEDGER_COMMAND_RETRIES)"},
    SESSION: {**SERVER_SIDE, 415: "a declared non-JSON body (the same check as assess-text-plain)"},
    HISTORY: {503: SERVER_SIDE[503]},
    ONE: {**SERVER_SIDE, 400: "a malformed X-Ledger-Position (tests/e2e/test_replicas.py)"},
    VALIDATE: SERVER_SIDE,
    ARCHIVE: {
        **SERVER_SIDE,
        409: "concurrent writers won every retry (LEDGER_COMMAND_RETRIES)",
        415: "a declared non-JSON body (the same check as assess-text-plain)",
    },
    DISPUTE: {**SERVER_SIDE, **BODY_CHECKS},
    RESOLVE: {**SERVER_SIDE, **BODY_CHECKS},
    DISPUTES: SERVER_SIDE,
    EVENTS: {**SERVER_SIDE, 400: "an out-of-range license id", 401: "no or a bad token"},
    STATE: {**SERVER_SIDE, 401: "no or a bad token"},
    FEED: SERVER_SIDE,
    HEALTH: {500: SERVER_SIDE[500]},
    METRICS: {500: SERVER_SIDE[500]},
    ACCOUNT_ROUTES["list_users"]: SERVER_SIDE,
    ACCOUNT_ROUTES["create_user"]: {**SERVER_SIDE, **BODY_CHECKS},
    ACCOUNT_ROUTES["get_user"]: {**SERVER_SIDE, **USER_ID_CHECKS},
    ACCOUNT_ROUTES["deactivate"]: {**SERVER_SIDE, **USER_ID_CHECKS, 409: LAST_ADMIN},
    ACCOUNT_ROUTES["activate"]: {**SERVER_SIDE, **USER_ID_CHECKS, 409: NO_HISTORY},
    ACCOUNT_ROUTES["set_role"]: {
        **SERVER_SIDE,
        **USER_ID_CHECKS,
        **BODY_CHECKS,
        409: LAST_ADMIN,
    },
    ACCOUNT_ROUTES["reset_password"]: {
        **SERVER_SIDE,
        **USER_ID_CHECKS,
        **BODY_CHECKS,
        409: NO_HISTORY,
    },
    ACCOUNT_ROUTES["list_licenses"]: {**SERVER_SIDE, 400: "an out-of-range holder_id query"},
    ACCOUNT_ROUTES["issue_license"]: {
        **SERVER_SIDE,
        **BODY_CHECKS,
        409: "the holder is not an active student (tests/integration/test_accounts.py)",
    },
    ACCOUNT_ROUTES["get_license"]: {**SERVER_SIDE, **LICENSE_ID_CHECKS},
    ACCOUNT_ROUTES["transfer"]: {
        **SERVER_SIDE,
        **LICENSE_ID_CHECKS,
        **BODY_CHECKS,
        409: "the new holder is not an active student (tests/integration/test_accounts.py)",
    },
    USER_EVENTS: {**SERVER_SIDE, 400: USER_ID_CHECKS[400], 401: "no or a bad token"},
    LICENSE_EVENTS: {**SERVER_SIDE, **LICENSE_ID_CHECKS, 401: "no or a bad token", 403: AUDIT},
    LOG_KEY: {**SERVER_SIDE, 401: "no or a bad token"},
    LOG_CHECKPOINT: SERVER_SIDE,
    INCLUSION: {**SERVER_SIDE, 401: "no or a bad token", 403: PROOFS},
    CONSISTENCY: {**SERVER_SIDE, 401: "no or a bad token", 403: PROOFS},
    RECEIPT: {**SERVER_SIDE, 401: "no or a bad token"},
}


@pytest.fixture(scope="module")
def document(module_server: Server) -> dict[str, Any]:
    """The OpenAPI document as the server serves it."""
    with module_server.client() as client:
        response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every documented operation by (METHOD, path template)."""
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def route_of(method: str, path: str) -> tuple[str, str]:
    """The documented route a concrete request path belongs to."""
    for template_method, template in [*UNEXERCISED]:
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)  # templates hold no other specials
        if template_method == method and re.fullmatch(pattern, path):
            return template_method, template
    raise AssertionError(f"{method} {path} matches no documented route")


def observed() -> dict[tuple[str, str], set[int]]:
    """Per route, every status the HTTP tests assert it answers."""
    seen: dict[tuple[str, str], set[int]] = {route: set() for route in UNEXERCISED}
    for row in ROLE_ROWS:
        if row.endpoint in ROLE_ENDPOINTS:
            seen[ROLE_ENDPOINTS[row.endpoint]].add(row.expected)
    for endpoint in ACCOUNT_ENDPOINTS:
        for caller in ACCOUNT_CALLERS:
            seen[ACCOUNT_ROUTES[endpoint]].add(account_expected(endpoint, caller))
    for bad in BAD_INPUT_ROWS:
        path = bad.path.format(license=1, assessment=UNKNOWN_UUID)
        seen[route_of(bad.method, path)].add(bad.expected)
    for route, statuses in ASSERTED_ELSEWHERE.items():
        seen[route] |= set(statuses)
    return seen


def test_the_served_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document["openapi"].startswith("3.1")


def test_the_bearer_scheme_is_http_bearer_and_public_routes_need_no_token(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["BearerToken"]
    assert {k: v for k, v in scheme.items() if k != "description"} == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert "security" not in document
    for route, operation in operations(document).items():
        expected = None if route in PUBLIC else [{"BearerToken": []}]
        assert operation.get("security") == expected, route


def test_every_route_documents_exactly_the_statuses_it_answers(document: dict[str, Any]) -> None:
    documented = {
        route: {int(code) for code in operation["responses"]}
        for route, operation in operations(document).items()
    }
    expected = {route: statuses | set(UNEXERCISED[route]) for route, statuses in observed().items()}
    for route in documented.keys() | expected.keys():
        assert documented.get(route) == expected.get(route), route


def test_errors_are_documented_as_problem_json_and_successes_as_they_are_sent(
    document: dict[str, Any],
) -> None:
    for route, operation in operations(document).items():
        for code, response in operation["responses"].items():
            media_types = set(response.get("content", {}))
            if route == HEALTH:
                assert media_types == ({PROBLEM} if code == "500" else {"application/json"})
            elif int(code) >= 400:
                assert media_types == {PROBLEM}, (route, code)
                schema = response["content"][PROBLEM]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (route, code)
            else:
                assert media_types == {"text/plain" if route == METRICS else "application/json"}
            assert "Validation Exception" not in str(response), (route, code)


CARRY_POSITION = {
    ("POST", "/api/v1/licenses/{license_id}/skills/{skill}/assess"),
    ("POST", "/api/v1/assessments/{assessment_id}/validate"),
    ("POST", "/api/v1/assessments/{assessment_id}/archive"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/users/{user_id}/deactivate"),
    ("POST", "/api/v1/users/{user_id}/activate"),
    ("POST", "/api/v1/users/{user_id}/role"),
    ("POST", "/api/v1/users/{user_id}/password"),
    ("POST", "/api/v1/licenses"),
    ("POST", "/api/v1/licenses/{license_id}/transfer"),
    ("POST", "/api/v1/assessments/{assessment_id}/dispute"),
    ("POST", "/api/v1/assessments/{assessment_id}/resolve"),
}


def test_refusals_document_the_headers_they_carry(document: dict[str, Any]) -> None:
    for route, operation in operations(document).items():
        for code, response in operation["responses"].items():
            headers = set(response.get("headers", {}))
            problem = PROBLEM in response.get("content", {})
            wanted = {"401": {"WWW-Authenticate"}, "429": {"Retry-After"}, "503": {"Retry-After"}}
            if problem:
                assert headers == wanted.get(code, set()), (route, code)
            elif code.startswith("2") and route in CARRY_POSITION:
                assert headers == {"X-Ledger-Position"}, (route, code)
            else:
                assert headers == set(), (route, code)
