"""`otp-admin hsm`: a SoftHSM2 token for testers, the key hierarchy, and the HSM's status."""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from hsm import Hsm, HsmConfig, HsmError, HsmStatus, KeyNotFound, KeyPurpose
from server.cli.context import Context, pass_context, record, run_action
from server.db.engine import database_problem
from server.domain.keys.rules import KekUsage, judge
from softhsm_config import SOFTHSM_MODULE, TokenSetupError, create_token


@click.group("hsm")
def hsm_group() -> None:
    """The HSM: a token for testers, the key hierarchy, mechanisms and key inventory."""


@hsm_group.command("init-token")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/softhsm"),
    show_default=True,
    help="Where softhsm2.conf and the token files go.",
)
@click.option("--label", default=None, help="Token label [default: OTP_HSM_TOKEN_LABEL].")
@click.option(
    "--secrets-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the PINs are kept, mode 0600 [default: DIR/../secrets].",
)
@click.option(
    "--keys/--no-keys",
    default=True,
    show_default=True,
    help="Also create the KEK, provisioning and audit keys on the token.",
)
@pass_context
def init_token(
    context: Context, directory: Path, label: str | None, secrets_dir: Path | None, keys: bool
) -> None:
    """Create a SoftHSM2 token for testers (PINs in files, never shown).

    Running it again checks the existing token's PINs and leaves it alone. A production HSM
    is initialised with its vendor's tools instead; then use `hsm init-keys`.
    """
    label = label or context.settings.hsm_token_label
    try:
        token = create_token(directory, label, secrets_dir=secrets_dir, module=SOFTHSM_MODULE)
    except TokenSetupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"token {label!r} {'created' if token.created else 'exists; its PINs open it'}")
    if keys:
        # This process has not loaded the PKCS#11 module yet: point it at the new token.
        os.environ["SOFTHSM2_CONF"] = str(token.conf_path)
        hsm = Hsm(
            HsmConfig(
                module=token.module,
                token_label=label,
                user_pin=token.user_pin(),
                so_pin=token.so_pin(),
            )
        )
        try:
            created = run_action(hsm.ensure_keys)
        finally:
            hsm.close()
        click.echo("keys created: " + ", ".join(created) if created else "keys: all present")
    click.echo("use it with:")
    click.echo(f"  export SOFTHSM2_CONF={token.conf_path}")
    click.echo(f"  export OTP_HSM_TOKEN_LABEL={label}")
    click.echo(f"  export OTP_HSM_PIN_FILE={token.user_pin_file}")
    click.echo(f"  export OTP_HSM_SO_PIN_FILE={token.so_pin_file}  # officer's tools only")
    click.echo("  # SoftHSM's files are readable by the process that uses it: fine for testing")
    click.echo("  export OTP_HSM_ACCEPT_WEAKNESSES=key-store-readable")


@hsm_group.command("init-keys")
@pass_context
def init_keys(context: Context) -> None:
    """Create whichever of KEK v1, provisioning key and audit MAC key is missing (audited)."""

    def act() -> list[str]:
        created = context.hsm.ensure_keys()
        if created:
            with context.transaction() as session:
                context.services.audit.append(
                    session.connection(),
                    record("hsm.init-keys", context.settings.hsm_token_label, created=created),
                )
        return created

    created = run_action(act)
    click.echo("created: " + ", ".join(created) if created else "all keys present")


@hsm_group.command("status")
@pass_context
def status(context: Context) -> None:
    """Show module, token, mechanisms (tried for real), keys, extraction attempts (made for
    real against a scratch seed), and credentials per KEK.

    Exits with status 1 when something needs attention: a mechanism that fails, a missing
    key, a way to get a seed out that no officer accepted, credentials wrapped under a KEK
    that is not on the token, or no database.
    """
    hsm = context.hsm
    problems: list[str] = []
    config = hsm.config
    click.echo(f"module:  {config.module}")
    info: HsmStatus | None = None
    try:
        info = hsm.status()
        click.echo(f"token:   {info.token_label} ({info.manufacturer}, {info.model})")
    except KeyNotFound as exc:
        click.echo(f"token:   {config.token_label}")
        problems.append(str(exc))
    except HsmError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("mechanisms (each tried on throw-away session objects):")
    for name, error in run_action(hsm.self_test).items():
        if error is None:
            click.echo(f"  ok      {name}")
        else:
            click.echo(f"  FAILED  {name}  ({error})")
            problems.append(f"mechanism {name} fails: {error}")
    click.echo("keys:")
    inventory = run_action(hsm.keys)
    kek_versions = sorted(k.version for k in inventory if k.purpose is KeyPurpose.SEED_WRAPPING)
    for key in inventory:
        flags = (
            "sensitive" if key.sensitive else "NOT SENSITIVE",
            "extractable" if key.extractable else "not extractable",
        )
        current = key.purpose is KeyPurpose.SEED_WRAPPING and key.version == kek_versions[-1]
        click.echo(
            f"  {key.label:<24} {key.purpose.value:<13} v{key.version:<3} {key.key_type:<15} "
            f"{', '.join(flags)}{'  (current)' if current else ''}"
        )
    if info is not None:
        if info.wrap_format is not None:
            click.echo(f"RFC 5649 wrap: {info.wrap_format.summary()}")
        click.echo("extraction attempts (as a process holding the user PIN would try):")
        for line in info.extraction.lines(info.accepted_weaknesses):
            click.echo(f"  {line}")
        reason = judge(info).reason
        if reason is not None:
            problems.append(reason)
    click.echo("credentials per KEK version:")
    try:
        usage = context.key_rotation().usage(kek_versions)
    except SQLAlchemyError as exc:
        problems.append(database_problem(exc))
        usage = []
    for line, problem in map(_usage_line, usage):
        click.echo(line)
        if problem:
            problems.append(problem)
    if problems:
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
        raise SystemExit(1)


def _usage_line(usage: KekUsage) -> tuple[str, str | None]:
    by_status = ", ".join(f"{status} {n}" for status, n in sorted(usage.credentials.items()))
    line = f"  kek v{usage.version:<3} {usage.total:>8} credential(s)"
    if by_status:
        line += f"  ({by_status})"
    if usage.current:
        line += "  current"
    problem = None
    if not usage.on_token:
        line += "  NOT ON THE TOKEN"
        problem = f"{usage.total} credential(s) are wrapped under KEK v{usage.version}, missing"
    elif not usage.current and usage.total == 0:
        line += "  (unused: can be retired)"
    return line, problem
