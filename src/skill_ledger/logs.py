"""Logging set-up: console lines in development, one JSON object per line in production.

The ledger's own lines go through structlog to a background writer (no stdlib LogRecord and no
write on the request's thread: commands log several lines each, on the hot path); other
libraries' stdlib logging is rendered by the same processors, so both look alike.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import sys
import threading
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import msgspec
import structlog


def _json(event: object, **_: object) -> str:
    return msgspec.json.encode(event, enc_hook=str).decode()


class LineWriter:
    """Writes log lines to a stream from one background thread, in batches.

    Request threads and the event loop only append to a queue: they never wait for the stream or
    for each other's writes. Woken by the first line since its last write (not by every line), the
    thread writes whatever has queued with one flush; at exit (and on `flush()`) everything
    queued is written.
    """

    def __init__(self, stream: Callable[[], TextIO]) -> None:
        self._stream = stream
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._pending = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.flush)

    def write(self, line: str) -> None:
        """Queue one line (waking the writer only if no earlier line did)."""
        self._lines.put(line)
        if not self._pending.is_set():
            self._pending.set()

    def _run(self) -> None:
        # One wake-up per batch, not per line: waking a blocked thread costs the request's
        # thread a futex call and a GIL hand-off, and a command logs several lines.
        while True:
            self._pending.wait()
            self._pending.clear()
            self._emit(self._drain())

    def _drain(self) -> list[str | None]:
        batch: list[str | None] = []
        with contextlib.suppress(queue.Empty):  # flush() may drain it meanwhile
            while True:
                batch.append(self._lines.get_nowait())
        return batch

    def _emit(self, batch: list[str | None]) -> None:
        text = "".join(line + "\n" for line in batch if line is not None)
        if not text:
            return
        stream = self._stream()
        with contextlib.suppress(ValueError, OSError):  # stderr closed or gone: nowhere to say so
            stream.write(text)
            stream.flush()

    def flush(self) -> None:
        """Write everything queued so far, now, from the calling thread."""
        self._emit(self._drain())


class _NamedLogger:
    """A structlog logger that remembers its name and hands lines to the writer."""

    def __init__(self, writer: LineWriter, name: str) -> None:
        self.name = name
        self._writer = writer

    def msg(self, message: str) -> None:
        """Queue the rendered line."""
        self._writer.write(message)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


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
    writer = LineWriter(lambda: sys.stderr)

    def logger_factory(*args: Any) -> _NamedLogger:
        return _NamedLogger(writer, str(args[0]) if args else "skill_ledger")

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_name,
            timestamp,
            *exceptions,
            renderer,
        ],
        logger_factory=logger_factory,
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
