"""Structured logs (structlog): JSON lines in production, readable lines on a console."""

from __future__ import annotations

import logging
import sys
import textwrap
import traceback
from typing import TextIO

import structlog
from structlog.typing import ExcInfo

from hsm import HsmError
from server.db.engine import error_facts

# An exception's message may quote data: a driver's "Key (email)=(...) already exists", a
# KeyError's key, a customer's address in a domain error, a parser's view of an imported
# file. Only the HSM layer's messages are written never to (its tests check that no PIN
# appears): every other message is withheld; the frames say where it happened.
_TOLD = (HsmError,)
_WITHHELD = "(message withheld: it may quote data)"


def _headline(exc: BaseException) -> str:
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    if isinstance(exc, _TOLD):
        return f"{name}: {exc}"
    facts = error_facts(exc)  # a database error: what it is, without the driver's text
    if facts:
        return f"{name}: " + ", ".join(f"{k}={v}" for k, v in facts.items()) + f" {_WITHHELD}"
    return f"{name} {_WITHHELD}"


def safe_traceback(exc_info: ExcInfo) -> str:
    """A traceback as Python prints it, for the exception, those it was raised from or
    during, and the members of an exception group, with no local variables and no message
    that may quote data (see `_TOLD`)."""
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
        if isinstance(exc, BaseExceptionGroup):
            members = exc.exceptions
            for number, member in enumerate(members, start=1):
                parts.append(f"+---------------- {number} of {len(members)} ----------------\n")
                member_info = (type(member), member, member.__traceback__)
                parts.append(textwrap.indent(safe_traceback(member_info), "| "))
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
    # `uvicorn server.asgi:app` gives uvicorn's loggers handlers of their own (plain text,
    # every exception message) before the application is loaded: theirs go through here too
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
