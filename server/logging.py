"""Structured logs (structlog): JSON lines in production, readable lines on a console."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import TextIO

import structlog
from sqlalchemy.exc import DBAPIError
from structlog.typing import ExcInfo

from hsm import HsmError
from server.errors import DomainError

# Their messages are written for people and never quote data: shown in tracebacks. Any
# other message may (a driver's "Key (username)=(...) already exists", a KeyError's key,
# a value in a ValueError), so only its type is logged; the frames say where it happened.
_TOLD = (DomainError, HsmError)


def _headline(exc: BaseException) -> str:
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    if isinstance(exc, _TOLD):
        return f"{name}: {exc}"
    driver = exc.orig if isinstance(exc, DBAPIError) else exc
    if hasattr(driver, "sqlstate") or hasattr(driver, "sqlite_errorname"):
        # what a database error is, without the statement, its values or the driver's text
        facts = {
            "sqlstate": getattr(driver, "sqlstate", None),
            "code": getattr(driver, "sqlite_errorname", None),
            "constraint": getattr(getattr(driver, "diag", None), "constraint_name", None),
        }
        return f"{name}: " + ", ".join(f"{k}={v}" for k, v in facts.items() if v)
    return f"{name} (message withheld: it may quote data)"


def safe_traceback(exc_info: ExcInfo) -> str:
    """A traceback as Python prints it, for the exception and those it was raised from or
    during, with no local variables and no message that may quote data (see `_TOLD`)."""
    chain: list[tuple[BaseException, str]] = []
    exc: BaseException | None = exc_info[1]
    link = ""
    while exc is not None and all(exc is not seen for seen, _ in chain):
        chain.append((exc, link))
        if exc.__cause__ is not None:
            exc, link = (
                exc.__cause__,
                "The above exception was the direct cause of the following exception:",
            )
        elif exc.__context__ is not None and not exc.__suppress_context__:
            exc, link = (
                exc.__context__,
                "During handling of the above exception, another exception occurred:",
            )
        else:
            exc = None
    parts: list[str] = []
    for position, (exc, _) in enumerate(reversed(chain)):
        if position:
            parts.append(f"\n{chain[len(chain) - position][1]}\n\n")
        if exc.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
        parts.append(_headline(exc) + "\n")
    return "".join(parts)


def _console_traceback(sio: TextIO, exc_info: ExcInfo) -> None:
    sio.write("\n" + safe_traceback(exc_info))


def configure_logging(fmt: str = "json", level: str = "info") -> None:
    """Send structlog and standard-library logs through one structured pipeline."""
    # JSON lines carry a traceback as the text of "exception"; the console prints it below
    # the line. Both are `safe_traceback`: never locals (Rich's default would show them,
    # an API key or a request's code among them), never a message that may quote data.
    renderers: list[structlog.types.Processor] = (
        [
            structlog.processors.ExceptionRenderer(safe_traceback),
            structlog.processors.JSONRenderer(),
        ]
        if fmt == "json"
        else [structlog.dev.ConsoleRenderer(exception_formatter=_console_traceback)]
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            # first: an event below the level costs nothing more (no time stamp, no copy)
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
