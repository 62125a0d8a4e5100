"""`otp-admin` (`python -m server.cli`): customers, API keys, credentials, audit.

Settings come from `OTP_*` variables, as for the server. Secrets never go on the command
line: seeds and passwords are read from a file or standard input, and what is generated
(passwords, API keys) is shown once.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import logging
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import structlog
from sqlalchemy.exc import SQLAlchemyError

from hsm import Algorithm, Hsm, HsmError
from server.clock import system_clock
from server.db.migrate import upgrade
from server.db.models import CredentialKind
from server.domain.credentials.services import SeedImport
from server.domain.verification.purposes import Purpose
from server.errors import DomainError
from server.services import Services
from server.settings import Settings

T = TypeVar("T")


def _actor() -> str:
    try:
        return f"officer:{getpass.getuser()}"
    except (KeyError, OSError):
        return "officer:unknown"


class Context:
    """Lazily built services (so that `--help` touches neither the HSM nor the database)."""

    def __init__(self) -> None:
        self.settings = Settings()
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            hsm = Hsm(self.settings.hsm_config())
            self._services = Services.build(self.settings, hsm=hsm, clock=system_clock)
        return self._services

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.services.db.transaction() as session:
            yield session

    def close(self) -> None:
        if self._services is not None:
            self._services.hsm.close()
            self._services.db.dispose()


pass_context = click.make_pass_decorator(Context)


def _run(action: Callable[[], T]) -> T:
    """Turn domain, HSM and database errors into one-line messages (exit code 1)."""
    try:
        return action()
    except (DomainError, HsmError) as exc:
        raise click.ClickException(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"the database cannot be used: {type(getattr(exc, 'orig', None) or exc).__name__}"
        ) from exc


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Administer the OTP server: customers, relying parties, credentials and audit."""
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )
    ctx.obj = Context()
    ctx.call_on_close(ctx.obj.close)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_context
def db_upgrade(context: Context) -> None:
    """Apply every migration (safe to repeat)."""
    _run(lambda: upgrade(context.settings.database_url))
    click.echo("database is at the newest schema")


@main.group()
def customer() -> None:
    """Bank customers."""


@customer.command("add")
@click.argument("username")
@click.option("--email", required=True, help="Registered e-mail address.")
@click.option("--display-name", default="", help="Name shown on the token.")
@click.option(
    "--password-file",
    type=click.File("r"),
    default=None,
    help="Read the password from this file ('-' for stdin); default: generate one.",
)
@pass_context
def customer_add(
    context: Context, username: str, email: str, display_name: str, password_file: Any
) -> None:
    """Add a customer; a generated password is shown once."""
    generated = password_file is None
    password = secrets.token_urlsafe(12) if generated else password_file.read().strip()

    def add() -> str:
        with context.transaction() as session:
            created = context.services.customers.add(
                session, username, email, password, display_name
            )
            context.services.audit.append(
                session.connection(), _record("customer.add", created.username)
            )
            return created.username

    name = _run(add)
    click.echo(f"customer {name!r} added")
    if generated:
        click.echo(f"password (shown once): {password}")


def _record(action: str, subject: str, **details: Any) -> Any:
    from server.domain.audit.services import AuditRecord

    return AuditRecord(actor=_actor(), action=action, subject=subject, result="ok", details=details)


@main.group()
def client() -> None:
    """Relying parties (the bank's systems) and their API keys."""


@client.command("add")
@click.argument("name")
@click.option(
    "--purpose",
    "purposes",
    multiple=True,
    required=True,
    type=click.Choice([p.value for p in Purpose]),
    help="A purpose it may verify codes for (repeat the option).",
)
@pass_context
def client_add(context: Context, name: str, purposes: tuple[str, ...]) -> None:
    """Create a client and print its API key (shown once, stored only hashed)."""

    def add() -> str:
        with context.transaction() as session:
            created, key = context.services.clients.create(
                session, name, [Purpose(p) for p in purposes]
            )
            context.services.audit.append(
                session.connection(), _record("client.add", created.name, purposes=sorted(purposes))
            )
            return key

    key = _run(add)
    click.echo(f"client {name!r} added; API key (shown once):")
    click.echo(key)


@main.group()
def credential() -> None:
    """OTP credentials and the support actions on them."""


def _read_seed(source: Any, encoding: str) -> bytes:
    text = source.read().strip().replace(" ", "")
    try:
        if encoding == "hex":
            return bytes.fromhex(text)
        return base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except (ValueError, binascii.Error):
        raise click.ClickException(f"the seed is not valid {encoding}") from None


@credential.command("import")
@click.argument("username")
@click.option(
    "--seed-file",
    type=click.File("r"),
    default="-",
    show_default=True,
    help="File with the seed ('-' for stdin).",
)
@click.option(
    "--seed-format", type=click.Choice(["hex", "base32"]), default="hex", show_default=True
)
@click.option("--kind", type=click.Choice(["totp", "hotp"]), default="totp", show_default=True)
@click.option(
    "--algorithm",
    type=click.Choice([a.value for a in Algorithm]),
    default="SHA1",
    show_default=True,
)
@click.option("--digits", type=click.IntRange(6, 8), default=6, show_default=True)
@click.option("--period", type=click.IntRange(1, 600), default=60, show_default=True)
@click.option(
    "--counter",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="HOTP: the next counter value the token will use.",
)
@click.option("--serial", default=None, help="The hardware token's serial number.")
@pass_context
def credential_import(
    context: Context,
    username: str,
    seed_file: Any,
    seed_format: str,
    kind: str,
    algorithm: str,
    digits: int,
    period: int,
    counter: int,
    serial: str | None,
) -> None:
    """Wrap a known seed in the HSM and give it to a customer."""
    seed = _read_seed(seed_file, seed_format)

    def add() -> str:
        with context.transaction() as session:
            owner = context.services.customers.get(session, username)
            created = context.services.credentials.import_seed(
                session,
                owner,
                SeedImport(
                    seed=seed,
                    kind=CredentialKind(kind),
                    algorithm=Algorithm(algorithm),
                    digits=digits,
                    period=period,
                    counter=counter,
                    serial=serial,
                ),
                _actor(),
            )
            return created.public_id

    click.echo(f"credential {_run(add)} imported for {username!r}")


@credential.command("list")
@click.option("--username", default=None, help="Only this customer's credentials.")
@pass_context
def credential_list(context: Context, username: str | None) -> None:
    """List credentials: id, customer, kind, status, failures, lock."""

    def rows() -> list[str]:
        with context.transaction() as session:
            found = context.services.credentials.list(session, username)
            now = system_clock()
            lines = []
            for cred, owner in found:
                locked = ""
                if cred.locked_until and cred.locked_until > now:
                    locked = f"locked {int(cred.locked_until - now)}s"
                lines.append(
                    f"{cred.public_id}  {owner:<20} {cred.kind:<4} {cred.algorithm:<6} "
                    f"{cred.digits}d  {cred.status:<8} kek v{cred.kek_version}  "
                    f"failures {cred.failure_count}  drift {cred.drift:+d}  {locked}".rstrip()
                )
            return lines

    lines = _run(rows)
    click.echo("\n".join(lines) if lines else "no credentials")


@credential.command("unlock")
@click.argument("credential_id")
@pass_context
def credential_unlock(context: Context, credential_id: str) -> None:
    """Lift a lock-out after wrong codes."""

    def act() -> None:
        with context.transaction() as session:
            context.services.credentials.unlock(session, credential_id, _actor())

    _run(act)
    click.echo(f"credential {credential_id} unlocked")


@credential.command("revoke")
@click.argument("credential_id")
@pass_context
def credential_revoke(context: Context, credential_id: str) -> None:
    """Stop a credential for good (a lost or stolen token)."""

    def act() -> None:
        with context.transaction() as session:
            context.services.credentials.revoke(session, credential_id, _actor())

    _run(act)
    click.echo(f"credential {credential_id} revoked")


@credential.command("resync")
@click.argument("credential_id")
@click.argument("first_code")
@click.argument("second_code")
@pass_context
def credential_resync(
    context: Context, credential_id: str, first_code: str, second_code: str
) -> None:
    """Resynchronise from two consecutive codes shown by the token."""

    def act() -> int:
        with context.transaction() as session:
            return context.services.credentials.resync(
                session, credential_id, first_code, second_code, _actor()
            ).drift

    drift = _run(act)
    click.echo(f"credential {credential_id} resynchronised (drift {drift:+d} steps)")


@main.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@pass_context
def audit_verify(context: Context) -> None:
    """Check the hash chain and the HSM seal; exit 1 at the first bad event."""

    def check() -> Any:
        with context.transaction() as session:
            return context.services.audit.verify(session)

    report = _run(check)
    if not report.ok:
        click.echo(
            f"audit chain BROKEN at event {report.first_bad_seq}: {report.problem}", err=True
        )
        sys.exit(1)
    click.echo(f"audit chain OK: {report.events} events")
    if report.unsealed:
        click.echo(
            f"warning: the newest {report.unsealed} events are not sealed yet "
            "(the HSM was unavailable when they were written)"
        )
