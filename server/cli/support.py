"""Customer support: credentials (import, list, unlock, revoke, resync, assign) and devices."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import click

from hsm import MIN_IMPORTED_SEED, Algorithm
from server.cli.context import Context, actor, pass_context, run_action
from server.db.models import Credential, CredentialKind
from server.domain.credentials.rules import SeedImport
from server.domain.customers.rules import normalise_username


@click.group()
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
@click.option(
    "--period",
    type=click.IntRange(1, 600),
    default=60,
    show_default=True,
    help="TOTP time step in seconds. This product's tokens use 60; oathtool and most "
    "authenticator apps use 30: give the token's own.",
)
@click.option(
    "--counter",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="HOTP: the next counter value the token will use.",
)
@click.option("--serial", default=None, help="The hardware token's serial number.")
@click.option(
    "--allow-short-seed",
    is_flag=True,
    help="Accept a seed of 80 to 120 bits (older tokens; RFC 4226 asks for 128); the audit "
    "event records it.",
)
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
    allow_short_seed: bool,
) -> None:
    """Wrap one known seed in the HSM and give it to a customer (batches: `pskc import`).

    The output states the parameters stored (kind, algorithm, digits, TOTP period or HOTP
    counter): codes are checked with exactly these.
    """
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
                    allow_short_seed=allow_short_seed,
                ),
                actor(),
            )
            return created.public_id

    public_id = run_action(add)
    what = f"period {period} s" if kind == "totp" else f"next counter {counter}"
    short = f", SHORT SEED ({len(seed) * 8} bits, audited)" if len(seed) < MIN_IMPORTED_SEED else ""
    click.echo(
        f"credential {public_id} imported for {username!r}: "
        f"{kind} {algorithm} {digits} digits, {what}{short}"
    )


@credential.command("list")
@click.option("--username", default=None, help="Only this customer's credentials.")
@click.option(
    "--unassigned", is_flag=True, help="Only imported tokens no customer holds yet (by serial)."
)
@pass_context
def credential_list(context: Context, username: str | None, unassigned: bool) -> None:
    """List credentials: id, customer, kind, status, KEK version, guesses left, lock."""
    if unassigned and username:
        raise click.UsageError("--unassigned and --username exclude each other")

    def rows() -> list[str]:
        with context.transaction() as session:
            if unassigned:
                return [
                    f"{c.public_id}  serial {c.serial:<20} {c.kind:<4} {c.algorithm:<6} "
                    f"{c.digits}d  kek v{c.kek_version}{_suite(c)}"
                    for c in context.token_imports().unassigned(session)
                ]
            found = context.services.credentials.list(session, username)
            lines = []
            for cred, owner in found:
                assert cred.id is not None  # noqa: S101 - a stored row
                levels = context.services.verification.budget_levels(
                    cred.id, cred.kind, cred.digits
                )
                guesses = " ".join(f"{pool} {left:.1f}" for pool, (left, _) in levels.items())
                locked = " ".join(
                    f"locked {pool} {int(wait)}s" for pool, (_, wait) in levels.items() if wait
                )
                serial = f"serial {cred.serial}  " if cred.serial else ""
                lines.append(
                    f"{cred.public_id}  {owner:<20} {cred.kind:<4} {cred.algorithm:<6} "
                    f"{cred.digits}d  {cred.status:<10} kek v{cred.kek_version}  {serial}"
                    f"guesses {guesses}  drift {cred.drift:+d}{_suite(cred)}  {locked}".rstrip()
                )
            return lines

    lines = run_action(rows)
    click.echo("\n".join(lines) if lines else "no credentials")


def _suite(credential: Credential) -> str:
    """An OCRA credential's suite, for a listing ("" for the others)."""
    return f"  suite {credential.ocra_suite}" if credential.kind == CredentialKind.OCRA else ""


@credential.command("assign")
@click.argument("serial")
@click.argument("username")
@pass_context
def credential_assign(context: Context, serial: str, username: str) -> None:
    """Give an unassigned imported token (by serial number) to a customer."""

    def act() -> str:
        with context.transaction() as session:
            return context.token_imports().assign(session, serial, username, actor()).public_id

    click.echo(f"token {serial} ({run_action(act)}) assigned to {normalise_username(username)!r}")


@credential.command("unlock")
@click.argument("credential_id")
@pass_context
def credential_unlock(context: Context, credential_id: str) -> None:
    """Lift a lock-out after wrong codes."""

    def act() -> None:
        with context.transaction() as session:
            context.services.credentials.unlock(session, credential_id, actor())

    run_action(act)
    click.echo(f"credential {credential_id} unlocked")


@credential.command("revoke")
@click.argument("credential_id")
@pass_context
def credential_revoke(context: Context, credential_id: str) -> None:
    """Stop a credential for good (a lost or stolen token); the customer's portal
    sessions end with it."""

    def act() -> int:
        with context.transaction() as session:
            return context.device_support().revoke_credential(session, credential_id, actor())

    ended = run_action(act)
    click.echo(f"credential {credential_id} revoked; portal sessions ended: {ended}")


@credential.command("resync")
@click.argument("credential_id")
@click.argument("first_code")
@click.argument("second_code")
@pass_context
def credential_resync(
    context: Context, credential_id: str, first_code: str, second_code: str
) -> None:
    """Resynchronise from two consecutive codes shown by the token (TOTP and HOTP; an OCRA
    credential shows no codes)."""

    def act() -> int:
        with context.transaction() as session:
            return context.services.credentials.resync(
                session, credential_id, first_code, second_code, actor()
            ).drift

    drift = run_action(act)
    click.echo(f"credential {credential_id} resynchronised (drift {drift:+d} steps)")


@click.group()
def device() -> None:
    """Customers' devices (hardware tokens and emulators), by the device ID they show."""


@device.command("revoke")
@click.argument("device_id")
@pass_context
def device_revoke(context: Context, device_id: str) -> None:
    """Revoke every active credential bound to a lost or stolen device, and the device;
    its customer's portal sessions end with them."""

    def act() -> list[str]:
        with context.transaction() as session:
            return context.device_support().revoke(session, device_id, actor())

    revoked = run_action(act)
    click.echo(f"device {device_id} revoked; credentials revoked: {len(revoked)}")
    for public_id in revoked:
        click.echo(f"  {public_id}")
