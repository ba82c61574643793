"""Verified token payloads are remembered per process, and a remembered token still expires."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from litestar.exceptions import NotAuthorizedException

from skill_ledger.api.auth import CLOCK_SKEW_SECONDS, LedgerToken

SECRET = "unit-secret-that-is-at-least-32-bytes-long"


def token(exp: datetime, secret: str = SECRET) -> str:
    now = datetime.now(UTC)
    claims = {"sub": "7", "iat": now - timedelta(seconds=30), "exp": exp, "iss": "i", "aud": "a"}
    return jwt.encode(claims, secret, algorithm="HS256")


def decode(encoded: str, secret: str = SECRET) -> LedgerToken:
    return LedgerToken.decode(encoded, secret, "HS256", audience=["a"], issuer=["i"])


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    # Expired just inside the clock-skew leeway: accepted now, refused a moment later.
    expires = datetime.now(UTC) - timedelta(seconds=CLOCK_SKEW_SECONDS - 1.5)
    encoded = token(expires)
    assert decode(encoded).sub == "7"
    time.sleep(2.5)
    with pytest.raises(NotAuthorizedException):
        decode(encoded)


def test_a_remembered_token_is_checked_again_against_another_secret() -> None:
    encoded = token(datetime.now(UTC) + timedelta(hours=1))
    assert decode(encoded).sub == "7"
    with pytest.raises(NotAuthorizedException):
        decode(encoded, secret="another-secret-that-is-at-least-32-bytes")
