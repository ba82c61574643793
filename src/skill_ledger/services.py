"""The composition root: every object a process needs, built complete, in one place."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher

from skill_ledger.accounts import Accounts
from skill_ledger.application import Ledger
from skill_ledger.assessments import Assessments, Proofs
from skill_ledger.audit.auditor import Audit
from skill_ledger.audit.notary import Notary, TreeKeeper
from skill_ledger.audit.receipts import Receipts
from skill_ledger.audit.signing import KeyInvalid, SigningKey
from skill_ledger.audit.trail import AuditTrail
from skill_ledger.audit.tree import LogTree
from skill_ledger.database import Database, open_database
from skill_ledger.eventstore.log import EventLog
from skill_ledger.eventstore.transcoder import TypedMapper
from skill_ledger.grading import SessionGrading
from skill_ledger.logins import FailedLogins, Logins, PasswordCheckGate
from skill_ledger.ports import CommandObserver
from skill_ledger.readside.consistency import ReadYourWrites
from skill_ledger.readside.projector import Projector
from skill_ledger.readside.queries import ReadModel
from skill_ledger.readside.replicas import ReadRouter
from skill_ledger.settings import ConfigurationError, Settings

REPLICA_CONNECT_SECONDS = 2.0
DEVELOPMENT_ORIGIN = "skill-ledger.localhost/development"


def load_signing_key(settings: Settings) -> tuple[SigningKey | None, bool]:
    """The log's signing key and whether it is a throwaway one (development without a key).

    None in production without LEDGER_SIGNING_KEY_FILE: the processes that sign refuse to
    start (`check_signing_key`); the others never sign.
    """
    path = settings.signing_key_file
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                return SigningKey.parse(file.read()), False
        except (OSError, KeyInvalid, ValueError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else e
            raise ConfigurationError(f"LEDGER_SIGNING_KEY_FILE {path}: {reason}") from None
    if settings.is_production:
        return None, False
    return SigningKey.generate(DEVELOPMENT_ORIGIN), True


def check_signing_key(settings: Settings) -> None:
    """In production, refuse to run a process that signs checkpoints without the log's key."""
    if settings.is_production and not settings.signing_key_file:
        raise ConfigurationError(
            "LEDGER_ENV=production needs LEDGER_SIGNING_KEY_FILE, the log's signing key "
            "(create one with `ledger audit keygen --out KEY`)"
        )


@dataclass(frozen=True)
class Services:
    """Everything a process needs, opened once at start-up and closed at exit."""

    settings: Settings
    db: Database
    accounts: Accounts
    readmodel: ReadModel
    ledger: Ledger
    eventlog: EventLog
    projector: Projector
    consistency: ReadYourWrites
    reads: ReadRouter
    trail: AuditTrail
    audit: Audit
    assessments: Assessments
    logins: Logins
    tree: LogTree
    notary: Notary | None
    proofs: Proofs
    ephemeral_key: bool
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        hasher: PasswordHasher | None = None,
        observer: CommandObserver | None = None,
    ) -> Services:
        """Connect to the configured database (pools open lazily) and wire every part."""
        pools = settings.pools
        db = open_database(settings.database, pool_size=pools.main)
        readmodel = ReadModel(db)
        ledger = Ledger(
            settings,
            readmodel,
            db.eventstore_env(pools.eventstore),
            observer=observer,
            breaker=db.breaker,
        )
        assert isinstance(ledger.mapper, TypedMapper)
        eventlog = EventLog(db, ledger.mapper)
        # The read table can always be re-projected, and a crash loses its rows and its tracking
        # position together: its commits need not wait for the disk. One server, one breaker:
        # a recovery cleans every pool, and read-your-writes waits see an outage of either.
        projection_db = open_database(
            settings.database,
            pool_size=pools.projection,
            durable=False,
            name="ledger-projection",
            breaker=db.breaker,
            application_name=f"ledger-projection/{os.getpid()}",
        )
        projector = Projector(
            projection_db,
            eventlog,
            batch_size=settings.projection_batch_size,
            poll_seconds=settings.projection_poll_seconds,
            idle_seconds=settings.projection_idle_seconds,
            on_projected=observer.projected if observer is not None else None,
            on_failed=observer.projection_failed if observer is not None else None,
        )
        accounts = Accounts(db, hasher, eventlog=eventlog)
        failures = FailedLogins(
            db, settings.login_account_failures, settings.login_account_window_seconds
        )
        consistency = ReadYourWrites(projector, eventlog, settings.projection_wait_seconds)
        reads = ReadRouter(
            db,
            [
                open_database(
                    url,
                    pool_size=pools.main,  # on another server: outside the primary's budget
                    connect_timeout=REPLICA_CONNECT_SECONDS,
                    name="ledger-replica",
                )
                for url in settings.read_databases
            ],
            projector.watch,
            projection=projector.name,
            wait_seconds=settings.read_wait_seconds,
            max_lag_seconds=settings.read_max_lag_seconds,
            on_route=observer.read_routed if observer is not None else None,
        )
        trail = AuditTrail(db, eventlog)
        tree = LogTree(db, eventlog)
        key, ephemeral = load_signing_key(settings)
        notary = Notary(db, tree, key) if key is not None else None
        receipts = Receipts(db, eventlog, tree, notary) if notary is not None else None
        return cls(
            settings=settings,
            db=db,
            accounts=accounts,
            readmodel=readmodel,
            ledger=ledger,
            eventlog=eventlog,
            projector=projector,
            consistency=consistency,
            reads=reads,
            trail=trail,
            audit=Audit(db, eventlog, projection=projector.name),
            logins=Logins(accounts, failures, PasswordCheckGate(settings.login_concurrency)),
            assessments=Assessments(
                ledger,
                readmodel,
                accounts,
                consistency,
                trail,
                SessionGrading(ledger, eventlog),
                reads,
                receipts,
            ),
            tree=tree,
            notary=notary,
            proofs=Proofs(db, tree, notary),
            ephemeral_key=ephemeral,
        )

    def start_projector(self) -> None:
        """Run the projector in a background thread of this process."""
        self._start("projector", lambda: self.projector.run(self._stop))

    def start_follower(self) -> None:
        """Track another process's projector, so read-your-writes waits still work."""
        self._start("projection-follower", lambda: self.projector.follow(self._stop))

    def start_tree_keeper(self) -> None:
        """Keep the log's Merkle tree and sign checkpoints in a background thread."""
        keeper = TreeKeeper(
            self.db,
            self.tree,
            self.notary,
            checkpoint_seconds=self.settings.checkpoint_seconds,
            poll_seconds=max(self.settings.projection_poll_seconds, 0.05),
        )
        self._start("tree-keeper", lambda: keeper.run(self._stop))

    def _start(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        """Stop background threads and close every connection."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.ledger.close()
        self.logins.close()
        self.projector.db.close()
        self.reads.close()
        self.db.close()
