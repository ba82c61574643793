"""The Merkle tree's leaves (one per stored event) and the nodes that appending them completes.

A leaf is the canonical JSON of an event's position, stream, version, type and chain hash
(docs/audit.md §10), read from the raw stored row: any topic, even one this code does not
know, is a leaf. Storage keeps every leaf and every complete subtree at levels 4, 8, 12, …
(`STRIDE`); a node at another level is at most 8 stored nodes away.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

import msgspec

from skill_ledger.database import Database
from skill_ledger.domain.merkle import leaf_text
from skill_ledger.eventstore.log import LoggedEvent
from skill_ledger.eventstore.transcoder import TypedMapper

STRIDE = 4
LEAF_PREFIX = b"\x00"
BLOCK = 1 << STRIDE
_PLAIN = re.compile(r'[^"\\\x00-\x1f\x7f]*')
_UUID_HEX = re.compile(r"[0-9a-f]{32}")


class _ChainHash(msgspec.Struct):
    hash: Any = None


_hash_decoder = msgspec.json.Decoder(_ChainHash)


class Leaf(NamedTuple):
    """One event's leaf: its log position and SHA-256(0x00 || canonical leaf text)."""

    position: int
    hash: bytes


class StoredNode(NamedTuple):
    """A complete subtree's root as the tree table holds it (position only for leaves)."""

    level: int
    idx: int
    position: int | None
    hash: bytes


@lru_cache(maxsize=256)
def event_type(topic: str) -> str:
    """The last part of a stored topic (…:SkillRecord.Assessed → Assessed)."""
    return topic.rpartition(".")[2].rpartition(":")[2]


@lru_cache(maxsize=100_000)
def stream_text(stream_id: str) -> str:
    """A stream id as the leaf spells it: hyphenated lowercase (SQLite stores 32 hex digits)."""
    if len(stream_id) == 32 and _UUID_HEX.fullmatch(stream_id):
        s = stream_id
        return f"{s[:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:]}"
    return stream_id


def chain_hash_of(state: bytes, mapper: TypedMapper) -> str | None:
    """The stored chain hash of an event, None when the state has none (or is not JSON)."""
    try:
        found = _hash_decoder.decode(mapper.plain_state(state)).hash
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return found if isinstance(found, str) else None


def canonical_leaf(position: int, stream: str, version: int, kind: str, chain: str | None) -> bytes:
    """The leaf's bytes; the f-string equals `leaf_text` whenever no value needs escaping."""
    plain_stream = _plain(stream)
    type_json = _type_json(kind)
    if chain is not None and plain_stream and type_json is not None and _plain_hash(chain):
        return (
            f'{{"hash":"{chain}","position":{position},"stream":"{stream}",'
            f'"type":{type_json},"version":{version}}}'
        ).encode()
    return leaf_text(position, stream, version, kind, chain).encode()


def _plain_hash(chain: str) -> bool:
    # Letters and digits never need escaping in JSON; anything else is checked in full.
    return chain.isalnum() or _PLAIN.fullmatch(chain) is not None


@lru_cache(maxsize=100_000)
def _plain(text: str) -> bool:
    return _PLAIN.fullmatch(text) is not None


@lru_cache(maxsize=256)
def _type_json(kind: str) -> str | None:
    return f'"{kind}"' if _PLAIN.fullmatch(kind) else None


def leaf_of(event: LoggedEvent, mapper: TypedMapper) -> Leaf:
    """The leaf of one raw stored event."""
    return leaves_of([event], mapper)[0]


def leaves_of(events: Iterable[LoggedEvent], mapper: TypedMapper) -> list[Leaf]:
    """The leaves of raw stored events: `leaf_of` unrolled, for bulk builds."""
    decode = _hash_decoder.decode
    plain_state = None if mapper.cipher is None and mapper.compressor is None else mapper
    sha256 = hashlib.sha256
    found: list[Leaf] = []
    for position, stream_id, version, topic, state in events:
        try:
            chain = decode(state if plain_state is None else mapper.plain_state(state)).hash
        except (msgspec.DecodeError, msgspec.ValidationError):
            chain = None
        data = canonical_leaf(
            position,
            stream_text(stream_id),
            version,
            event_type(topic),
            chain if isinstance(chain, str) else None,
        )
        found.append(Leaf(position, sha256(LEAF_PREFIX + data).digest()))
    return found


def digest_query(db: Database, mapper: TypedMapper) -> str | None:
    """SQL giving (position, leaf hash) for `position > %s AND position <= %s`, `LIMIT %s`.

    The server builds the same text as `canonical_leaf`'s fast path and hashes it; where a value
    would need JSON escaping the hash is NULL and the leaf is computed here. None when the
    server cannot hash or the states are enciphered or compressed.
    """
    sql = db.hashing
    if sql is None or mapper.cipher is not None or mapper.compressor is not None:
        return None
    pos = db.position_column
    chain = sql.json_string("doc", "hash")
    text = (
        """'{"hash":' || CASE WHEN chain IS NULL THEN 'null' ELSE '"' || chain || '"' END"""
        """ || ',"position":' || position || ',"stream":"' || stream"""
        """ || '","type":"' || kind || '","version":' || version || '}'"""
    )
    unsafe = " OR ".join(
        sql.needs_escape(value) for value in ("coalesce(chain, '')", "stream", "kind")
    )
    digest = sql.sha256(LEAF_PREFIX, text)
    return (
        f"SELECT position, CASE WHEN NOT ({unsafe}) THEN {digest} END "
        f"FROM (SELECT position, stream, version, kind, {chain} AS chain FROM ("
        f"SELECT {pos} AS position, {db.stream_column} AS stream, originator_version AS version,"
        f" {sql.last_word('topic')} AS kind, {sql.json_document('state')} AS doc"
        f" FROM {db.events_table} WHERE {pos} > %s AND {pos} <= %s ORDER BY {pos} LIMIT %s"
        ") AS events) AS fields"
    )


def perfect_root(hashes: list[bytes]) -> bytes:
    """The root of a complete subtree from its 2**k leftmost-to-rightmost children."""
    sha256 = hashlib.sha256
    while len(hashes) > 1:
        hashes = [
            sha256(b"\x01" + hashes[i] + hashes[i + 1]).digest() for i in range(0, len(hashes), 2)
        ]
    return hashes[0]


class TreeBuilder:
    """Appends leaves to a tree of `size`; returns the stored nodes each append completes.

    `pending[level]` holds the stored nodes of that level in its unfinished block of 16: the
    children of the next node one stored level up.
    """

    def __init__(self, size: int = 0, pending: dict[int, list[bytes]] | None = None) -> None:
        self.size = size
        self.pending: dict[int, list[bytes]] = pending or {}

    @staticmethod
    def pending_keys(size: int) -> list[tuple[int, int, int]]:
        """(level, first index, last index) of the stored nodes a builder at `size` needs."""
        keys = []
        level = 0
        while size >> level:
            count = size >> level
            first = count - count % BLOCK
            if first < count:
                keys.append((level, first, count - 1))
            level += STRIDE
        return keys

    def append(self, leaves: Iterable[Leaf]) -> list[StoredNode]:
        """Nodes to store: the leaves, then every stored-level node they complete."""
        size = self.size
        given = list(leaves)
        fresh = [leaf.hash for leaf in given]
        rows = [
            StoredNode(0, index, position, digest)
            for index, (position, digest) in enumerate(given, size)
        ]
        level, count = 0, size
        self.size = size + len(fresh)
        while fresh:
            chain = self.pending.get(level, []) + fresh
            base = count - count % BLOCK  # index of chain[0]
            complete = len(chain) - len(chain) % BLOCK
            self.pending[level] = chain[complete:]
            parents = [perfect_root(chain[i : i + BLOCK]) for i in range(0, complete, BLOCK)]
            level += STRIDE
            count = size >> level
            first = base >> STRIDE
            rows.extend(StoredNode(level, first + i, None, h) for i, h in enumerate(parents))
            fresh = parents
        return rows
