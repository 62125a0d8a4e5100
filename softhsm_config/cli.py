"""`softhsm-token`: make a SoftHSM2 token for testers in one command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

import click

from softhsm_config.token import SOFTHSM_MODULE, TokenSetupError, create_token


@click.group()
def main() -> None:
    """Create and inspect SoftHSM2 tokens for development and tests."""


@main.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=Path("var/softhsm"),
    show_default=True,
    help="Directory for softhsm2.conf and the token files.",
)
@click.option("--label", default="otp-server", show_default=True, help="Token label.")
@click.option(
    "--so-pin-file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="File holding the security officer PIN ('-' for stdin). Also SOFTHSM_SO_PIN; "
    "default: kept in the secrets dir, or generated. PINs are never taken as arguments.",
)
@click.option(
    "--pin-file",
    "user_pin_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="File holding the user PIN ('-' for stdin). Also SOFTHSM_USER_PIN; "
    "default: kept in the secrets dir, or generated.",
)
@click.option(
    "--secrets-dir",
    type=click.Path(path_type=Path),
    default=Path("var/secrets"),
    show_default=True,
    help="Where the PINs are written, mode 0600.",
)
@click.option(
    "--module",
    type=click.Path(path_type=Path),
    default=SOFTHSM_MODULE,
    show_default=True,
    help="The SoftHSM2 PKCS#11 module.",
)
def init(
    directory: Path,
    label: str,
    so_pin_file: TextIO | None,
    user_pin_file: TextIO | None,
    secrets_dir: Path,
    module: Path,
) -> None:
    """Create the token if it is missing; check its PINs if it exists."""
    so_pin = _pin(so_pin_file, "SOFTHSM_SO_PIN")
    user_pin = _pin(user_pin_file, "SOFTHSM_USER_PIN")
    try:
        token = create_token(
            directory,
            label,
            so_pin=so_pin,
            user_pin=user_pin,
            secrets_dir=secrets_dir,
            module=module,
        )
    except TokenSetupError as exc:
        raise click.ClickException(str(exc)) from exc
    verb = "created" if token.created else "already present, PINs checked"
    click.echo(f"token {token.label!r} {verb}")
    click.echo(f"  user PIN file: {token.user_pin_file}")
    click.echo(f"  SO PIN file:   {token.so_pin_file}")
    click.echo(f"export SOFTHSM2_CONF={token.conf_path}")


def _pin(source: TextIO | None, variable: str) -> str | None:
    """A PIN from its file (first line) or its environment variable, else None."""
    if source is not None:
        return source.readline().strip() or None
    return os.environ.get(variable) or None
