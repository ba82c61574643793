"""The console's cookies over TLS, and the API's per-address login rate on its sign-in form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from litestar.testing import TestClient

from skill_ledger.api.app import create_app
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import PASSWORD, Cast, seed_cast

SECRET = "console-secret-that-is-at-least-32-bytes"


def csrf_of(page: str) -> str:
    """The CSRF token a console form carries."""
    return page.split('name="csrf" value="')[1].partition('"')[0]


@pytest.fixture
def tls_client(
    sqlite_url: DatabaseURL, open_services: Callable[..., Services]
) -> tuple[TestClient, Cast]:
    """The app on SQLite, reached over https, with a login rate of three a minute."""
    services = open_services(sqlite_url, jwt_secret=SECRET, login_rate_per_minute=3)
    cast = seed_cast(services)
    services.start_projector()
    app = create_app(replace(services.settings), services=services)
    return TestClient(app, base_url="https://console.test"), cast


def test_over_tls_both_cookies_are_secure(tls_client: tuple[TestClient, Cast]) -> None:
    client, cast = tls_client
    with client:
        email = client.app.state.services.accounts.user(cast.admin.user_id).email
        form = client.get("/ui/login")
        assert "secure" in form.headers["set-cookie"].lower()
        signed_in = client.post(
            "/ui/login",
            data={"csrf": csrf_of(form.text), "email": email, "password": PASSWORD},
            follow_redirects=False,
        )
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"].lower()
    assert cookie.startswith("ledger_session=")
    assert "secure" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_the_sign_in_form_keeps_the_apis_rate_per_address(
    tls_client: tuple[TestClient, Cast],
) -> None:
    client, _ = tls_client
    with client:
        token = csrf_of(client.get("/ui/login").text)
        form = {"csrf": token, "email": "nobody@academy.test", "password": "wrong-password"}
        statuses = [client.post("/ui/login", data=form).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_a_console_command_hands_its_log_position_to_the_pages_that_follow(
    tls_client: tuple[TestClient, Cast],
) -> None:
    client, cast = tls_client
    with client:
        services = client.app.state.services
        answer = services.assessments.assess(cast.instructor, cast.license_id, "passing", 4, 10, "")
        email = services.accounts.user(cast.admin.user_id).email
        form = client.get("/ui/login")
        client.post(
            "/ui/login",
            data={"csrf": csrf_of(form.text), "email": email, "password": PASSWORD},
        )
        queue = client.get("/ui/queue")
        validated = client.post(
            f"/ui/queue/{answer.assessment.id}/validate",
            data={"csrf": csrf_of(queue.text)},
            follow_redirects=False,
        )
        assert validated.status_code == 303
        cookie = validated.cookies.get("ledger_position")
        with services.db.transaction(write=False) as cursor:
            head = services.eventlog.max_position(cursor)
        assert cookie == str(head)
        assert head > answer.position
        assert "path=/ui" in validated.headers["set-cookie"].lower()
        client.cookies.set("ledger_position", "not-a-number", domain="console.test")
        timeline = client.get(f"/ui/audit?license={cast.license_id}&skill=passing")
    assert timeline.status_code == 200
    assert "Validated" in timeline.text
    assert "✓ recomputed" in timeline.text
