"""`otp-admin` (`python -m server.cli`): the one tool for operators and security officers.

| group        | what                                                          | module        |
|--------------|---------------------------------------------------------------|---------------|
| `db`         | schema migrations                                             | here          |
| `customer`   | bank customers                                                | here          |
| `client`     | relying parties and their API keys                            | here          |
| `credential` | import, list, unlock, revoke, resync, assign                  | `support`     |
| `device`     | revoke a lost or stolen device                                | `support`     |
| `session`    | customers' portal sessions: list, end at once                 | `sessions`    |
| `hsm`        | a token for testers, the key hierarchy, status                | `hsm_setup`   |
| `keys`       | KEK versions, online rotation, retirement                     | `keys`        |
| `pskc`       | import of hardware-token batches (RFC 6030)                   | `pskc_import` |
| `audit`      | verify the chain, export a range, the keys' history           | `audit_trail` |

Settings come from `OTP_*` variables, as for the server. Secrets never go on the command
line: seeds, PSKC keys and passwords are read from a file or standard input, and what is
generated (passwords, API keys) is shown once.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
from typing import Any

import click
import structlog

from server.cli.audit_trail import audit_group
from server.cli.context import Context, pass_context, record, run_action
from server.cli.hsm_setup import hsm_group
from server.cli.keys import keys_group
from server.cli.pskc_import import pskc_group
from server.cli.sessions import session_group
from server.cli.support import credential, device
from server.domain.verification.purposes import Purpose
from server.domain.verification.transfers import TransactionRefused, amount_in_cents


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Administer the OTP server: customers, relying parties, credentials, HSM keys, audit."""
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
    from server.db.migrate import upgrade  # Alembic is slow to import: only for this command

    run_action(lambda: upgrade(context.settings.database_url))
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
                session.connection(), record("customer.add", created.username)
            )
            return created.username

    name = run_action(add)
    click.echo(f"customer {name!r} added")
    if generated:
        click.echo(f"password (shown once): {password}")


class _Amount(click.ParamType[int]):
    """An amount in plain decimal notation, as cents (`100.00` -> 10000)."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value)
        if re.fullmatch(r"0+(\.0+)?", text):  # every transfer above nothing
            return 0
        try:
            return amount_in_cents(text)
        except TransactionRefused as exc:
            self.fail(str(exc), param, ctx)


AMOUNT = _Amount()


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
@click.option(
    "--sign-transfers-above",
    "above",
    type=AMOUNT,
    default=None,
    help="Transfers of more than this amount (e.g. 100.00) must be signed on the token.",
)
@pass_context
def client_add(context: Context, name: str, purposes: tuple[str, ...], above: int | None) -> None:
    """Create a client and print its API key (shown once, stored only hashed)."""

    def add() -> str:
        with context.transaction() as session:
            created, key = context.services.clients.create(
                session, name, [Purpose(p) for p in purposes], sign_transfers_above=above
            )
            context.services.audit.append(
                session.connection(),
                record(
                    "client.add",
                    created.name,
                    purposes=sorted(purposes),
                    sign_transfers_above=_shown(above),
                ),
            )
            return key

    key = run_action(add)
    click.echo(f"client {name!r} added; API key (shown once):")
    click.echo(key)


@client.command("list")
@pass_context
def client_list(context: Context) -> None:
    """The clients: purposes, status, and above which amount their transfers are signed."""
    with context.transaction() as session:
        clients = context.services.clients.listed(session)
        rows = [
            (c.name, c.status, c.purposes.replace(",", " "), _shown(c.sign_transfers_above))
            for c in clients
        ]
    for name, status, purposes, above in rows:
        signing = "plain code for any transfer" if above is None else f"signed above {above}"
        click.echo(f"{name}\t{status}\t{purposes}\t{signing}")


@client.command("signing")
@click.argument("name")
@click.option("--above", type=AMOUNT, help="Transfers of more than this amount need a signature.")
@click.option("--never", is_flag=True, help="A plain code approves any transfer.")
@pass_context
def client_signing(context: Context, name: str, above: int | None, never: bool) -> None:
    """Set which of a client's transfers must be signed on the token (docs/protocol.md §6):
    a plain code for one of them is then rejected with the reason `signing_required`.
    Every server applies it within `OTP_CLIENT_CACHE_SECONDS`."""
    if (above is None) == (not never):
        raise click.UsageError("give --above AMOUNT or --never")

    def change() -> None:
        with context.transaction() as session:
            context.services.clients.require_signing(session, name, above)
            context.services.audit.append(
                session.connection(),
                record("client.signing", name, sign_transfers_above=_shown(above)),
            )

    run_action(change)
    if above is None:
        click.echo(f"client {name!r}: a plain code approves any transfer")
    else:
        click.echo(f"client {name!r}: transfers above {_shown(above)} must be signed")


def _shown(cents: int | None) -> str | None:
    return None if cents is None else f"{cents // 100}.{cents % 100:02d}"


for group in (credential, device, session_group, hsm_group, keys_group, pskc_group, audit_group):
    main.add_command(group)
