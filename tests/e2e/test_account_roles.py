"""The account endpoints over real HTTP: every endpoint × every caller, with exact status codes,
the lifecycle an admin drives (deactivate, role, password, transfer) as users feel it, and
schemathesis as an admin (on a server of its own: its commands deactivate anyone).

As in test_roles.py, each row gets fresh targets (a user, a license) made through the code, so
rows never depend on one another and share one server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from skill_ledger.accounts import Accounts
from skill_ledger.database import Database
from skill_ledger.domain import Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import DEMO, Server, event_count, fresh_server
from tests.e2e.test_hostile_input import EXCLUDED_CHECKS, FUZZ_EXAMPLES, FUZZ_SEED
from tests.e2e.test_roles import add_user, mint

ENDPOINTS = (
    "list_users",
    "create_user",
    "get_user",
    "deactivate",
    "activate",
    "set_role",
    "reset_password",
    "list_licenses",
    "issue_license",
    "get_license",
    "transfer",
)
COMMANDS = frozenset(
    {
        "create_user",
        "deactivate",
        "activate",
        "set_role",
        "reset_password",
        "issue_license",
        "transfer",
    }
)
CREATED = frozenset({"create_user", "issue_license"})
ROLES = ("admin", "instructor", "student", "auditor")
BAD_TOKENS = ("no_token", "expired_token")  # every kind of bad token: tests/e2e/test_roles.py
CALLERS = (*ROLES, *BAD_TOKENS)


def expected(endpoint: str, caller: str) -> int:
    """Admins may do everything; other roles get 403; no valid token 401."""
    if caller in BAD_TOKENS:
        return 401
    if caller != "admin":
        return 403
    return 201 if endpoint in CREATED else 200


MATRIX = [(endpoint, caller) for endpoint in ENDPOINTS for caller in CALLERS]


@dataclass
class World:
    """The module's server, its database and every caller's header."""

    server: Server
    db: Database
    accounts: Accounts
    headers: dict[str, dict[str, str]]

    def user(self, role: Role = Role.INSTRUCTOR, *, active: bool = True) -> int:
        user_id, _ = add_user(self.accounts, role, f"target-{role.value}")
        if not active:
            self.accounts.deactivate(user_id)
        return user_id

    def license(self) -> int:
        return self.accounts.add_license(DEMO["student"][0])

    def call(self, method: str, path: str, caller: str = "admin", **kwargs: Any) -> httpx.Response:
        with self.server.client() as client:
            return client.request(method, path, headers=self.headers[caller], **kwargs)


@pytest.fixture(scope="module")
def module_server(
    postgres_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The module's server, token checks uncached: a revocation counts for the next request."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with fresh_server(postgres_template, log, {"LEDGER_AUTH_CACHE_SECONDS": "0"}) as server:
        yield server


@pytest.fixture(scope="module")
def world(module_server: Server, module_db: Database, module_accounts: Accounts) -> World:
    """The demo roles' tokens and the kinds of bad token."""
    headers = {
        role: {"Authorization": f"Bearer {module_server.login(*DEMO[role])}"} for role in ROLES
    }
    instructor = module_accounts.find_user(DEMO["instructor"][0])
    assert instructor is not None
    headers |= {
        "no_token": {},
        "expired_token": {
            "Authorization": f"Bearer {mint(instructor.id, expires_in=timedelta(minutes=-10))}"
        },
    }
    return World(module_server, module_db, module_accounts, headers)


def request_for(world: World, endpoint: str) -> tuple[str, str, dict[str, Any]]:
    """The row's request (method, path, body) on fresh targets."""
    requests: dict[str, Callable[[], tuple[str, str, dict[str, Any]]]] = {
        "list_users": lambda: ("GET", "/api/v1/users", {}),
        "create_user": lambda: (
            "POST",
            "/api/v1/users",
            {
                "json": {
                    "email": f"new-{uuid.uuid4().hex[:8]}@academy.test",
                    "name": "New Coach",
                    "role": "instructor",
                    "password": PASSWORD,
                }
            },
        ),
        "get_user": lambda: ("GET", f"/api/v1/users/{world.user()}", {}),
        "deactivate": lambda: ("POST", f"/api/v1/users/{world.user()}/deactivate", {}),
        "activate": lambda: ("POST", f"/api/v1/users/{world.user(active=False)}/activate", {}),
        "set_role": lambda: (
            "POST",
            f"/api/v1/users/{world.user()}/role",
            {"json": {"role": "auditor"}},
        ),
        "reset_password": lambda: (
            "POST",
            f"/api/v1/users/{world.user()}/password",
            {"json": {"password": "another long password"}},
        ),
        "list_licenses": lambda: ("GET", "/api/v1/licenses", {}),
        "issue_license": lambda: (
            "POST",
            "/api/v1/licenses",
            {"json": {"holder_id": world.user(Role.STUDENT)}},
        ),
        "get_license": lambda: ("GET", f"/api/v1/licenses/{world.license()}", {}),
        "transfer": lambda: (
            "POST",
            f"/api/v1/licenses/{world.license()}/transfer",
            {"json": {"holder_id": world.user(Role.STUDENT)}},
        ),
    }
    return requests[endpoint]()


@pytest.mark.parametrize(
    ("endpoint", "caller"), MATRIX, ids=[f"{e}-by-{c}-{expected(e, c)}" for e, c in MATRIX]
)
def test_account_role_matrix(world: World, endpoint: str, caller: str) -> None:
    method, path, body = request_for(world, endpoint)
    events_before = event_count(world.db)

    response = world.call(method, path, caller, **body)

    status = expected(endpoint, caller)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if status < 300 and endpoint in COMMANDS:
        assert response.json()["changed"] is True
        assert "password" not in response.text
    recorded = event_count(world.db) - events_before
    if endpoint in COMMANDS and status < 300:
        assert recorded == 1, "an allowed account command records its event"
    else:
        assert recorded == 0, f"a refused command or a query recorded {recorded} events"


def test_the_matrix_covers_every_account_endpoint_for_every_caller() -> None:
    assert len(MATRIX) == len(ENDPOINTS) * len(CALLERS) == 66


HISTORY = "/api/v1/licenses/1/skills/passing/assessments"


def test_a_deactivated_user_is_refused_and_their_old_tokens_stay_dead_after_reactivation(
    world: World,
) -> None:
    user_id, email = add_user(world.accounts, Role.INSTRUCTOR, "leaver")
    token = {"Authorization": f"Bearer {world.server.login(email, PASSWORD)}"}
    with world.server.client() as client:
        assert client.get(HISTORY, headers=token).is_success

        time.sleep(1.0)  # tokens carry whole seconds: revoke in a later second than the login
        gone = client.post(f"/api/v1/users/{user_id}/deactivate", headers=world.headers["admin"])
        refused = client.get(HISTORY, headers=token)
        login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        back = client.post(f"/api/v1/users/{user_id}/activate", headers=world.headers["admin"])
        old = client.get(HISTORY, headers=token)
        fresh = {"Authorization": f"Bearer {world.server.login(email, PASSWORD)}"}
        new = client.get(HISTORY, headers=fresh)

    assert (gone.json()["user"]["active"], refused.status_code, login.status_code) == (
        False,
        401,
        401,
    )
    assert (back.json()["user"]["active"], old.status_code, new.status_code) == (True, 401, 200)


def test_an_admin_cannot_deactivate_or_demote_themselves(world: World) -> None:
    admin = world.accounts.find_user(DEMO["admin"][0])
    assert admin is not None
    own = world.call("POST", f"/api/v1/users/{admin.id}/deactivate")
    demoted = world.call("POST", f"/api/v1/users/{admin.id}/role", json={"role": "student"})
    assert (own.status_code, demoted.status_code) == (403, 403)
    assert "their own account" in own.json()["detail"]


def test_a_password_reset_replaces_the_password_and_ends_the_sessions_before_it(
    world: World,
) -> None:
    user_id, email = add_user(world.accounts, Role.AUDITOR, "forgetful")
    stolen = {"Authorization": f"Bearer {world.server.login(email, PASSWORD)}"}
    time.sleep(1.0)  # tokens carry whole seconds: reset in a later second than the login
    reset = world.call("POST", f"/api/v1/users/{user_id}/password", json={"password": "n3w pass!"})
    with world.server.client() as client:
        old = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        new = client.post("/api/v1/auth/login", json={"email": email, "password": "n3w pass!"})
        session = client.get(HISTORY, headers=stolen)
    assert (reset.status_code, old.status_code, new.status_code) == (200, 401, 200)
    assert session.status_code == 401


def test_a_transfer_hands_the_license_and_its_history_to_the_new_holder(world: World) -> None:
    license_id = world.license()
    with world.server.client() as client:
        made = client.post(
            f"/api/v1/licenses/{license_id}/skills/passing/assess",
            json={"points_earned": 8, "points_total": 10},
            headers=world.headers["instructor"],
        )
    student_id, email = add_user(world.accounts, Role.STUDENT, "heir")
    heir = {"Authorization": f"Bearer {world.server.login(email, PASSWORD)}"}
    history = f"/api/v1/licenses/{license_id}/skills/passing/assessments"
    with world.server.client() as client:
        before = client.get(history, headers=heir)
        moved = client.post(
            f"/api/v1/licenses/{license_id}/transfer",
            json={"holder_id": student_id},
            headers=world.headers["admin"],
        )
        after = client.get(history, headers=heir)
        previous = client.get(history, headers=world.headers["student"])

    assert (before.status_code, moved.status_code, after.status_code) == (403, 200, 200)
    assert moved.json()["license"]["holder_id"] == student_id
    assert [item["id"] for item in after.json()] == [made.json()["assessment"]["id"]]
    assert previous.status_code == 403


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/api/v1/users", {"email": "x@academy.test", "name": "X", "role": "coach"}, 400, "role"),
        (
            "/api/v1/users",
            {"email": "x@academy.test", "name": "X", "role": "student", "password": "short"},
            400,
            "password",
        ),
        (
            "/api/v1/users",
            {
                "email": DEMO["student"][0].upper(),
                "name": "X",
                "role": "student",
                "password": PASSWORD,
            },
            409,
            None,
        ),
        ("/api/v1/licenses", {"holder_id": 1, "extra": True}, 400, "extra"),
        ("/api/v1/licenses", {"holder_id": 10**9}, 400, "holder_id"),
    ],
    ids=["unknown-role", "short-password", "email-taken", "unknown-field", "unknown-holder"],
)
def test_bad_account_input_is_named_and_records_nothing(
    world: World, path: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    events_before = event_count(world.db)
    response = world.call("POST", path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json().get("field") == field
    assert event_count(world.db) == events_before


@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/licenses"])
def test_options_lists_every_method_of_a_shared_path(world: World, path: str) -> None:
    with world.server.client() as client:
        response = client.options(path)
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, OPTIONS, POST"


def test_every_account_route_documents_its_problems(world: World) -> None:
    with world.server.client() as client:
        paths = client.get("/schema/openapi.json").json()["paths"]
    account_paths = {p: ops for p, ops in paths.items() if p.startswith("/api/v1/users")}
    account_paths |= {p: ops for p, ops in paths.items() if p.startswith("/api/v1/licenses")}
    operations = [
        operation
        for path, operations in account_paths.items()
        if "/skills/" not in path and not path.endswith("/events")
        for operation in operations.values()
    ]
    assert len(operations) == len(ENDPOINTS)
    for operation in operations:
        assert operation["tags"] == ["accounts"]
        for status in ("401", "403", "500", "503"):
            assert "application/problem+json" in operation["responses"][status]["content"]


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch_in_account_routes(
    server: Server, tmp_path: Path
) -> None:
    """On a server of its own: an admin's fuzzed commands deactivate and re-password anyone."""
    config = tmp_path / "schemathesis.toml"
    config.write_text('[cache]\nenabled = false\n[generation]\ndatabase = "none"\n')
    report = tmp_path / "report.json"
    auth = ["-H", f"Authorization: Bearer {server.token('admin')}"]
    seed = [] if FUZZ_SEED == "random" else ["--seed", FUZZ_SEED]
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "--config-file",
            str(config),
            "run",
            f"{server.base_url}/schema/openapi.json",
            *auth,
            *seed,
            "--include-tag",
            "accounts",
            "--max-examples",
            str(FUZZ_EXAMPLES),
            "--checks",
            "all",
            "--exclude-checks",
            EXCLUDED_CHECKS,
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert report.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(report.read_text())
    assert result["failures"] == [], run.stdout[-6000:]
    assert result["errors"] == [], run.stdout[-6000:]
    assert result["operations"]["tested"] == result["operations"]["selected"] == len(ENDPOINTS)
    assert "unhandled_error" not in server.logs()


def test_auditors_read_who_gave_a_user_which_role_and_who_held_a_license(world: World) -> None:
    user_id = world.user(Role.INSTRUCTOR)
    world.call("POST", f"/api/v1/users/{user_id}/role", json={"role": "auditor"})
    admin = world.accounts.find_user(DEMO["admin"][0])
    assert admin is not None
    license_id = world.license()

    history = world.call("GET", f"/api/v1/users/{user_id}/events", "auditor")
    held = world.call("GET", f"/api/v1/licenses/{license_id}/events", "admin")
    refused = world.call("GET", f"/api/v1/users/{user_id}/events", "instructor")
    unknown = world.call("GET", "/api/v1/users/999999/events", "auditor")

    assert [(e["type"], e["actor"], e["role"]) for e in history.json()] == [
        ("Registered", None, "operator"),
        ("RoleChanged", admin.id, "admin"),
    ]
    assert history.json()[1]["payload"]["role"] == "auditor"
    assert history.json()[1]["prev_hash"] == history.json()[0]["hash"]
    assert [e["type"] for e in held.json()] == ["Issued"]
    assert (refused.status_code, unknown.status_code) == (403, 404)
