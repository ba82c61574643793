"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, Ed25519 keys.

Keys use the signed-note text encodings (golang.org/x/mod/sumdb/note): a signer key
`PRIVATE+KEY+<name>+<hex key id>+base64(0x01 || 32-byte seed)` and a verifier key
`<name>+<hex key id>+base64(0x01 || 32-byte public key)`, where the key id is the first four
bytes of SHA-256(name || 0x0A || 0x01 || public key). The key name is the log's origin.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = 0x01
EM_DASH = "\u2014"
SIGNER_PREFIX = "PRIVATE+KEY+"
MAX_SIGNATURES = 100
HASH_BYTES = 32
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_RAW = serialization.Encoding.Raw
_PUBLIC_RAW = serialization.PublicFormat.Raw
_PRIVATE_RAW = serialization.PrivateFormat.Raw


class KeyInvalid(ValueError):
    """A key string is not a signed-note Ed25519 key."""


class NoteInvalid(ValueError):
    """A signed note is malformed, or no signature of the expected key verifies."""


def key_id(name: str, public: bytes) -> int:
    """The signed-note key id: SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def check_name(name: str) -> str:
    """A key name (and log origin): non-empty, no spaces, no plus, no control characters."""
    if not name or any(c.isspace() or c == "+" or ord(c) < 0x20 for c in name):
        raise KeyInvalid(f"key name {name!r} must be non-empty, without spaces or '+'")
    return name


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyInvalid("not standard base64") from None


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A log's public key and the name its signatures carry."""

    name: str
    public: bytes

    @property
    def key_id(self) -> int:
        """The 32-bit key id of signatures by this key."""
        return key_id(self.name, self.public)

    @property
    def key_id_hex(self) -> str:
        """The key id as 8 lowercase hex digits."""
        return f"{self.key_id:08x}"

    def text(self) -> str:
        """The verifier key string (`name+hexid+base64(0x01 || public key)`)."""
        encoded = base64.b64encode(bytes([ED25519]) + self.public).decode()
        return f"{self.name}+{self.key_id_hex}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """A verifier key from its string; KeyInvalid when malformed or its id does not match."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise KeyInvalid("a verifier key is NAME+HEXID+BASE64")
        name, hex_id, material = parts
        raw = _b64(material)
        if len(raw) != 1 + HASH_BYTES or raw[0] != ED25519:
            raise KeyInvalid("not an Ed25519 verifier key")
        key = cls(check_name(name), raw[1:])
        if key.key_id_hex != hex_id.lower():
            raise KeyInvalid(f"key id {hex_id} does not match the key ({key.key_id_hex})")
        return key

    def verifies(self, message: bytes, signature: bytes) -> bool:
        """True when `signature` is this key's Ed25519 signature of `message`."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A log's Ed25519 private key and its name (the origin of its checkpoints)."""

    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        """A new random key."""
        return cls(check_name(name), Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str) -> SigningKey:
        """A signer key from `PRIVATE+KEY+name+hexid+base64(0x01 || seed)`."""
        text = text.strip()
        if not text.startswith(SIGNER_PREFIX):
            raise KeyInvalid(f"a signing key starts with {SIGNER_PREFIX}")
        parts = text[len(SIGNER_PREFIX) :].split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise KeyInvalid("a signing key is PRIVATE+KEY+NAME+HEXID+BASE64")
        name, hex_id, material = parts
        raw = _b64(material)
        if len(raw) != 1 + HASH_BYTES or raw[0] != ED25519:
            raise KeyInvalid("not an Ed25519 signing key")
        key = cls(check_name(name), Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if key.verifier.key_id_hex != hex_id.lower():
            raise KeyInvalid(f"key id {hex_id} does not match the key")
        return key

    @property
    def verifier(self) -> VerifierKey:
        """The matching public key."""
        return VerifierKey(self.name, self.private.public_key().public_bytes(_RAW, _PUBLIC_RAW))

    def text(self) -> str:
        """The signer key string (keep it secret)."""
        seed = self.private.private_bytes(_RAW, _PRIVATE_RAW, serialization.NoEncryption())
        encoded = base64.b64encode(bytes([ED25519]) + seed).decode()
        return f"{SIGNER_PREFIX}{self.name}+{self.verifier.key_id_hex}+{encoded}"

    def sign_note(self, text: str) -> str:
        """`text` (ending in a newline) followed by a blank line and this key's signature line."""
        if not text.endswith("\n"):
            raise NoteInvalid("a note's text ends with a newline")
        signature = self.verifier.key_id.to_bytes(4, "big") + self.private.sign(text.encode())
        return f"{text}\n{EM_DASH} {self.name} {base64.b64encode(signature).decode()}\n"


def open_note(note: str, key: VerifierKey) -> str:
    """The text of a signed note that `key` signed; NoteInvalid otherwise (signed-note rules)."""
    if any(ord(c) < 0x20 and c != "\n" for c in note) or not note.endswith("\n"):
        raise NoteInvalid("a signed note ends with a newline and has no other control characters")
    text, sep, signatures = note[:-1].rpartition("\n\n")
    if not sep:
        raise NoteInvalid("no blank line before the signatures")
    text += "\n"
    lines = signatures.split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteInvalid("too many signatures")
    verified = False
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH or not parts[1]:
            raise NoteInvalid(f"not a signature line: {line!r}")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            raise NoteInvalid(f"signature of {parts[1]} is not base64") from None
        if len(raw) < 5:
            raise NoteInvalid(f"signature of {parts[1]} is too short")
        if parts[1] != key.name or int.from_bytes(raw[:4], "big") != key.key_id:
            continue  # another key's signature (a witness, a rotated key): ignored
        if not key.verifies(text.encode(), raw[4:]):
            raise NoteInvalid(f"the signature of {key.name}+{key.key_id_hex} does not verify")
        verified = True
    if not verified:
        raise NoteInvalid(f"no signature of {key.name}+{key.key_id_hex}")
    return text


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A C2SP tlog-checkpoint: origin, tree size and root hash, in a signed note."""

    origin: str
    size: int
    root: bytes
    note: str

    @property
    def root_base64(self) -> str:
        """The root hash as the checkpoint spells it."""
        return base64.b64encode(self.root).decode()


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """The checkpoint body: origin, decimal size, base64 root, each on its line."""
    return f"{check_name(origin)}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_checkpoint(key: SigningKey, size: int, root: bytes) -> SignedCheckpoint:
    """A checkpoint of the tree of `size` leaves with `root`, signed by `key`."""
    note = key.sign_note(checkpoint_text(key.name, size, root))
    return SignedCheckpoint(key.name, size, root, note)


def open_checkpoint(note: str, key: VerifierKey) -> SignedCheckpoint:
    """A checkpoint signed by `key` whose origin is the key's name; NoteInvalid otherwise."""
    lines = open_note(note, key).split("\n")[:-1]
    if len(lines) < 3 or not all(lines):
        raise NoteInvalid("a checkpoint has an origin, a tree size and a root hash line")
    origin, size, root_text = lines[:3]
    if origin != key.name:
        raise NoteInvalid(f"the checkpoint's origin {origin!r} is not the key's name")
    if not _SIZE.fullmatch(size):
        raise NoteInvalid(f"tree size {size!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteInvalid("the root hash is not base64") from None
    if len(root) != HASH_BYTES:
        raise NoteInvalid("the root hash is not 32 bytes")
    return SignedCheckpoint(origin, int(size), root, note)
