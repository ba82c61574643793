"""Check a skill-ledger receipt, or the consistency of two saved checkpoints, offline.

Needs Python 3.10+ and the `cryptography` package (Ed25519), nothing of the ledger's code:

    python3 verify_receipt.py receipt RECEIPT.json --key VKEY
    python3 verify_receipt.py consistency OLD.note NEW.note PROOF.json --key VKEY

VKEY is the log's verifier key (`name+keyid+base64`, as `GET /api/v1/log/key` and the KEY.pub
of `ledger audit keygen` give it), or a file holding it: get it from the academy, not from the
receipt. PROOF.json is the answer of `GET /api/v1/log/consistency?from=OLD_SIZE&to=NEW_SIZE`.
Exit 0 when everything verifies, 1 with the reasons otherwise. docs/audit.md §10 specifies it.
"""

import base64
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def sha256(data):
    return hashlib.sha256(data).digest()


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def node(left, right):
    return sha256(b"\x01" + left + right)


def read_key(text):
    """(name, key id, public key) of a signed-note Ed25519 verifier key."""
    if os.path.isfile(text):
        text = open(text, encoding="utf-8").read()
    name, key_id, material = text.strip().split("+", 2)
    raw = base64.b64decode(material, validate=True)
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("not an Ed25519 verifier key")
    expected = sha256(name.encode() + b"\n" + raw)[:4].hex()
    if expected != key_id.lower():
        raise ValueError(f"key id {key_id} does not match the key ({expected})")
    return name, bytes.fromhex(key_id), raw[1:]


def open_checkpoint(note, key):
    """(tree size, root hash) of a checkpoint whose origin is the key's name, signed by it."""
    name, key_id, public = key
    text, _, signatures = note[:-1].rpartition("\n\n")
    text += "\n"
    verified = False
    for line in signatures.split("\n"):
        dash, signer, signature = line.split(" ")
        raw = base64.b64decode(signature, validate=True)
        if dash != "\u2014" or signer != name or raw[:4] != key_id:
            continue  # another key's signature (a witness): ignored
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text.encode())
        except InvalidSignature:
            raise ValueError("the checkpoint's signature does not verify") from None
        verified = True
    origin, size, root = text.split("\n")[:3]
    if not verified or origin != name:
        raise ValueError(f"the checkpoint is not signed by {name}")
    return int(size), base64.b64decode(root, validate=True)


def inclusion_root(index, size, leaf, proof):
    """RFC 9162 §2.1.3.2: the root an inclusion proof leads to."""
    if index >= size:
        raise ValueError("leaf index beyond the tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("inclusion proof too short")
    return r


def consistent(old, new, old_root, new_root, proof):
    """RFC 9162 §2.1.4.2: the tree of `old` leaves is a prefix of the tree of `new`."""
    if old == new:
        return not proof and old_root == new_root
    if old == 0 or old > new:
        return old == 0 and not proof
    path = ([old_root] if old & (old - 1) == 0 else []) + list(proof)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


def verify_receipt(receipt, key):
    problems = []
    size, root = open_checkpoint(receipt["checkpoint"], key)
    for entry in receipt["events"]:
        e = entry["event"]
        where = f"position {e['position']} ({e['type']} v{e['version']})"
        document = {k: e[k] for k in ("payload", "prev_hash", "stream", "type", "version")}
        if sha256(canonical(document)).hex() != e["hash"]:
            problems.append(f"{where}: the payload does not hash to the event's chain hash")
        keys = ("hash", "position", "stream", "type", "version")
        leaf = sha256(b"\x00" + canonical({k: e[k] for k in keys}))
        if base64.b64encode(leaf).decode() != entry["leaf_hash"]:
            problems.append(f"{where}: the leaf hash is not the hash of the event's leaf")
        proof = [base64.b64decode(h, validate=True) for h in entry["inclusion_proof"]]
        try:
            if inclusion_root(entry["leaf_index"], size, leaf, proof) != root:
                problems.append(f"{where}: not included in the signed tree of size {size}")
        except ValueError as error:
            problems.append(f"{where}: {error}")
    return problems


def verify_consistency(old_note, new_note, answer, key):
    old_size, old_root = open_checkpoint(old_note, key)
    new_size, new_root = open_checkpoint(new_note, key)
    if (answer["from"], answer["to"]) != (old_size, new_size):
        return [f"the proof is from {answer['from']} to {answer['to']}, not {old_size} to {new_size}"]
    proof = [base64.b64decode(h, validate=True) for h in answer["consistency_proof"]]
    if not consistent(old_size, new_size, old_root, new_root, proof):
        return [f"the tree of {new_size} does not extend the tree of {old_size}: history changed"]
    return []


def main(argv):
    if len(argv) < 4 or argv[-2] != "--key" or argv[0] not in ("receipt", "consistency"):
        print(__doc__)
        return 2
    key = read_key(argv[-1])
    if argv[0] == "receipt":
        receipt = json.load(open(argv[1], encoding="utf-8"))
        found = verify_receipt(receipt, key)
        ok = f"OK: {len(receipt['events'])} events in the signed tree of {receipt['tree_size']}"
    else:
        old, new = (open(path, encoding="utf-8").read() for path in argv[1:3])
        found = verify_consistency(old, new, json.load(open(argv[3], encoding="utf-8")), key)
        ok = "OK: the newer checkpoint extends the older one"
    print("\n".join(found) or ok)
    return 1 if found else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (ValueError, KeyError, OSError) as error:
        print(f"cannot verify: {error}")
        sys.exit(1)
