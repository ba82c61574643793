"""Logging set-up: structlog over the standard library, console in dev, JSON in production."""

from __future__ import annotations

import logging
import sys

import msgspec
import structlog


def _json(event: object, **_: object) -> str:
    return msgspec.json.encode(event, enc_hook=str).decode()


def configure_logging(*, production: bool, level: int = logging.INFO) -> None:
    """Route structlog and stdlib logging to stderr in one format."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_json)
        if production
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            # Locals would print request bodies and headers: passwords and bearer tokens.
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False),
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info
            if production
            else structlog.processors.StackInfoRenderer(),
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
