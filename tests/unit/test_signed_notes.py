"""Signed checkpoints against the signed-note rules and published test vectors.

No Python package on PyPI checks signed-note Ed25519 key ids independently (sigstore's checkpoint
code uses Rekor's own key hint), so the vectors are the specification's and its reference
implementation's:
- golang/mod, sumdb/note/note_test.go (commit 02c991387e35f9e4c0a9b7ce137717055f8d716d):
  TestNewSigner's PeterNeumann signer key, TestSign's expected signed note, TestOpen's keys.
- C2SP/C2SP, signed-note.md §"Verifier keys" §"Example" (commit 5ba5ee830903e91240fc6f9f3a7a9293
  d49e69c9): the example.com/foo verifier key and the note it verifies.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from skill_ledger.audit.signing import (
    EM_DASH,
    KeyInvalid,
    NoteInvalid,
    SigningKey,
    VerifierKey,
    checkpoint_text,
    key_id,
    open_checkpoint,
    open_note,
    sign_checkpoint,
)

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_SIGNATURE = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    f"{EM_DASH} example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def test_signing_the_go_vector_gives_its_published_note_byte_for_byte() -> None:
    key = SigningKey.parse(GO_SKEY)
    assert key.text() == GO_SKEY
    assert key.verifier.text() == GO_VKEY
    assert key.sign_note(GO_TEXT) == f"{GO_TEXT}\n{EM_DASH} PeterNeumann {GO_SIGNATURE}\n"


def test_key_ids_are_sha256_of_name_newline_type_and_public_key() -> None:
    for vkey in (GO_VKEY, ENOCH_VKEY, SPEC_VKEY):
        name, hex_id, material = vkey.split("+", 2)
        public = base64.b64decode(material)[1:]
        by_hand = hashlib.sha256(name.encode() + b"\x0a\x01" + public).digest()[:4].hex()
        assert by_hand == hex_id == f"{key_id(name, public):08x}"
        assert VerifierKey.parse(vkey).text() == vkey


def test_the_specifications_example_note_verifies() -> None:
    assert open_note(SPEC_NOTE, VerifierKey.parse(SPEC_VKEY)) == "This is an example message.\n"


def test_signatures_of_other_keys_are_ignored_and_a_bad_one_of_ours_is_refused() -> None:
    peter, enoch = VerifierKey.parse(GO_VKEY), VerifierKey.parse(ENOCH_VKEY)
    both = (
        f"{GO_TEXT}\n{EM_DASH} PeterNeumann {GO_SIGNATURE}\n{EM_DASH} EnochRoot {ENOCH_SIGNATURE}\n"
    )
    assert open_note(both, peter) == open_note(both, enoch) == GO_TEXT
    only_enoch = f"{GO_TEXT}\n{EM_DASH} EnochRoot {ENOCH_SIGNATURE}\n"
    with pytest.raises(NoteInvalid, match="no signature of PeterNeumann"):
        open_note(only_enoch, peter)
    broken = GO_SIGNATURE[:60] + "ABCD" + GO_SIGNATURE[64:]
    with pytest.raises(NoteInvalid, match="does not verify"):
        open_note(f"{GO_TEXT}\n{EM_DASH} PeterNeumann {broken}\n", peter)
    for malformed in (
        GO_TEXT,
        GO_TEXT + "\n",
        f"\x01{GO_TEXT}\n{EM_DASH} PeterNeumann {GO_SIGNATURE}\n",
    ):
        with pytest.raises(NoteInvalid):
            open_note(malformed, peter)


def test_mangled_keys_are_refused() -> None:
    for bad in (
        GO_VKEY.replace("c74f20a3", "c74f20a4"),
        GO_VKEY[:-2],
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(KeyInvalid):
            VerifierKey.parse(bad)
    with pytest.raises(KeyInvalid):
        SigningKey.parse(GO_SKEY.replace("c74f20a3", "00000000"))


def test_a_checkpoint_is_origin_size_and_base64_root_signed_by_the_origins_key() -> None:
    key = SigningKey.generate("lfa.example/ledger")
    root = hashlib.sha256(b"root").digest()
    signed = sign_checkpoint(key, 1874, root)
    body, _, signature = signed.note.rpartition("\n\n")
    assert body + "\n" == checkpoint_text("lfa.example/ledger", 1874, root)
    assert body.split("\n") == ["lfa.example/ledger", "1874", base64.b64encode(root).decode()]
    assert signature.startswith(f"{EM_DASH} lfa.example/ledger ")
    raw = base64.b64decode(signature.split(" ")[2])
    assert raw[:4] == key.verifier.key_id.to_bytes(4, "big")
    assert open_checkpoint(signed.note, key.verifier) == signed
    forged = signed.note.replace("\n1874\n", "\n1875\n")
    with pytest.raises(NoteInvalid):
        open_checkpoint(forged, key.verifier)
    with pytest.raises(NoteInvalid):
        open_checkpoint(signed.note, SigningKey.generate("lfa.example/ledger").verifier)
