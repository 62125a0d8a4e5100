"""What every `otp-admin` command shares: lazily built services, errors, actor, progress.

Nothing here touches the HSM or the database until a command asks for it, so `--help`
works anywhere. Domain, HSM and database errors become one line on stderr and exit code 1
(`run_action`); a traceback is never shown to an officer.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.exc import SQLAlchemyError

from hsm import Hsm, HsmError
from server.clock import system_clock
from server.db.engine import database_problem
from server.domain.audit.rules import AuditRecord
from server.domain.imports.services import TokenImportService
from server.domain.keys.rotation import KeyRotation
from server.domain.keys.rules import DEFAULT_BATCH
from server.domain.support.services import DeviceSupport
from server.errors import DomainError
from server.services import Services
from server.settings import Settings, SettingsError

T = TypeVar("T")


def actor() -> str:
    """`officer:<login name>`: who runs the tool, as the audit trail names them."""
    try:
        return f"officer:{getpass.getuser()}"
    except (KeyError, OSError):
        return "officer:unknown"


def record(action: str, subject: str, **details: Any) -> AuditRecord:
    """An audit record of an officer's successful action."""
    return AuditRecord(actor=actor(), action=action, subject=subject, result="ok", details=details)


class Context:
    """Lazily built services (so that `--help` touches neither the HSM nor the database)."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._services: Services | None = None
        self._hsm: Hsm | None = None

    @property
    def settings(self) -> Settings:
        """The `OTP_*` settings, read on first use."""
        if self._settings is None:
            try:
                self._settings = Settings.from_environment()
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
        return self._settings

    @property
    def hsm(self) -> Hsm:
        """The HSM, with the officer's tools (key creation, self-test), opened on first use."""
        if self._hsm is None:
            try:
                self._hsm = Hsm(self.settings.hsm_config(officer=True))
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
        return self._hsm

    @property
    def services(self) -> Services:
        """The same services the server wires, built on first use."""
        if self._services is None:
            self._services = Services.build(self.settings, hsm=self.hsm, clock=system_clock)
        return self._services

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A database session inside one transaction (committed when the block ends)."""
        with self.services.db.transaction() as session:
            yield session

    def token_imports(self) -> TokenImportService:
        """PSKC imports and the unassigned stock, on these services."""
        services = self.services
        return TokenImportService(services.db, services.hsm, services.audit, services.clock)

    def device_support(self) -> DeviceSupport:
        """Revoking devices and credentials (and the sessions they opened), on these
        services."""
        services = self.services
        return DeviceSupport(
            services.credentials, services.audit, services.clock, services.sessions
        )

    def key_rotation(self, batch_size: int = DEFAULT_BATCH, pause: float = 0.0) -> KeyRotation:
        """KEK versions, rotation and retirement, on these services."""
        services = self.services
        return KeyRotation(
            services.db,
            services.hsm,
            services.audit,
            services.clock,
            batch_size=batch_size,
            pause=pause,
        )

    def close(self) -> None:
        """Close the HSM session and the database pools, if they were opened."""
        if self._hsm is not None:
            self._hsm.close()
        if self._services is not None:
            self._services.db.dispose()


pass_context = click.make_pass_decorator(Context)


def run_action(action: Callable[[], T]) -> T:
    """Run `action`; turn domain, HSM and database errors into one-line messages (exit 1)."""
    try:
        return action()
    except (DomainError, HsmError) as exc:
        raise click.ClickException(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise click.ClickException(database_problem(exc)) from exc


def stderr() -> Console:
    """The console for progress bars and warnings (stdout stays for results)."""
    return Console(stderr=True)


def progress_bar() -> Progress:
    """A progress bar on stderr: done/total, rate, elapsed and remaining time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        transient=False,
    )
