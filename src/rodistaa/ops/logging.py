"""Structured logging: one JSON object per line, with personal data masked.

Structlog and stdlib loggers (uvicorn, sqlalchemy, alembic) share one handler on the root logger
and one ``ProcessorFormatter``, so every line, whoever wrote it, goes through the same masking
and the same renderer, and concurrent writers are serialised by that handler's lock.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import IO, Any

import orjson
import structlog
from structlog.typing import FilteringBoundLogger, Processor

from rodistaa.security.pii import mask_pii_processor, mask_text

# Our root handler is found by name on reconfiguration, so handlers installed by others (pytest's
# capture, an APM agent) are left alone and ours is never installed twice.
_HANDLER_NAME = "rodistaa"
# Uvicorn installs its own non-propagating handlers; they would bypass masking.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_PARAMETER_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "asyncpg")


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at write time.

    Test runners and some process managers swap ``sys.stdout``; a handler holding the old object
    would write to a closed stream.
    """

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


_STDOUT = _CurrentStdout()


def configure_logging(level: str = "INFO", *, json: bool = True, stream: IO[str] | None = None) -> None:
    """Configure structlog and the stdlib root logger; safe to call again to reconfigure.

    Raises ``ValueError`` for an unknown level name.
    """
    level_no = _level_number(level)
    _configure_structlog(level_no)
    _install_root_handler(level_no, json=json, stream=stream if stream is not None else _STDOUT)
    _route_uvicorn_to_root()


def get_logger(name: str | None = None) -> FilteringBoundLogger:
    """Return a structlog logger, configuring defaults first so nothing is logged unmasked."""
    if not structlog.is_configured():
        configure_logging()
    # No positional None: the stdlib factory would hand back the root logger instead of naming
    # the logger after the calling module.
    logger: FilteringBoundLogger = structlog.get_logger() if name is None else structlog.get_logger(name)
    return logger


def _level_number(level: str) -> int:
    level_no = logging.getLevelNamesMapping().get(level.upper())
    if level_no is None:
        raise ValueError(f"unknown log level: {level!r}")
    return level_no


def _shared_processors() -> list[Processor]:
    """Enrichment common to structlog events and foreign (stdlib) records."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        structlog.processors.format_exc_info,
    ]


def _configure_structlog(level_no: int) -> None:
    structlog.configure(
        processors=[
            *_shared_processors(),
            # Masked already here, not only in the formatter, because any other handler on the
            # root logger (an APM agent, pytest's capture) receives this event dict as is.
            mask_pii_processor,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


def _install_root_handler(level_no: int, *, json: bool, stream: IO[str] | _CurrentStdout) -> None:
    handler: logging.StreamHandler[IO[str] | _CurrentStdout] = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_formatter(json=json))
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(existing)
        existing.close()
    root.addHandler(handler)
    root.setLevel(level_no)


def _formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Last before rendering, so nothing reaches the output unmasked.
            mask_pii_processor,
            _renderer(json=json),
        ],
    )


def _renderer(*, json: bool) -> Processor:
    if json:
        return structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    return structlog.dev.ConsoleRenderer(colors=False, timestamp_key="ts")


def _orjson_dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    # structlog passes its own fallback as default; ours stringifies and masks instead, because
    # whatever reaches it was not seen as text by the masking processor.
    del default
    return orjson.dumps(value, default=_json_fallback, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_fallback(value: object) -> str:
    return mask_text(str(value))


def _route_uvicorn_to_root() -> None:
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # The application writes its own access line.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Database drivers log statements *with their parameters* below WARNING; parameters carry
    # personal data the masker cannot always recognise (free-text purposes, names).
    for name in _PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
