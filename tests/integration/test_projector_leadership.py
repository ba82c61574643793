"""On PostgreSQL one projector leads per projection; a standby takes over when the leader goes."""

from __future__ import annotations

import time
from collections.abc import Callable

from skill_ledger.database.postgres import PostgresSession
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import seed_cast


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_one_projector_leads_and_a_standby_takes_over(
    postgres_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    first = open_services(postgres_url, projection_idle_seconds=0.2)
    second = open_services(postgres_url, projection_idle_seconds=0.2)
    cast = seed_cast(first)
    first.start_projector()
    assert wait_until(lambda: first.projector.leading)
    second.start_projector()
    time.sleep(0.5)
    assert not second.projector.leading

    created = first.ledger.assess(cast.instructor, cast.license_id, "passing", 3, 10)
    assert second.projector.watch.wait_for(created.position or 0, 10.0), "standby follows progress"

    first.close()
    assert wait_until(lambda: second.projector.leading), "standby took over"
    replaced = second.ledger.assess(cast.instructor, cast.license_id, "passing", 4, 10)
    assert replaced.position is not None
    second.consistency.wait(replaced.position)  # raises NotYetVisible when it cannot
    row = second.readmodel.get(replaced.assessment_id)
    assert row is not None
    assert row.points_earned == 4


def test_the_leaders_session_and_pooled_connections_notice_a_vanished_peer(
    postgres_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(postgres_url)
    names = ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")
    show = "SELECT name, setting FROM pg_settings WHERE name IN (%s, %s, %s, 'tcp_user_timeout')"
    with services.projector.db.session() as session:
        assert isinstance(session, PostgresSession)
        server_side = dict(session.connection.execute(show, names).fetchall())
        client_side = session.connection.info.get_parameters()
    with services.db.transaction(write=False) as cursor:
        cursor.execute(show, names)
        pooled = dict(cursor.fetchall())

    # The server ends a vanished leader's session (freeing its advisory lock) within ~30 s.
    assert server_side == {
        "tcp_keepalives_idle": "10",
        "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "30000",
    }
    assert pooled == server_side
    assert client_side["keepalives"] == "1"
    assert client_side["keepalives_idle"] == "10"
    assert client_side["tcp_user_timeout"] == "30000"
