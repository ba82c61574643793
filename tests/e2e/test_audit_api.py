"""Auditors over HTTP: a pair's events with their hash chain, time travel, and the global feed."""

from __future__ import annotations

import itertools
import time

from skill_ledger.domain import GENESIS_HASH
from tests.e2e.conftest import DEMO_EVENTS, Server

PAIR = "/api/v1/licenses/1/skills/dribbling"


def build_history(server: Server) -> list[dict[str, object]]:
    """Create, replace, validate: five events on one pair; returns the command answers."""
    answers = []
    with server.client() as client:
        for points in (4, 6):
            answers.append(
                client.post(
                    f"{PAIR}/assess",
                    json={"points_earned": points, "points_total": 10},
                    headers=server.headers("instructor"),
                ).json()
            )
            time.sleep(0.01)
        latest = answers[-1]["assessment"]["id"]  # type: ignore[index]
        answers.append(
            client.post(
                f"/api/v1/assessments/{latest}/validate", headers=server.headers("admin")
            ).json()
        )
    return answers


def test_the_events_of_a_pair_show_who_did_what_with_a_hash_chain(server: Server) -> None:
    build_history(server)
    with server.client() as client:
        response = client.get(f"{PAIR}/events", headers=server.headers("auditor"))
    events = response.json()
    assert response.status_code == 200
    assert [e["type"] for e in events] == ["Assessed", "Archived", "Assessed", "Validated"]
    assert [e["version"] for e in events] == [1, 2, 3, 4]
    assert events[0]["prev_hash"] == GENESIS_HASH
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))
    assert events[1]["payload"]["reason"] == "Replaced by new"
    assert events[2]["payload"]["replaces"] == events[1]["payload"]["assessment_id"]
    assert events[3]["role"] == "admin"
    assert all(e["time"].endswith("Z") for e in events)


def test_time_travel_by_version_and_by_time(server: Server) -> None:
    answers = build_history(server)
    first_id = answers[0]["assessment"]["id"]  # type: ignore[index]
    with server.client() as client:
        events = client.get(f"{PAIR}/events", headers=server.headers("admin")).json()
        at_one = client.get(
            f"{PAIR}/state", params={"version": 1}, headers=server.headers("auditor")
        )
        at_time = client.get(
            f"{PAIR}/state", params={"as_of": events[1]["time"]}, headers=server.headers("auditor")
        )
        now = client.get(f"{PAIR}/state", headers=server.headers("auditor"))
        too_far = client.get(
            f"{PAIR}/state", params={"version": 99}, headers=server.headers("auditor")
        )
        both = client.get(
            f"{PAIR}/state",
            params={"version": 1, "as_of": events[0]["time"]},
            headers=server.headers("auditor"),
        )
        naive = client.get(
            f"{PAIR}/state",
            params={"as_of": "2026-01-01T00:00:00"},
            headers=server.headers("auditor"),
        )

    assert at_one.status_code == 200
    assert at_one.json()["version"] == 1
    assert [(a["id"], a["status"]) for a in at_one.json()["assessments"]] == [
        (first_id, "ASSESSED")
    ]
    assert at_time.json()["version"] == 2
    assert at_time.json()["active"] is None
    assert now.json()["version"] == 4
    assert now.json()["active"]["status"] == "VALIDATED"
    assert too_far.status_code == 404
    assert both.status_code == 400
    assert naive.status_code == 400
    assert naive.json()["field"] == "as_of"


def test_the_global_feed_pages_in_order_with_a_cursor(server: Server) -> None:
    build_history(server)
    seen: list[int] = []
    after = 0
    with server.client() as client:
        while True:
            page = client.get(
                "/api/v1/events",
                params={"after": after, "limit": 2},
                headers=server.headers("auditor"),
            ).json()
            seen += [event["position"] for event in page["events"]]
            after = page["next_after"]
            if not page["has_more"]:
                break
        bad = client.get("/api/v1/events", params={"limit": 0}, headers=server.headers("auditor"))
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 4 + DEMO_EVENTS  # the demo accounts' events too
    assert bad.status_code == 400


def test_only_admins_and_auditors_read_the_audit_trail(server: Server) -> None:
    with server.client() as client:
        codes = {
            role: (
                client.get(f"{PAIR}/events", headers=server.headers(role)).status_code,
                client.get(f"{PAIR}/state", headers=server.headers(role)).status_code,
                client.get("/api/v1/events", headers=server.headers(role)).status_code,
            )
            for role in ("admin", "auditor", "instructor", "student")
        }
        anonymous = client.get("/api/v1/events").status_code
        unknown = client.get(
            "/api/v1/licenses/999/skills/dribbling/events", headers=server.headers("auditor")
        ).status_code
    assert codes == {
        "admin": (200, 200, 200),
        "auditor": (200, 200, 200),
        "instructor": (403, 403, 403),
        "student": (403, 403, 403),
    }
    assert anonymous == 401
    assert unknown == 404
