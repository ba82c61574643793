"""Check a `ledger audit export` JSONL file, and optionally a checkpoint: stdlib only."""

import hashlib
import json
import sys

GENESIS = "0" * 64


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def verify(export_path: str, checkpoint_path: str | None = None) -> list[str]:
    mark = json.load(open(checkpoint_path)) if checkpoint_path else None
    tips, digest, digested, last, problems = {}, GENESIS, 0, 0, []
    for line in open(export_path, encoding="utf-8"):
        e = json.loads(line)
        where = f"stream {e['stream']} version {e['version']} position {e['position']}"
        version, prev = tips.get(e["stream"], (0, GENESIS))
        if e["position"] <= last:
            problems.append(f"{where}: position does not increase")
        if e["version"] != version + 1:
            problems.append(f"{where}: expected version {version + 1} of this stream")
        elif e["prev_hash"] != prev:
            problems.append(f"{where}: prev_hash is not the hash of version {version}")
        keys = ("payload", "prev_hash", "stream", "type", "version")
        if sha256(canonical({k: e[k] for k in keys})) != e["hash"]:
            problems.append(f"{where}: hash does not match the event's content")
        if mark and e["position"] <= mark["position"]:
            digest, digested = sha256(f"{digest}:{e['position']}:{e['hash']}"), digested + 1
        last, tips[e["stream"]] = e["position"], (e["version"], e["hash"])
    if mark and (digest, digested) != (mark["digest"], mark["events"]):
        problems.append(f"checkpoint at position {mark['position']}: digest or count differs")
    return problems


if __name__ == "__main__":
    found = verify(*sys.argv[1:3])
    print("\n".join(found) or "OK: every chain and the checkpoint verify")
    sys.exit(1 if found else 0)
