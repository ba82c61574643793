"""Configuration, read once at start-up from LEDGER_* environment variables."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

from skill_ledger.domain import DEFAULT_DISPUTE_WINDOW_DAYS, ValidationPolicy

DEFAULT_DATABASE_URL = "sqlite:///var/ledger.db"
DEFAULT_SKILLS = (
    "ball_control",
    "dribbling",
    "passing",
    "shooting",
    "first_touch",
    "heading",
    "crossing",
    "finishing",
    "tackling",
    "positioning",
    "vision",
    "agility",
    "speed",
    "stamina",
    "weak_foot",
    "goalkeeping",
)
MIN_PRODUCTION_SECRET_BYTES = 32


# PostgreSQL backends: LEDGER_CONNECTION_BUDGET bounds a whole deployment (docs/operations.md).
DEDICATED_CONNECTIONS = 2  # outside the pools: the projector's LISTEN/lock, the tree keeper's
PROJECTOR_SHARE = 6  # a `ledger project` process
MIN_SHARE = 5


@dataclass(frozen=True, slots=True)
class Pools:
    """How many connections each pool of one process may open."""

    main: int
    eventstore: int
    projection: int

    @property
    def total(self) -> int:
        """Every connection the process may hold, the dedicated ones included."""
        return self.main + self.eventstore + self.projection + DEDICATED_CONNECTIONS


def pools_for(share: int, cap: int = 0) -> Pools:
    """Split one process's share: two dedicated, the projection's, then half each to the
    command path's two pools (the event store's and the reads'); `cap` bounds each further."""
    rest = max(share, MIN_SHARE) - DEDICATED_CONNECTIONS
    projection = 2 if rest >= 6 else 1
    eventstore = max(1, (rest - projection) // 2)
    main = max(1, rest - projection - eventstore)
    if cap:
        main, eventstore, projection = min(main, cap), min(eventstore, cap), min(projection, cap)
    return Pools(main, eventstore, projection)


def api_worker_share(budget: int, workers: int, separate_projector: bool) -> int:
    """Each API worker's share of the budget (a separate `ledger project` takes its own)."""
    share = (budget - (PROJECTOR_SHARE if separate_projector else 0)) // workers
    if share < MIN_SHARE:
        raise ConfigurationError(
            f"LEDGER_CONNECTION_BUDGET={budget} is too small for {workers} workers"
            f"{' and a projector' if separate_projector else ''}: each worker needs "
            f"at least {MIN_SHARE} connections"
        )
    return share


class ConfigurationError(Exception):
    """A LEDGER_* setting is missing or malformed."""


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """Where the ledger lives: one URL, SQLite (embedded) or PostgreSQL (production)."""

    backend: Literal["sqlite", "postgresql"]
    path: str = ""
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = field(default="", repr=False)
    dbname: str = ""

    @classmethod
    def parse(cls, url: str) -> DatabaseURL:
        """Parse sqlite:///PATH or postgresql://USER[:PASS]@HOST[:PORT]/DB."""
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme == "sqlite":
            path = url.split("://", 1)[1]
            if not path.startswith("/") or path == "/":
                raise ConfigurationError(f"SQLite URL needs a path: sqlite:///PATH, got {url!r}")
            return cls(backend="sqlite", path=path[1:])
        if scheme in ("postgresql", "postgres"):
            dbname = parts.path.lstrip("/")
            if not parts.hostname or not dbname:
                raise ConfigurationError(
                    "PostgreSQL URL must be postgresql://USER[:PASS]@HOST[:PORT]/DB"
                )
            try:
                port = parts.port or 5432
            except ValueError:
                raise ConfigurationError(f"Invalid port in database URL {url!r}") from None
            return cls(
                backend="postgresql",
                host=parts.hostname,
                port=port,
                user=unquote(parts.username or "postgres"),
                password=unquote(parts.password or ""),
                dbname=unquote(dbname),
            )
        raise ConfigurationError(
            f"Unsupported database URL scheme {parts.scheme!r}: use sqlite:/// or postgresql://"
        )

    @property
    def is_postgres(self) -> bool:
        """True for PostgreSQL."""
        return self.backend == "postgresql"

    def conninfo(self) -> str:
        """psycopg connection string (PostgreSQL only)."""
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=self.dbname,
        )

    def sqlalchemy_url(self) -> str:
        """The URL alembic's SQLAlchemy engine uses."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password or None,
            host=self.host,
            port=self.port,
            database=self.dbname,
        ).render_as_string(hide_password=False)

    def with_dbname(self, dbname: str) -> DatabaseURL:
        """The same server, another database (PostgreSQL only)."""
        return DatabaseURL(
            backend="postgresql",
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
        )

    def url(self) -> str:
        """The URL again, password included (for child processes' environment)."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}"

    def render(self) -> str:
        """The URL again, password hidden."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"
        secret = ":***" if self.password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{self.dbname}"


Parse = Callable[[str, str], object]


def _number(kind: type[int] | type[float], minimum: float = 0) -> Parse:
    """A parser of an integer or decimal setting of at least `minimum`."""
    noun = "an integer" if kind is int else "a number"

    def parse(key: str, raw: str) -> object:
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigurationError(f"{key} must be {noun}, got {raw!r}") from None
        if value < minimum:
            raise ConfigurationError(f"{key} must be at least {minimum}, got {value}")
        return value

    return parse


def _environment(key: str, raw: str) -> object:
    value = raw.lower()
    if value not in ("development", "production"):
        raise ConfigurationError(f"{key} must be development or production, got {value!r}")
    return value


def _skills(key: str, raw: str) -> object:
    skills = tuple(s.strip() for s in raw.split(",") if s.strip())
    for skill in skills:
        if not skill.replace("_", "").isalnum() or not skill.isascii() or len(skill) > 64:
            raise ConfigurationError(f"{key}: invalid skill name {skill!r}")
    return skills or DEFAULT_SKILLS


FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _flag(key: str, raw: str) -> object:
    try:
        return FLAGS[raw.lower()]
    except KeyError:
        raise ConfigurationError(f"{key} must be true or false, got {raw!r}") from None


def _text(_: str, raw: str) -> object:
    return raw


def _proxies(key: str, raw: str) -> object:
    """Addresses or networks (CIDR) of the proxies whose X-Forwarded-For is believed, or *."""
    proxies = tuple(p.strip() for p in raw.split(",") if p.strip())
    if proxies == ("*",):
        return proxies
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"{key}: {proxy!r} is not an IP address or network (use e.g. 10.0.0.5,10.1.0.0/16)"
            ) from None
    return proxies


def _database(_: str, raw: str) -> object:
    return DatabaseURL.parse(raw)


def _replicas(key: str, raw: str) -> object:
    """Comma-separated PostgreSQL URLs of hot standbys."""
    urls = tuple(DatabaseURL.parse(u.strip()) for u in raw.split(",") if u.strip())
    for url in urls:
        if not url.is_postgres:
            raise ConfigurationError(f"{key}: read replicas are PostgreSQL hot standbys")
    return urls


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the ledger is configured with; the defaults here are the only defaults."""

    database: DatabaseURL = field(default_factory=lambda: DatabaseURL.parse(DEFAULT_DATABASE_URL))
    environment: Literal["development", "production"] = "development"
    jwt_secret: str = field(default="", repr=False)
    jwt_expiry_seconds: int = 3600
    jwt_issuer: str = "skill-ledger"
    jwt_audience: str = "skill-ledger-api"
    skills: tuple[str, ...] = DEFAULT_SKILLS
    snapshot_interval: int = 50
    command_retries: int = 10
    policy: ValidationPolicy = field(default_factory=ValidationPolicy)
    projection_batch_size: int = 1000
    projection_wait_seconds: float = 5.0
    projection_poll_seconds: float = 0.05
    projection_idle_seconds: float = 1.0
    connection_budget: int = 40
    pool_size: int = 0
    connection_share: int = 0
    login_rate_per_minute: int = 10
    login_account_failures: int = 10
    login_account_window_seconds: int = 900
    login_concurrency: int = 2
    trusted_proxies: tuple[str, ...] = ()
    auth_cache_seconds: float = 1.0
    signing_key_file: str = ""
    checkpoint_seconds: float = 60.0
    dispute_window_days: int = DEFAULT_DISPUTE_WINDOW_DAYS
    read_databases: tuple[DatabaseURL, ...] = ()
    read_wait_seconds: float = 1.0
    read_max_lag_seconds: float = 5.0

    @property
    def pools(self) -> Pools:
        """This process's pools: its share of LEDGER_CONNECTION_BUDGET (all of it by default)."""
        return pools_for(self.connection_share or self.connection_budget, self.pool_size)

    @property
    def is_production(self) -> bool:
        """LEDGER_ENV=production."""
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read LEDGER_* variables (os.environ by default); unset ones keep the defaults above."""
        env = os.environ if env is None else env

        def read(table: tuple[tuple[str, str, Parse], ...]) -> dict[str, Any]:
            values: dict[str, Any] = {}
            for name, key, parse in table:
                raw = env.get(key, "").strip()
                if raw:
                    values[name] = parse(key, raw)
            return values

        settings = cls(**read(VARIABLES), policy=ValidationPolicy(**read(POLICY_VARIABLES)))
        if settings.read_databases and not settings.database.is_postgres:
            raise ConfigurationError(
                "LEDGER_READ_DATABASE_URL needs a PostgreSQL LEDGER_DATABASE_URL (its primary)"
            )
        return settings


VARIABLES: tuple[tuple[str, str, Parse], ...] = (
    ("database", "LEDGER_DATABASE_URL", _database),
    ("environment", "LEDGER_ENV", _environment),
    ("jwt_secret", "LEDGER_JWT_SECRET", _text),
    ("jwt_expiry_seconds", "LEDGER_JWT_EXPIRY_SECONDS", _number(int, 1)),
    ("jwt_issuer", "LEDGER_JWT_ISSUER", _text),
    ("jwt_audience", "LEDGER_JWT_AUDIENCE", _text),
    ("skills", "LEDGER_SKILLS", _skills),
    ("snapshot_interval", "LEDGER_SNAPSHOT_INTERVAL", _number(int, 2)),
    ("command_retries", "LEDGER_COMMAND_RETRIES", _number(int, 1)),
    ("projection_batch_size", "LEDGER_PROJECTION_BATCH", _number(int, 1)),
    ("projection_wait_seconds", "LEDGER_PROJECTION_WAIT_SECONDS", _number(float)),
    ("connection_budget", "LEDGER_CONNECTION_BUDGET", _number(int, MIN_SHARE)),
    ("pool_size", "LEDGER_POOL_SIZE", _number(int, 1)),
    ("login_rate_per_minute", "LEDGER_LOGIN_RATE_PER_MINUTE", _number(int, 1)),
    ("login_account_failures", "LEDGER_LOGIN_ACCOUNT_FAILURES", _number(int, 1)),
    ("login_account_window_seconds", "LEDGER_LOGIN_ACCOUNT_WINDOW_SECONDS", _number(int, 1)),
    ("login_concurrency", "LEDGER_LOGIN_CONCURRENCY", _number(int, 1)),
    ("trusted_proxies", "LEDGER_TRUSTED_PROXIES", _proxies),
    ("auth_cache_seconds", "LEDGER_AUTH_CACHE_SECONDS", _number(float)),
    ("signing_key_file", "LEDGER_SIGNING_KEY_FILE", _text),
    ("checkpoint_seconds", "LEDGER_CHECKPOINT_SECONDS", _number(float, 1)),
    ("dispute_window_days", "LEDGER_DISPUTE_WINDOW_DAYS", _number(int, 1)),
    ("read_databases", "LEDGER_READ_DATABASE_URL", _replicas),
    ("read_wait_seconds", "LEDGER_READ_WAIT_SECONDS", _number(float)),
    ("read_max_lag_seconds", "LEDGER_READ_MAX_LAG_SECONDS", _number(float)),
)
"""Settings field, environment variable, parser."""
POLICY_VARIABLES: tuple[tuple[str, str, Parse], ...] = (
    ("new_instructor_assessments", "LEDGER_POLICY_NEW_INSTRUCTOR", _number(int)),
    ("score_jump_percent", "LEDGER_POLICY_SCORE_JUMP", _number(float)),
    ("replacing_validated", "LEDGER_POLICY_REPLACING_VALIDATED", _flag),
    ("replacing_others", "LEDGER_POLICY_REPLACING_OTHERS", _flag),
)
