"""The role matrix over real HTTP: every endpoint × every caller, with exact status codes.

Callers are the four demo roles, a second instructor, a student holding another license, and
seven ways of presenting no valid token. Each row gets its own fresh license (held by the demo
student) and, where it needs one, a fresh assessment made by the demo instructor, so rows never
depend on one another and share one server.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from skill_ledger.accounts import Accounts
from skill_ledger.database import Database
from skill_ledger.domain import Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import AUDIENCE, DEMO, ISSUER, SECRET, Server, event_count

ENDPOINTS = (
    "login",
    "assess",
    "session",
    "history",
    "get_one",
    "validate",
    "archive",
    "dispute",
    "resolve",
    "list_disputes",
    "health",
    "openapi",
)
ROLES = ("admin", "instructor", "other_instructor", "student", "other_student", "auditor")
BAD_TOKENS = (
    "no_token",
    "malformed_token",
    "wrong_signature",
    "expired_token",
    "alg_none_token",
    "deactivated_user",
    "unknown_user",
)
COMMANDS = ("assess", "session", "validate", "archive", "dispute", "resolve")
TARGETED = ("history", "get_one", "validate", "archive", "dispute", "resolve")
# dispute targets an assessment made by the instructor and validated by a third admin (the
# "validator"); resolve one the student has disputed too, so the demo admin may resolve it.
VALIDATED_FIRST = ("dispute", "resolve")
OTHER_SECRET = "another-secret-of-at-least-32-bytes-long"

# "student" holds the license every row targets; "other_student" holds a different one.
# "other_instructor" did not make the assessment the row targets (the demo instructor did).
ROLE_CODES = {
    # endpoint   admin instructor other_instructor student other_student auditor
    "login": (200, 200, 200, 200, 200, 200),
    "assess": (201, 201, 201, 403, 403, 403),
    "session": (200, 200, 200, 403, 403, 403),
    "history": (200, 200, 200, 200, 403, 200),
    "get_one": (200, 200, 200, 200, 403, 200),
    "validate": (200, 403, 403, 403, 403, 403),
    "archive": (200, 200, 403, 403, 403, 403),
    "dispute": (403, 403, 403, 200, 403, 403),
    "resolve": (200, 403, 403, 403, 403, 403),
    "list_disputes": (200, 403, 403, 200, 200, 200),
    "health": (200, 200, 200, 200, 200, 200),
    "openapi": (200, 200, 200, 200, 200, 200),
}
# Public routes ignore the Authorization header. Login sends the caller's own credentials, so
# the deactivated user is refused there too; the other token callers log in as the instructor.
TOKEN_CODES = {
    # endpoint   none malformed wrong_sig expired alg_none deactivated unknown_user
    "login": (200, 200, 200, 200, 200, 401, 200),
    "assess": (401, 401, 401, 401, 401, 401, 401),
    "session": (401, 401, 401, 401, 401, 401, 401),
    "history": (401, 401, 401, 401, 401, 401, 401),
    "get_one": (401, 401, 401, 401, 401, 401, 401),
    "validate": (401, 401, 401, 401, 401, 401, 401),
    "archive": (401, 401, 401, 401, 401, 401, 401),
    "dispute": (401, 401, 401, 401, 401, 401, 401),
    "resolve": (401, 401, 401, 401, 401, 401, 401),
    "list_disputes": (401, 401, 401, 401, 401, 401, 401),
    "health": (200, 200, 200, 200, 200, 200, 200),
    "openapi": (200, 200, 200, 200, 200, 200, 200),
}


@dataclass(frozen=True)
class Row:
    """One request of the matrix and the status it must get."""

    endpoint: str
    caller: str
    expected: int
    assessed_by: str = "instructor"
    detail: str | None = None

    @property
    def id(self) -> str:
        """Readable test id."""
        whose = ""
        if self.endpoint in TARGETED and self.assessed_by == self.caller:
            whose = "-own-assessment"
        elif self.endpoint in TARGETED and self.assessed_by != "instructor":
            whose = f"-assessment-of-{self.assessed_by}"
        return f"{self.endpoint}-by-{self.caller}{whose}-{self.expected}"


MATRIX = [
    *(
        Row(endpoint, caller, code)
        for endpoint, codes in ROLE_CODES.items()
        for caller, code in zip(ROLES, codes, strict=True)
    ),
    *(
        Row(endpoint, caller, code)
        for endpoint, codes in TOKEN_CODES.items()
        for caller, code in zip(BAD_TOKENS, codes, strict=True)
    ),
]
EXTRA = [
    # Four eyes: the admin is allowed to validate, but not an assessment they made themselves.
    Row("validate", "admin", 403, assessed_by="admin", detail="cannot validate their own"),
    # The other instructor's 403 above is about ownership: their own assessment they archive.
    Row("archive", "other_instructor", 200, assessed_by="other_instructor"),
    # Four eyes on disputes: an admin who made the disputed assessment cannot resolve it.
    Row("resolve", "admin", 403, assessed_by="admin", detail="neither assessed nor validated"),
]
ROWS = MATRIX + EXTRA


def mint(
    user_id: int,
    *,
    secret: str = SECRET,
    expires_in: timedelta = timedelta(hours=1),
    algorithm: str = "HS256",
) -> str:
    """A token shaped like the server's, signed as asked."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + expires_in,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return jwt.encode(claims, secret, algorithm=algorithm)


def unsigned(user_id: int) -> str:
    """An `alg: none` token: a valid header and claims, and no signature at all."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": str(user_id), "iat": now, "exp": now + 3600, "iss": ISSUER, "aud": AUDIENCE}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@dataclass
class World:
    """The module's server, its database and every caller's credentials and header."""

    server: Server
    db: Database
    accounts: Accounts
    headers: dict[str, dict[str, str]]
    credentials: dict[str, tuple[str, str]]

    def fresh_license(self) -> int:
        """A new license held by the demo student."""
        return self.accounts.add_license(DEMO["student"][0])

    def disputable_on(self, license_id: int, by: str, *, disputed: bool) -> str:
        """A new assessment made by this caller, validated by the validator admin, and disputed
        by the demo student when asked; its id."""
        assessment_id = self.assessment_on(license_id, by)
        steps = [("validator", "validate", None)]
        if disputed:
            steps.append(("student", "dispute", {"reason": "not the drill we agreed"}))
        with self.server.client() as client:
            for caller, command, body in steps:
                response = client.post(
                    f"/api/v1/assessments/{assessment_id}/{command}",
                    json=body,
                    headers=self.headers[caller],
                )
                assert response.status_code == 200, response.text
        return assessment_id

    def assessment_on(self, license_id: int, by: str) -> str:
        """A new ASSESSED assessment on the license, made by this caller; its id."""
        with self.server.client() as client:
            response = client.post(
                f"/api/v1/licenses/{license_id}/skills/dribbling/assess",
                json={"points_earned": 6, "points_total": 10},
                headers=self.headers[by],
            )
        assert response.status_code == 201, response.text
        assessment_id: str = response.json()["assessment"]["id"]
        return assessment_id


def add_user(accounts: Accounts, role: Role, label: str) -> tuple[int, str]:
    """A user with a random email and the shared test password; (id, email)."""
    email = f"{label}-{uuid.uuid4().hex[:8]}@academy.test"
    return accounts.add_user(email, label, role, PASSWORD).id, email


@pytest.fixture(scope="module")
def world(module_server: Server, module_db: Database, module_accounts: Accounts) -> World:
    """Demo users, a second instructor and student, and the seven kinds of bad token."""
    server, accounts = module_server, module_accounts
    credentials = {role: DEMO[role] for role in ("admin", "instructor", "student", "auditor")}
    _, other_instructor = add_user(accounts, Role.INSTRUCTOR, "other-instructor")
    _, other_student = add_user(accounts, Role.STUDENT, "other-student")
    accounts.add_license(other_student)
    _, validator = add_user(accounts, Role.ADMIN, "validator")
    gone_id, gone = add_user(accounts, Role.INSTRUCTOR, "deactivated")
    credentials |= {
        "other_instructor": (other_instructor, PASSWORD),
        "other_student": (other_student, PASSWORD),
        "validator": (validator, PASSWORD),
        "deactivated_user": (gone, PASSWORD),
    }
    headers = {
        caller: {"Authorization": f"Bearer {server.login(*credentials[caller])}"}
        for caller in credentials
    }
    with server.client() as client:
        before = client.get(
            "/api/v1/licenses/1/skills/passing/assessments", headers=headers["deactivated_user"]
        )
    assert before.status_code == 200, "the deactivated user's token must have worked before"
    accounts.set_active(gone_id, False)
    time.sleep(1.2)  # deactivation takes effect within LEDGER_AUTH_CACHE_SECONDS (1 s)

    instructor = accounts.find_user(DEMO["instructor"][0])
    assert instructor is not None
    headers |= {
        "no_token": {},
        "malformed_token": {"Authorization": "Bearer garbage"},
        "wrong_signature": {"Authorization": f"Bearer {mint(instructor.id, secret=OTHER_SECRET)}"},
        "expired_token": {
            "Authorization": f"Bearer {mint(instructor.id, expires_in=timedelta(minutes=-10))}"
        },
        "alg_none_token": {"Authorization": f"Bearer {unsigned(instructor.id)}"},
        "unknown_user": {"Authorization": f"Bearer {mint(10**6)}"},
    }
    for caller in BAD_TOKENS:
        credentials.setdefault(caller, DEMO["instructor"])
    return World(server, module_db, accounts, headers, credentials)


def prepare(world: World, row: Row) -> tuple[int, str | None]:
    """A fresh license for the row and, when the endpoint needs one, an assessment on it."""
    license_id = world.fresh_license()
    if row.endpoint in VALIDATED_FIRST:
        disputed = row.endpoint == "resolve"
        return license_id, world.disputable_on(license_id, row.assessed_by, disputed=disputed)
    if row.endpoint in TARGETED:
        return license_id, world.assessment_on(license_id, row.assessed_by)
    return license_id, None


def send(world: World, row: Row, license_id: int, target: str | None) -> httpx.Response:
    """The row's request, as its caller."""
    headers = world.headers[row.caller]
    requests: dict[str, Callable[[httpx.Client], httpx.Response]] = {
        "login": lambda c: c.post(
            "/api/v1/auth/login",
            json=dict(zip(("email", "password"), world.credentials[row.caller], strict=True)),
            headers=headers,
        ),
        "assess": lambda c: c.post(
            f"/api/v1/licenses/{license_id}/skills/ball_control/assess",
            json={"points_earned": 7, "points_total": 10},
            headers=headers,
        ),
        "session": lambda c: c.post(
            "/api/v1/sessions/assess",
            json={
                "items": [
                    {"license_id": license_id, "skill": s, "points_earned": 7, "points_total": 10}
                    for s in ("ball_control", "passing")
                ]
            },
            headers=headers,
        ),
        "history": lambda c: c.get(
            f"/api/v1/licenses/{license_id}/skills/dribbling/assessments", headers=headers
        ),
        "get_one": lambda c: c.get(f"/api/v1/assessments/{target}", headers=headers),
        "validate": lambda c: c.post(f"/api/v1/assessments/{target}/validate", headers=headers),
        "archive": lambda c: c.post(
            f"/api/v1/assessments/{target}/archive", json={"reason": "matrix"}, headers=headers
        ),
        "dispute": lambda c: c.post(
            f"/api/v1/assessments/{target}/dispute", json={"reason": "matrix"}, headers=headers
        ),
        "resolve": lambda c: c.post(
            f"/api/v1/assessments/{target}/resolve",
            json={"outcome": "approve", "note": "matrix"},
            headers=headers,
        ),
        "list_disputes": lambda c: c.get("/api/v1/disputes", headers=headers),
        "health": lambda c: c.get("/health", headers=headers),
        "openapi": lambda c: c.get("/schema/openapi.json", headers=headers),
    }
    with world.server.client() as client:
        return requests[row.endpoint](client)


def check_allowed_answer(row: Row, response: httpx.Response, target: str | None) -> None:
    """A 2xx carries what the endpoint promises."""
    body = response.json()
    if row.endpoint == "login":
        assert body["token_type"] == "bearer"
        assert body["access_token"]
    elif row.endpoint == "assess":
        assert body["created"] is True
        assert body["assessment"]["status"] == "ASSESSED"
    elif row.endpoint == "session":
        assert [r["status"] for r in body["results"]] == [201, 201]
        assert {r["assessment"]["status"] for r in body["results"]} == {"ASSESSED"}
    elif row.endpoint == "history":
        assert [item["id"] for item in body] == [target]
    elif row.endpoint == "get_one":
        assert body["id"] == target
    elif row.endpoint == "validate":
        assert body["assessment"]["status"] == "VALIDATED"
    elif row.endpoint == "archive":
        assert body["assessment"]["status"] == "ARCHIVED"
        assert body["assessment"]["archived_reason"] == "matrix"
    elif row.endpoint == "dispute":
        assert body["assessment"]["status"] == "DISPUTED"
        assert body["assessment"]["dispute_reason"] == "matrix"
    elif row.endpoint == "resolve":
        assert body["assessment"]["status"] == "ASSESSED"
        assert body["assessment"]["dispute_outcome"] == "approve"
        assert body["replacement"] is None
    elif row.endpoint == "list_disputes":
        assert isinstance(body["disputes"], list)
    elif row.endpoint == "health":
        assert body["status"] == "healthy"
        assert body["projector"]["lag_events"] >= 0
    else:
        assert body["openapi"].startswith("3.1")


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_role_matrix(world: World, row: Row) -> None:
    license_id, target = prepare(world, row)
    events_before = event_count(world.db)
    response = send(world, row, license_id, target)

    assert response.status_code == row.expected, response.text
    if row.expected >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == row.expected
        assert response.json()["detail"]
    if row.expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if row.detail is not None:
        assert row.detail in response.json()["detail"]
    if row.expected < 300:
        check_allowed_answer(row, response, target)
    recorded = event_count(world.db) - events_before
    if row.endpoint in COMMANDS and row.expected < 300:
        assert recorded > 0, "an allowed command records events"
    else:
        assert recorded == 0, f"a refused command or a query recorded {recorded} events"


def test_the_matrix_covers_every_endpoint_for_every_caller() -> None:
    pairs = {(row.endpoint, row.caller) for row in MATRIX}
    assert pairs == {(e, c) for e in ENDPOINTS for c in (*ROLES, *BAD_TOKENS)}
    assert len(MATRIX) == len(ENDPOINTS) * (len(ROLES) + len(BAD_TOKENS)) == 156
    assert len(ROWS) == 159


def test_a_token_minted_with_the_server_secret_is_accepted(world: World) -> None:
    """The bad-token rows fail for their one defect: minted with the right secret, it works."""
    instructor = world.accounts.find_user(DEMO["instructor"][0])
    assert instructor is not None
    with world.server.client() as client:
        response = client.get(
            "/api/v1/licenses/1/skills/passing/assessments",
            headers={"Authorization": f"Bearer {mint(instructor.id)}"},
        )
    assert response.status_code == 200, response.text
