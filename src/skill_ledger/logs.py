"""Logging set-up: console lines in development, one JSON object per line in production.

The ledger's own lines go through structlog straight to stderr (no stdlib LogRecord per line:
commands log several lines each, on the hot path); other libraries' stdlib logging is rendered
by the same processors, so both look alike.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import msgspec
import structlog


def _json(event: object, **_: object) -> str:
    return msgspec.json.encode(event, enc_hook=str).decode()


class _NamedWriteLogger(structlog.WriteLogger):
    """A WriteLogger that remembers the name it was created with."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


def _logger_factory(*args: Any) -> _NamedWriteLogger:
    return _NamedWriteLogger(sys.stderr, str(args[0]) if args else "skill_ledger")


def _add_name(
    logger: Any, _: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict.setdefault("logger", getattr(logger, "name", None))
    return event_dict


def configure_logging(*, production: bool, level: int = logging.INFO) -> None:
    """Configure structlog and the standard library's root logger for stderr."""
    timestamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_json)
        if production
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            # Locals would print request bodies and headers: passwords and bearer tokens.
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False),
        )
    )
    exceptions: list[structlog.types.Processor] = (
        [structlog.processors.format_exc_info] if production else []
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_name,
            timestamp,
            *exceptions,
            renderer,
        ],
        logger_factory=_logger_factory,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            timestamp,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exceptions,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("psycopg.pool", "psycopg", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
