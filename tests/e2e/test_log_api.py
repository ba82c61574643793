"""Receipts and proofs over HTTP against a real `ledger serve`: roles, problems, OpenAPI, the
stand-alone check, and the production start-up refusal without a signing key."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from skill_ledger.domain.merkle import verify_consistency, verify_inclusion
from skill_ledger.settings import DatabaseURL
from tests.e2e.conftest import SECRET, Server, ledger_executable

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAIR = "/api/v1/licenses/1/skills/shooting"


def decode(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def assess(server: Server, points: int) -> dict[str, Any]:
    with server.client() as client:
        answer = client.post(
            f"{PAIR}/assess",
            json={"points_earned": points, "points_total": 10},
            headers=server.headers("instructor"),
        )
    assert answer.status_code in (200, 201), answer.text
    result: dict[str, Any] = answer.json()["assessment"]
    return result


def get(server: Server, role: str, path: str, **params: Any) -> Any:
    with server.client() as client:
        return client.get(path, params=params, headers=server.headers(role))


def test_a_students_receipt_checks_offline_with_the_published_key(
    module_server: Server, tmp_path: Path
) -> None:
    assessment = assess(module_server, 7)
    key = get(module_server, "auditor", "/api/v1/log/key")
    assert key.status_code == 200
    response = get(module_server, "student", f"/api/v1/assessments/{assessment['id']}/receipt")
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert receipt["key_id"] == key.json()["key_id"]
    assert [e["event"]["payload"]["assessment_id"] for e in receipt["events"]] == [assessment["id"]]
    (tmp_path / "receipt.json").write_text(response.text)
    script, saved = str(DOCS / "verify_receipt.py"), str(tmp_path / "receipt.json")
    checked = subprocess.run(
        [sys.executable, script, "receipt", saved, "--key", key.json()["vkey"]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout
    assert f"throwaway key (development only), {key.json()['vkey']}" in module_server.logs()


def test_checkpoint_inclusion_and_consistency_for_admins_and_auditors(
    module_server: Server,
) -> None:
    first = get(module_server, "admin", "/api/v1/log/checkpoint").json()
    assess(module_server, 3)
    created = assess(module_server, 8)
    receipt = get(module_server, "admin", f"/api/v1/assessments/{created['id']}/receipt").json()
    later = get(module_server, "auditor", "/api/v1/log/checkpoint").json()
    assert later["tree_size"] >= receipt["tree_size"] > first["tree_size"]
    assert later["note"].startswith(f"{later['origin']}\n{later['tree_size']}\n")

    position = receipt["events"][-1]["event"]["position"]
    proof = get(module_server, "auditor", "/api/v1/log/inclusion", position=position).json()
    assert proof["tree_size"] == later["tree_size"]
    verify_inclusion(
        proof["leaf_index"],
        proof["tree_size"],
        base64.b64decode(proof["leaf_hash"]),
        decode(proof["inclusion_proof"]),
        base64.b64decode(later["root_hash"]),
    )
    step = get(
        module_server,
        "admin",
        "/api/v1/log/consistency",
        **{"from": first["tree_size"] or 1, "to": later["tree_size"]},
    ).json()
    verify_consistency(
        step["from"],
        step["to"],
        base64.b64decode(step["from_root"]),
        base64.b64decode(later["root_hash"]),
        decode(step["consistency_proof"]),
    )


def test_sizes_beyond_the_tree_are_400_and_positions_outside_it_404(
    module_server: Server,
) -> None:
    assess(module_server, 5)
    size = get(module_server, "admin", "/api/v1/log/checkpoint").json()["tree_size"]
    beyond = get(module_server, "admin", "/api/v1/log/inclusion", position=1, tree_size=10**9)
    absent = get(module_server, "admin", "/api/v1/log/inclusion", position=10**12)
    backwards = get(module_server, "admin", "/api/v1/log/consistency", **{"from": size, "to": 1})
    zero = get(module_server, "admin", "/api/v1/log/inclusion", position=0)
    unknown = get(
        module_server, "admin", "/api/v1/assessments/00000000-0000-4000-8000-000000000000/receipt"
    )
    assert (beyond.status_code, beyond.json()["field"]) == (400, "tree_size")
    assert "beyond the tree" in beyond.json()["detail"]
    assert absent.status_code == 404
    assert backwards.status_code == 400
    assert zero.status_code == 400
    assert unknown.status_code == 404
    for answer in (beyond, absent, backwards, zero, unknown):
        assert answer.headers["content-type"] == "application/problem+json"


def test_roles_log_proofs_for_admins_and_auditors_receipts_also_for_the_holder(
    module_server: Server,
) -> None:
    assessment = assess(module_server, 6)
    receipt = f"/api/v1/assessments/{assessment['id']}/receipt"
    for role in ("instructor", "student"):
        for path in ("/api/v1/log/key", "/api/v1/log/checkpoint"):
            assert get(module_server, role, path).status_code == 403
    assert get(module_server, "instructor", receipt).status_code == 403
    for role in ("admin", "auditor", "student"):
        assert get(module_server, role, receipt).status_code == 200
    with module_server.client() as client:
        assert client.get("/api/v1/log/checkpoint").status_code == 401


def test_the_openapi_document_lists_the_proof_routes(module_server: Server) -> None:
    with module_server.client() as client:
        paths = client.get("/schema/openapi.json").json()["paths"]
    for path in (
        "/api/v1/log/checkpoint",
        "/api/v1/log/key",
        "/api/v1/log/inclusion",
        "/api/v1/log/consistency",
        "/api/v1/assessments/{assessment_id}/receipt",
    ):
        assert "get" in paths[path], path
    parameters = {p["name"] for p in paths["/api/v1/log/consistency"]["get"]["parameters"]}
    assert {"from", "to"} <= parameters


def test_production_without_a_signing_key_refuses_to_start(postgres_url: DatabaseURL) -> None:
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": postgres_url.url(),
        "LEDGER_ENV": "production",
        "LEDGER_JWT_SECRET": SECRET,
    }
    env.pop("LEDGER_SIGNING_KEY_FILE", None)
    result = subprocess.run(
        [ledger_executable(), "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "LEDGER_SIGNING_KEY_FILE" in result.stderr
    assert "ledger audit keygen" in " ".join(result.stderr.split())
