"""`otp-admin audit`: verify the chain, export a range as JSON lines, the keys' history."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click

from server.cli.context import Context, actor, pass_context, progress_bar, run_action
from server.domain.audit.anchor import AnchorFile
from server.domain.audit_export.services import AuditTrail, event_line


@click.group("audit")
def audit_group() -> None:
    """The audit trail: a hash chain whose head the HSM seals."""


@audit_group.command("verify")
@click.option(
    "--anchor",
    "anchors",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    multiple=True,
    help="an audit anchor file (each server's OTP_AUDIT_ANCHOR_FILE); may be repeated "
    "(default: this configuration's)",
)
@pass_context
def audit_verify(context: Context, anchors: tuple[Path, ...]) -> None:
    """Check the hash chain, the HSM seal and the anchors; exit 1 at the first bad event."""
    files = [AnchorFile(path) for path in anchors] or None  # None: the configured one

    def check() -> Any:
        with context.transaction() as session:
            return context.services.audit.verify(session, anchors=files)

    report = run_action(check)
    if not report.ok:
        click.echo(
            f"audit chain BROKEN at event {report.first_bad_seq}: {report.problem}", err=True
        )
        sys.exit(1)
    click.echo(f"audit chain OK: {report.events} events")


@audit_group.command("reseal")
@click.option("--yes", is_flag=True, help="Confirm that the unsealed events were reviewed.")
@pass_context
def audit_reseal(context: Context, yes: bool) -> None:
    """Seal the chain as it is now, after reviewing the events the HSM did not seal.

    Events written while the HSM was away, or a seal that does not check out, leave the
    newest events unsealed; `audit verify` then fails. Review them (`audit export`), then
    reseal: the links of the chain are checked again and the decision is audited.
    """
    if not yes:
        raise click.UsageError("review the unsealed events first, then run with --yes")

    def reseal() -> Any:
        with context.transaction() as session:
            return context.services.audit.reseal(session.connection(), actor())

    report = run_action(reseal)
    if report.ok:
        click.echo("the chain was sealed already; nothing to do")
    elif report.problem and "not sealed" in report.problem:
        click.echo(f"sealed again after {report.unsealed} unsealed events")
    else:
        click.echo(
            f"not resealed: the chain is BROKEN at event {report.first_bad_seq}: {report.problem}",
            err=True,
        )
        sys.exit(1)


@audit_group.command("export")
@click.option("--from", "first", type=click.IntRange(1), default=1, show_default=True)
@click.option("--to", "last", type=click.IntRange(1), default=None, help="[default: newest]")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="File to write (replaced atomically) [default: stdout].",
)
@pass_context
def audit_export(context: Context, first: int, last: int | None, output: Path | None) -> None:
    """Write events FROM..TO as JSON lines, every field as stored (hashes re-computable).

    Run `audit verify` first: an export copies what is there, it does not vouch for it.
    """
    trail = AuditTrail(context.services.db)
    _, newest = run_action(trail.bounds)
    last = newest if last is None else min(last, newest)
    if last < first:
        raise click.ClickException(f"no events in {first}..{last} (the newest is {newest})")

    def write(out: IO[str], advance: Callable[[], None]) -> int:
        count = 0
        for event in trail.events(first, last):
            out.write(event_line(event) + "\n")
            count += 1
            advance()
        return count

    if output is None:
        written = run_action(lambda: write(sys.stdout, lambda: None))
    else:
        with (
            click.open_file(str(output), "w", encoding="utf-8", atomic=True) as out,
            progress_bar() as progress,
        ):
            task = progress.add_task("exporting", total=last - first + 1)
            written = run_action(lambda: write(out, lambda: progress.advance(task)))
    if written != last - first + 1:
        click.echo(
            f"warning: {last - first + 1 - written} event(s) of {first}..{last} are missing: "
            "run `otp-admin audit verify`",
            err=True,
        )
    click.echo(f"exported {written} event(s), {first}..{last}", err=True)


@audit_group.command("keys")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the newest N.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@pass_context
def audit_keys(context: Context, limit: int | None, as_json: bool) -> None:
    """Who did what to the keys and the HSM: creation, rotation, re-wrapping, retirement."""
    events = run_action(lambda: AuditTrail(context.services.db).key_events(limit))
    if not events:
        click.echo("no key events")
        return
    for event in events:
        if as_json:
            click.echo(event_line(event))
            continue
        when = datetime.fromtimestamp(event.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        details = json.loads(event.details or "{}")
        shown = " ".join(f"{k}={v}" for k, v in sorted(details.items()) if k != "unreadable")
        outcome = event.result + (f" ({event.reason})" if event.reason else "")
        click.echo(
            f"{event.seq:>7}  {when}Z  {event.actor:<24} {event.action:<12} "
            f"{event.subject:<14} {outcome:<18} {shown}".rstrip()
        )
