"""Operators' view: metrics move with commands; each log line of a request carries its id."""

from __future__ import annotations

import re
import socket
import time

from tests.e2e.conftest import Server


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one series in a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", re.MULTILINE)
    for found in pattern.finditer(text):
        if all(part in (found.group(1) or "") for part in wanted.split(",") if part):
            return float(found.group(2))
    return 0.0


def test_metrics_count_commands_conflicts_and_rejections(server: Server) -> None:
    assess = "/api/v1/licenses/1/skills/shooting/assess"
    with server.client() as client:
        before = client.get("/metrics").text
        client.post(
            assess,
            json={"points_earned": 5, "points_total": 10},
            headers=server.headers("instructor"),
        )
        client.post(
            assess,
            json={"points_earned": 5, "points_total": 10},
            headers=server.headers("instructor"),
        )
        client.post(
            assess,
            json={"points_earned": 6, "points_total": 10},
            headers=server.headers("instructor"),
        )
        client.post(
            "/api/v1/licenses/9999/skills/shooting/assess",
            json={"points_earned": 1, "points_total": 10},
            headers=server.headers("instructor"),
        )
        after = client.get("/metrics")
    text = after.text
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    for outcome in ("created", "identical", "replaced"):
        grew = metric(text, "ledger_commands_total", command="assess", outcome=outcome) - metric(
            before, "ledger_commands_total", command="assess", outcome=outcome
        )
        assert grew == 1, outcome
    assert metric(text, "ledger_commands_rejected_total", reason="LicenseNotFound") >= 1
    assert metric(text, "ledger_command_duration_seconds_count", command="assess") >= 3
    assert metric(text, "ledger_projection_lag_events") == 0
    assert metric(text, "ledger_event_log_head") >= 3
    assert metric(text, "ledger_validation_backlog") >= 1
    assert 'path="/api/v1/licenses/{license_id}/skills/{skill}/assess"' in text
    assert 'path="/api/v1/licenses/1/skills' not in text, "route templates keep cardinality bounded"


def test_request_ids_are_echoed_and_bound_to_every_log_line(server: Server) -> None:
    with server.client() as client:
        response = client.post(
            "/api/v1/licenses/1/skills/heading/assess",
            json={"points_earned": 4, "points_total": 10},
            headers={**server.headers("instructor"), "X-Request-ID": "req-observability-1"},
        )
        generated = client.get("/health")
    assert response.headers["x-request-id"] == "req-observability-1"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    lines = [line for line in server.logs().splitlines() if "req-observability-1" in line]
    assert any("STATE TRANSITION" in line for line in lines)
    assert any("lock_released" in line for line in lines)
    assert any("request" in line and "201" in line for line in lines)


def test_a_request_the_client_abandons_is_logged_as_499_at_info_and_counts_no_server_error(
    server: Server,
) -> None:
    path = "/api/v1/licenses/1/skills/passing/assess"
    with server.client() as client:
        before = client.get("/metrics").text
    host, port = server.base_url.removeprefix("http://").split(":")
    log_before = len(server.logs())
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {server.token('instructor')}\r\n"
            "Content-Type: application/json\r\nContent-Length: 500\r\n"
            "X-Request-ID: req-abandoned-1\r\n\r\n"
            '{"points_earned": '.encode()
        )
    deadline = time.monotonic() + 10
    lines: list[str] = []
    while time.monotonic() < deadline and not any("status=" in line for line in lines):
        time.sleep(0.05)
        lines = [
            line for line in server.logs()[log_before:].splitlines() if "req-abandoned-1" in line
        ]
    assert any("request" in line and "status=499" in line for line in lines), lines
    assert not any("error" in line.split("req-abandoned-1")[0].lower() for line in lines), lines
    assert "client disconnected" not in server.logs()[log_before:]
    with server.client() as client:
        after = client.get("/metrics").text
    series = (
        'ledger_http_requests_total{app_name="ledger",method="POST",'
        'path="/api/v1/licenses/{license_id}/skills/{skill}/assess",status_code="%s"}'
    )
    assert series % 499 + " 1.0" in after.splitlines()
    assert series % 500 not in after

    def server_errors(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("ledger_http_requests_error")]

    assert server_errors(after) == server_errors(before)
