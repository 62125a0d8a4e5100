"""`otp-admin pskc import`: load a vendor's batch of hardware-token seeds (RFC 6030)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO

import click

from server.cli.context import Context, actor, pass_context, progress_bar, run_action
from server.domain.imports.pskc import (
    MAX_PSKC_BYTES,
    Password,
    PreSharedKey,
    Protection,
    read_pskc,
)
from server.domain.imports.services import ImportPlan, ImportRefused


@click.group("pskc")
def pskc_group() -> None:
    """PSKC files (RFC 6030): seeds of hardware tokens bought from a vendor."""


@pskc_group.command("import")
@click.argument("pskc_file", type=click.File("rb"))
@click.option(
    "--key-file",
    type=click.File("r"),
    default=None,
    help="File with the pre-shared key in hex ('-' for stdin).",
)
@click.option(
    "--password-file",
    type=click.File("r"),
    default=None,
    help="File with the password of a PBKDF2-protected file ('-' for stdin).",
)
@click.option(
    "--assign",
    "assign",
    multiple=True,
    metavar="SERIAL=USERNAME",
    help="Give the token with this serial number to this customer (repeat the option).",
)
@click.option(
    "--assign-file",
    type=click.File("r"),
    default=None,
    help="CSV file of 'serial,username' lines ('#' starts a comment).",
)
@click.option(
    "--unassigned",
    "hold_unassigned",
    is_flag=True,
    help="Keep tokens without a customer as unassigned stock (see `credential assign`).",
)
@click.option(
    "--signer-cert",
    type=click.File("r"),
    default=None,
    help="The vendor's signing certificate (PEM, received out of band); required for a "
    "file with an XML signature, which is then checked.",
)
@click.option(
    "--allow-plaintext", is_flag=True, help="Accept a file whose seeds are not encrypted."
)
@click.option(
    "--allow-short-seeds",
    is_flag=True,
    help="Accept seeds of 80 to 120 bits (older tokens; RFC 4226 asks for 128). Each one is "
    "marked in the report and in the audit trail.",
)
@click.option("--dry-run", is_flag=True, help="Check everything and report; store nothing.")
@pass_context
def pskc_import(
    context: Context,
    pskc_file: IO[bytes],
    key_file: IO[str] | None,
    password_file: IO[str] | None,
    assign: tuple[str, ...],
    assign_file: IO[str] | None,
    hold_unassigned: bool,
    signer_cert: IO[str] | None,
    allow_plaintext: bool,
    allow_short_seeds: bool,
    dry_run: bool,
) -> None:
    """Import every key of PSKC_FILE into the HSM, all or nothing.

    HOTP, TOTP and OCRA keys (with a suite that can sign transfers: a time step, an
    alphanumeric question of 20 characters or more, no counter, PIN or session). Each seed
    is decrypted (pre-shared key: AES-CBC with an HMAC-SHA1 MAC; password: PBKDF2), its
    MAC checked, wrapped by the HSM and stored wrapped. A key that fails a check is
    reported and nothing at all is imported; a key outside its validity period
    (Policy StartDate/ExpiryDate) is skipped and reported. A signed file is read only as
    far as its signature, checked against --signer-cert, covers. Secrets are read from
    files or stdin, never from the command line.
    """
    protection = _protection(key_file, password_file)
    assignments = _assignments(assign, assign_file)
    data = pskc_file.read(MAX_PSKC_BYTES + 1)  # enough to tell that a file is too large
    certificate = signer_cert.read() if signer_cert is not None else None
    service = context.token_imports()

    def check() -> ImportPlan:
        batch = read_pskc(
            data,
            protection,
            allow_plaintext=allow_plaintext,
            signer_certificate=certificate,
            allow_short_seeds=allow_short_seeds,
        )
        return service.plan(batch, assignments, hold_unassigned=hold_unassigned)

    plan = run_action(check)
    _report(plan, dry_run)
    if dry_run:
        if not plan.importable:
            click.echo("dry run: the import would be refused; nothing stored", err=True)
            raise SystemExit(1)
        click.echo(f"dry run: {len(plan.planned)} token(s) would be imported; nothing stored")
        return
    if not plan.importable:
        raise click.ClickException(str(ImportRefused(plan)))
    with progress_bar() as progress:
        task = progress.add_task("wrapping seeds in the HSM", total=len(plan.planned))
        imported = run_action(
            lambda: service.apply(
                plan, actor(), Path(pskc_file.name).name, lambda n: progress.advance(task, n)
            )
        )
    for item in imported:
        owner = item.username or "unassigned"
        click.echo(f"  {item.serial:<20} {item.public_id}  {owner}")
    click.echo(f"imported {len(imported)} token(s) from {Path(pskc_file.name).name}")


def _protection(key_file: IO[str] | None, password_file: IO[str] | None) -> Protection | None:
    if key_file is not None and password_file is not None:
        raise click.UsageError("give either --key-file or --password-file, not both")
    if key_file is not None:
        text = key_file.read().strip().replace(" ", "")
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise click.ClickException("the pre-shared key is not valid hex") from None
        if len(key) not in (16, 24, 32):
            raise click.ClickException(
                f"the pre-shared key is {len(key)} bytes; an AES key has 16, 24 or 32"
            )
        return PreSharedKey(key)
    if password_file is not None:
        password = password_file.read().rstrip("\r\n")
        if not password:
            raise click.ClickException("the password file is empty")
        return Password(password)
    return None


def _assignments(options: tuple[str, ...], csv_file: IO[str] | None) -> dict[str, str]:
    pairs: list[tuple[str, str, str]] = []
    for option in options:
        serial, sep, username = option.partition("=")
        pairs.append((serial, username if sep else "", f"--assign {option!r}"))
    if csv_file is not None:
        lines = (line for line in csv_file if line.strip() and not line.lstrip().startswith("#"))
        for number, row in enumerate(csv.reader(lines), start=1):
            serial, username = [*(cell.strip() for cell in row), "", ""][:2]
            pairs.append((serial, username, f"line {number} of the assignment file"))
    result: dict[str, str] = {}
    for serial, username, where in pairs:
        serial, username = serial.strip(), username.strip()
        if not serial or not username:
            raise click.ClickException(f"{where}: expected SERIAL=USERNAME / serial,username")
        if result.get(serial, username) != username:
            raise click.ClickException(f"serial {serial} is assigned to two customers")
        result[serial] = username
    return result


def _report(plan: ImportPlan, dry_run: bool) -> None:
    batch = plan.batch
    keys = len(batch.tokens) + len(batch.rejected) + len(batch.skipped)
    click.echo(
        f"file: {keys} key(s), protected by "
        f"{batch.protection}, sha256 {batch.digest[:16]}..."
        + (", XML signature verified" if batch.signed else "")
    )
    verb = "would import" if dry_run or not plan.importable else "importing"
    for item in plan.planned:
        owner = item.username or ("unassigned" if plan.hold_unassigned else "(no customer)")
        made = " ".join(x for x in (item.token.manufacturer, item.token.model) if x)
        click.echo(
            f"  ok        {item.token.serial:<20} {item.token.describe():<36} -> {owner}"
            + (f"  [{made}]" if made else "")
        )
    for rejected in plan.rejected:
        click.echo(f"  REJECTED  {rejected.serial:<20} key {rejected.key_id!r}: {rejected.reason}")
    for skipped in batch.skipped:
        click.echo(f"  SKIPPED   {skipped.serial:<20} key {skipped.key_id!r}: {skipped.reason}")
    for problem in plan.problems:
        click.echo(f"  problem: {problem}")
    if plan.importable:
        click.echo(f"{verb}: {len(plan.planned)} token(s)")
