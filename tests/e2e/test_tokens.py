"""Bearer tokens over real HTTP: issuer and audience checked, a few seconds of clock skew, HS256.

tests/e2e/test_roles.py refuses the malformed, forged, expired, unsigned (alg none) tokens and
those of unknown or deactivated users; this module covers the claims each token must carry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from skill_ledger.accounts import Accounts
from skill_ledger.settings import DatabaseURL
from tests.e2e.conftest import AUDIENCE, DEMO, ISSUER, SECRET, Server

READ = "/api/v1/licenses/1/skills/passing/assessments"


def claims(user_id: int, **changes: Any) -> dict[str, Any]:
    """The claims the server issues, for this user, with some changed (None removes one)."""
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + timedelta(hours=1),
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def read_with(server: Server, token: str) -> int:
    """The status of an authenticated read with this token."""
    with server.client() as client:
        return client.get(READ, headers={"Authorization": f"Bearer {token}"}).status_code


@pytest.fixture(scope="module")
def instructor_id(module_accounts: Accounts) -> int:
    """The demo instructor's user id."""
    user = module_accounts.find_user(DEMO["instructor"][0])
    assert user is not None
    return user.id


def test_issued_tokens_name_the_ledger_as_issuer_and_audience(module_server: Server) -> None:
    token = module_server.login(*DEMO["auditor"])
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert decoded["iss"] == ISSUER
    assert decoded["aud"] == AUDIENCE
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert read_with(module_server, token) == 200


SKEWED = {
    "issued-2s-ahead": (dict(iat=timedelta(seconds=2)), 200),
    "issued-4s-ahead": (dict(iat=timedelta(seconds=4)), 200),
    "expired-2s-ago": (dict(exp=timedelta(seconds=-2)), 200),
    "issued-60s-ahead": (dict(iat=timedelta(seconds=60)), 401),
    "expired-60s-ago": (dict(exp=timedelta(seconds=-60)), 401),
}


@pytest.mark.parametrize(("offsets", "expected"), SKEWED.values(), ids=SKEWED.keys())
def test_a_few_seconds_of_clock_skew_are_tolerated_and_no_more(
    module_server: Server, instructor_id: int, offsets: dict[str, timedelta], expected: int
) -> None:
    now = datetime.now(UTC)
    moments = {claim: now + offset for claim, offset in offsets.items()}
    token = jwt.encode(claims(instructor_id, **moments), SECRET, algorithm="HS256")
    assert read_with(module_server, token) == expected


WRONG_CLAIMS = {
    "other-issuer": dict(iss="someone-else"),
    "other-audience": dict(aud="another-api"),
    "audience-list-with-ours": dict(aud=[AUDIENCE, "another-api"]),
    "no-issuer": dict(iss=None),
    "no-audience": dict(aud=None),
    "no-issued-at": dict(iat=None),
}


@pytest.mark.parametrize("changes", WRONG_CLAIMS.values(), ids=WRONG_CLAIMS.keys())
def test_a_token_with_a_wrong_or_missing_claim_is_refused(
    module_server: Server, instructor_id: int, changes: dict[str, Any]
) -> None:
    token = jwt.encode(claims(instructor_id, **changes), SECRET, algorithm="HS256")
    assert read_with(module_server, token) == 401


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_only_hs256_is_accepted_even_with_the_right_secret(
    module_server: Server, instructor_id: int, algorithm: str
) -> None:
    token = jwt.encode(claims(instructor_id), SECRET, algorithm=algorithm)
    assert read_with(module_server, token) == 401
    assert read_with(module_server, jwt.encode(claims(instructor_id), SECRET, "HS256")) == 200


def test_another_deployment_sharing_the_secret_refuses_this_ones_tokens(
    module_server: Server, postgres_url: DatabaseURL, launch: Callable[..., Server]
) -> None:
    staging = launch(postgres_url, {"LEDGER_JWT_AUDIENCE": "staging-ledger-api"})
    production_token = module_server.login(*DEMO["instructor"])
    staging_token = staging.login(*DEMO["instructor"])

    assert read_with(staging, production_token) == 401
    assert read_with(module_server, staging_token) == 401
    assert read_with(staging, staging_token) == 200
