"""Configuration, read once at start-up from LEDGER_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

from skill_ledger.domain import ValidationPolicy

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


def _int(env: Mapping[str, str], key: str, default: int, minimum: int = 0) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{key} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{key} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{key} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"{key} must not be negative, got {value}")
    return value


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "y", "on"):
        return True
    if raw in ("0", "false", "no", "n", "off"):
        return False
    raise ConfigurationError(f"{key} must be true or false, got {raw!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the ledger is configured with."""

    database: DatabaseURL
    environment: Literal["development", "production"] = "development"
    jwt_secret: str = field(default="", repr=False)
    jwt_expiry_seconds: int = 3600
    skills: tuple[str, ...] = DEFAULT_SKILLS
    snapshot_interval: int = 50
    command_retries: int = 10
    policy: ValidationPolicy = field(default_factory=ValidationPolicy)
    projection_batch_size: int = 1000
    projection_wait_seconds: float = 5.0
    projection_poll_seconds: float = 0.05
    projection_idle_seconds: float = 1.0
    pool_size: int = 8
    login_rate_per_minute: int = 10
    auth_cache_seconds: float = 1.0

    @property
    def is_production(self) -> bool:
        """LEDGER_ENV=production."""
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read LEDGER_* variables (os.environ by default)."""
        env = os.environ if env is None else env
        environment = env.get("LEDGER_ENV", "development").strip().lower() or "development"
        if environment not in ("development", "production"):
            raise ConfigurationError(
                f"LEDGER_ENV must be development or production, got {environment!r}"
            )
        skills_raw = env.get("LEDGER_SKILLS", "").strip()
        skills = (
            tuple(s.strip() for s in skills_raw.split(",") if s.strip())
            if skills_raw
            else DEFAULT_SKILLS
        )
        for skill in skills:
            if not skill.replace("_", "").isalnum() or not skill.isascii() or len(skill) > 64:
                raise ConfigurationError(f"LEDGER_SKILLS: invalid skill name {skill!r}")
        return cls(
            database=DatabaseURL.parse(env.get("LEDGER_DATABASE_URL", "") or DEFAULT_DATABASE_URL),
            environment="production" if environment == "production" else "development",
            jwt_secret=env.get("LEDGER_JWT_SECRET", ""),
            jwt_expiry_seconds=_int(env, "LEDGER_JWT_EXPIRY_SECONDS", 3600, minimum=1),
            skills=skills,
            snapshot_interval=_int(env, "LEDGER_SNAPSHOT_INTERVAL", 50, minimum=2),
            command_retries=_int(env, "LEDGER_COMMAND_RETRIES", 10, minimum=1),
            policy=ValidationPolicy(
                new_instructor_assessments=_int(env, "LEDGER_POLICY_NEW_INSTRUCTOR", 10),
                score_jump_percent=_float(env, "LEDGER_POLICY_SCORE_JUMP", 25.0),
            ),
            projection_batch_size=_int(env, "LEDGER_PROJECTION_BATCH", 1000, minimum=1),
            projection_wait_seconds=_float(env, "LEDGER_PROJECTION_WAIT_SECONDS", 5.0),
            pool_size=_int(env, "LEDGER_POOL_SIZE", 8, minimum=1),
            login_rate_per_minute=_int(env, "LEDGER_LOGIN_RATE_PER_MINUTE", 10, minimum=1),
            auth_cache_seconds=_float(env, "LEDGER_AUTH_CACHE_SECONDS", 1.0),
        )

    def sqlite_path(self) -> Path:
        """The SQLite file (SQLite only)."""
        return Path(self.database.path)
