"""`otp-hsm`: the security officer's view of the HSM (`python -m hsm`)."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import sys
from pathlib import Path

import click
import structlog

from hsm.client import Hsm
from hsm.config import HsmConfig
from hsm.errors import HsmError
from hsm.extraction import parse_guarantees

DEFAULT_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")


def _read_pin(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise click.UsageError(f"cannot read the {what} file {path}: {exc.strerror}") from exc


def _config(
    module: Path,
    token_label: str,
    pin_file: Path | None,
    so_pin_file: Path | None,
    accepted: frozenset[str],
) -> HsmConfig:
    pin = os.environ.get("OTP_HSM_PIN")
    if pin is None:
        if pin_file is None:
            raise click.UsageError("give the user PIN in OTP_HSM_PIN or a file with --pin-file")
        pin = _read_pin(pin_file, "PIN")
    so_pin = None if so_pin_file is None else _read_pin(so_pin_file, "SO PIN")
    return HsmConfig(
        module=module,
        token_label=token_label,
        user_pin=pin,
        so_pin=so_pin,
        accepted_weaknesses=accepted,
    )


def _weaknesses(_ctx: click.Context, _param: click.Parameter, value: str) -> frozenset[str]:
    try:
        return parse_guarantees(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group()
@click.option(
    "--module",
    type=click.Path(path_type=Path),
    envvar="OTP_HSM_MODULE",
    default=DEFAULT_MODULE,
    show_default=True,
    help="PKCS#11 module.",
)
@click.option(
    "--token-label",
    envvar="OTP_HSM_TOKEN_LABEL",
    default="otp-server",
    show_default=True,
    help="Label of the token with the keys.",
)
@click.option(
    "--pin-file",
    type=click.Path(path_type=Path),
    envvar="OTP_HSM_PIN_FILE",
    default=None,
    help="File holding the user PIN (or set OTP_HSM_PIN).",
)
@click.option(
    "--so-pin-file",
    type=click.Path(path_type=Path),
    envvar="OTP_HSM_SO_PIN_FILE",
    default=None,
    help="File holding the security officer PIN: needed to make a KEK (init-keys).",
)
@click.option(
    "--accept-weaknesses",
    envvar="OTP_HSM_ACCEPT_WEAKNESSES",
    default="",
    callback=_weaknesses,
    help="Guarantees of the extraction proof accepted as missing (comma-separated): "
    "`status` then does not fail on them.",
)
@click.pass_context
def main(
    ctx: click.Context,
    module: Path,
    token_label: str,
    pin_file: Path | None,
    so_pin_file: Path | None,
    accept_weaknesses: frozenset[str],
) -> None:
    """Inspect and set up the HSM keys of the OTP server."""
    structlog.reset_defaults()  # a whole configuration: none of the server's stdlib processors
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )
    ctx.obj = lambda: _config(module, token_label, pin_file, so_pin_file, accept_weaknesses)


def _open(ctx: click.Context) -> Hsm:
    return Hsm(ctx.obj())


@main.command("init-keys")
@click.pass_context
def init_keys(ctx: click.Context) -> None:
    """Create the KEK, provisioning key pair and audit MAC key if they are missing."""
    hsm = _open(ctx)
    try:
        created = hsm.ensure_keys()
    except HsmError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        hsm.close()
    click.echo("created: " + ", ".join(created) if created else "all keys present")


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the module, the token, every key, and the extraction attempts' answers.

    Exits with status 1 when an attempt got a seed out (or an object it must not make)
    and the officer has not accepted that weakness."""
    hsm = _open(ctx)
    try:
        info = hsm.status()
    except HsmError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        hsm.close()
    click.echo(f"module:  {info.module}")
    click.echo(f"token:   {info.token_label} ({info.manufacturer}, {info.model})")
    for key in info.keys:
        flags = (
            "sensitive" if key.sensitive else "NOT SENSITIVE",
            "extractable" if key.extractable else "not extractable",
        )
        click.echo(f"  {key.label:<24} {key.key_type:<15} v{key.version}  {', '.join(flags)}")
    if info.wrap_format is not None:
        click.echo(f"RFC 5649 wrap: {info.wrap_format.summary()}")
    click.echo("extraction attempts (as a process holding the user PIN would try):")
    for line in info.extraction.lines(info.accepted_weaknesses):
        click.echo(f"  {line}")
    if info.wrap_format is not None and info.wrap_format.mechanism is None:
        click.echo("problem: no mechanism wraps as RFC 5649: nothing can be provisioned", err=True)
        raise SystemExit(1)
    if info.missing_guarantees:
        click.echo(
            "problem: seeds can leave this HSM: " + ", ".join(info.missing_guarantees), err=True
        )
        raise SystemExit(1)


@main.command("provisioning-key")
@click.option(
    "--fingerprint",
    is_flag=True,
    help="Print the key's SHA-256 fingerprint (hex) instead of the key.",
)
@click.pass_context
def provisioning_key(ctx: click.Context, fingerprint: bool) -> None:
    """Print the provisioning public key tokens are configured with.

    The key is base64url of its uncompressed P-256 point, as GET /api/v1/provisioning-key
    publishes it; --fingerprint gives the hex SHA-256 of the point instead. Either goes into
    a token's `provisioning_key` (or the emulator's --provisioning-key)."""
    hsm = _open(ctx)
    try:
        _version, point = hsm.provisioning_public_key()
    except HsmError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        hsm.close()
    if fingerprint:
        click.echo(hashlib.sha256(point).hexdigest())
    else:
        click.echo(base64.urlsafe_b64encode(point).rstrip(b"=").decode("ascii"))
