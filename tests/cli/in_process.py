"""A click console script run in the test's own process, as a fresh process would run it.

A subprocess costs a Python start and every import (about a second for `otp-admin`); in
this process a command takes milliseconds. What a separate process would have had to itself
is made so here, and checked: structlog starts from its defaults and gets the test's
configuration back afterwards (`otp-hsm` and `otp-admin` configure it for the process); the
environment is the test's plus `env` for the call only, and a command that changes it for
good, or the current directory, fails the test. SoftHSM reads `SOFTHSM2_CONF` once per
process, so a command here uses the session's token directory (tests/conftest.py) and may
not name another one.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import click
import structlog
from click.testing import CliRunner


@dataclass(frozen=True)
class Ran:
    """What a command did, in the words of `subprocess.CompletedProcess`."""

    returncode: int
    stdout: str
    stderr: str


def run_in_process(
    command: click.Command,
    args: Sequence[str],
    *,
    env: Mapping[str, str | None] | None = None,
    stdin: str | None = None,
) -> Ran:
    """`command ARGS` with `env` added to the environment and `stdin` as its input.

    An exception that escapes the command (a traceback an officer would see) fails the
    test; a `click.ClickException` or `SystemExit` is an exit code, as in a process."""
    env = dict(env or {})
    conf = env.pop("SOFTHSM2_CONF", None)
    assert conf in (None, os.environ.get("SOFTHSM2_CONF")), (
        f"SoftHSM in this process reads {os.environ.get('SOFTHSM2_CONF')}, not {conf}: "
        "a token elsewhere needs a process of its own"
    )
    environment, directory = dict(os.environ), os.getcwd()
    logging_config = structlog.get_config()
    structlog.reset_defaults()  # as a new process starts
    try:
        result = CliRunner().invoke(command, list(args), input=stdin, env=env)
    finally:
        structlog.configure(**logging_config)
    assert dict(os.environ) == environment, "the command changed this process's environment"
    assert os.getcwd() == directory, "the command changed the current directory"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            "".join(traceback.format_exception(result.exception)) + result.output
        ) from result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)
