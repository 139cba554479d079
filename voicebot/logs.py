"""Where log lines go and in what shape: text for people, JSON lines for machines.

loguru is the one logger. The standard library's records (uvicorn, arq, httpx,
the LLM client) are intercepted into it, so both come out the same way and
carry the same bound fields. ``VOICEBOT_LOG_FORMAT=json`` writes one JSON
object per line: ``time`` (UTC, ISO 8601), ``level``, ``message``, ``logger``,
``function``, ``line``, every field bound with ``logger.bind`` or
``logger.contextualize`` (the telephony routes bind ``call_id`` and
``call_sid`` for everything a call logs, pipeline included), and
``exception`` with the traceback when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

from voicebot.config import LogFormat

if TYPE_CHECKING:
    from loguru import Message, Record

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# The record's own keys; a bound field of the same name is kept under ``extra_<name>``.
_OWN_KEYS = ("time", "level", "message", "logger", "function", "line", "exception")


class InterceptHandler(logging.Handler):
    """Hands each standard-library record to loguru, at its level, from its caller.

    The record keeps its logger's name (``uvicorn.access``, ``arq.worker``), which
    says more than the module and is what per-logger levels match.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame: FrameType | None = logging.currentframe()
        depth = 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame, depth = frame.f_back, depth + 1

        def named(loguru_record: Record) -> None:
            loguru_record["name"] = record.name

        patched = logger.patch(named)
        patched.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def json_line(record: Mapping[str, Any]) -> str:
    """One loguru record as one JSON object (no newline inside)."""
    line: dict[str, Any] = {
        "time": record["time"].astimezone(UTC).isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "message": record["message"],
        "logger": record["name"],
        "function": record["function"],
        "line": record["line"],
    }
    for key, value in record["extra"].items():
        line[f"extra_{key}" if key in _OWN_KEYS else key] = value
    error = record["exception"]
    if error is not None:
        line["exception"] = {
            "type": error.type.__name__ if error.type else None,
            "value": str(error.value),
            "traceback": "".join(
                traceback.format_exception(error.type, error.value, error.traceback)
            ),
        }
    return json.dumps(line, default=str, ensure_ascii=False)


def _json_sink(stream: TextIO) -> Callable[[Message], None]:
    def write(message: Message) -> None:
        stream.write(json_line(message.record) + "\n")
        stream.flush()

    return write


def configure_logging(
    *,
    level: str = "INFO",
    log_format: LogFormat = "text",
    levels: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Send loguru and the standard library to ``stream`` (stderr) in ``log_format``.

    ``levels`` lets a named logger through below ``level`` (the worker keeps
    arq's job log at INFO).
    """
    target = stream or sys.stderr
    by_name: dict[str, str] = {"": level, **(levels or {})}
    filters: dict[str | None, str | int | bool] = {name: lvl for name, lvl in by_name.items()}
    logger.remove()
    # No variable values in tracebacks (loguru's ``diagnose``): a frame's locals may
    # hold a secret in the clear, e.g. the database driver's connection string.
    if log_format == "json":
        logger.add(_json_sink(target), level=0, filter=filters, format="{message}", diagnose=False)
    else:
        logger.add(target, level=0, filter=filters, diagnose=False)
    # The standard library filters first, at the lowest level anything may pass, so
    # that libraries' DEBUG chatter is not formatted only to be dropped (loguru's
    # level numbers are the standard library's).
    lowest = min(logger.level(name).no for name in by_name.values())
    logging.basicConfig(handlers=[InterceptHandler()], level=lowest, force=True)
    for name, named_level in (levels or {}).items():
        logging.getLogger(name).setLevel(logger.level(named_level).no)
    if log_format == "json":
        # Under ``uvicorn server:app`` uvicorn gave its loggers text handlers of their own
        # before importing us: send them through loguru too.
        for name in UVICORN_LOGGERS:
            named = logging.getLogger(name)
            named.handlers.clear()
            named.propagate = True
