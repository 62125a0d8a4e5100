"""`otp-admin keys`: KEK versions, online rotation (resumable), and retirement."""

from __future__ import annotations

import click

from server.cli.context import Context, actor, pass_context, progress_bar, run_action
from server.domain.keys.rules import (
    DEFAULT_BATCH,
    DEFAULT_RETIRE_GRACE,
    RotationPlan,
    RotationReport,
)


@click.group("keys")
def keys_group() -> None:
    """Seed-wrapping keys (KEKs): versions, rotation, retirement."""


@keys_group.command("list")
@pass_context
def keys_list(context: Context) -> None:
    """KEK versions on the token and how many credentials each protects."""
    usage = run_action(context.key_rotation().usage)
    for item in usage:
        where = "" if item.on_token else "  NOT ON THE TOKEN"
        current = "  current" if item.current else ""
        click.echo(f"kek v{item.version:<3} {item.total:>8} credential(s){current}{where}")


@keys_group.command("rotate")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Credentials re-wrapped per HSM call and per database transaction.",
)
@click.option(
    "--pause",
    type=click.FloatRange(0, 60),
    default=0.0,
    show_default=True,
    help="Seconds to wait between batches (leaves the HSM to the servers at busy hours).",
)
@pass_context
def keys_rotate(context: Context, batch_size: int, pause: float) -> None:
    """Create KEK n+1 and re-wrap every credential under it, while servers keep verifying.

    If a rotation was interrupted (even by kill -9), running this again resumes it instead
    of creating another KEK. Each batch is committed on its own and never overwrites a row
    that changed meanwhile. Exit status 1 if some credentials remain under an older KEK.
    """
    rotation = context.key_rotation(batch_size, pause)
    who = actor()
    plan = run_action(lambda: rotation.start(who))
    click.echo(_announce(plan))
    with progress_bar() as progress:
        task = progress.add_task(f"re-wrapping under KEK v{plan.target}", total=plan.pending)
        report = run_action(lambda: rotation.run(plan, who, lambda n: progress.advance(task, n)))
    click.echo(_summary(report))
    if report.unreadable:
        click.echo(
            f"{len(report.unreadable)} credential(s) do not unwrap under their KEK and were "
            "left as they are: " + ", ".join(report.unreadable[:20]),
            err=True,
        )
    if report.remaining:
        click.echo(
            f"{report.remaining} credential(s) are still under an older KEK: "
            "run `otp-admin keys rotate` again",
            err=True,
        )
        raise SystemExit(1)
    click.echo(
        f"every credential is under KEK v{plan.target}; retire older versions with "
        "`otp-admin keys retire VERSION` once servers have seen the new KEK "
        f"(after {int(DEFAULT_RETIRE_GRACE)} s)"
    )


def _announce(plan: RotationPlan) -> str:
    if plan.created:
        return (
            f"created KEK v{plan.target} (was v{plan.previous}); "
            f"{plan.pending} credential(s) to re-wrap"
        )
    return (
        f"resuming the rotation to KEK v{plan.target}: "
        f"{plan.pending} credential(s) still under older KEKs"
    )


def _summary(report: RotationReport) -> str:
    rate = report.rewrapped / report.seconds if report.seconds > 0 else 0.0
    return (
        f"re-wrapped {report.rewrapped} credential(s) in {report.batches} batch(es), "
        f"{report.seconds:.1f} s ({rate:,.0f}/s); skipped because they changed meanwhile: "
        f"{report.skipped}; unreadable: {len(report.unreadable)}"
    )


@keys_group.command("retire")
@click.argument("version", type=click.IntRange(1))
@click.option(
    "--grace-seconds",
    type=click.FloatRange(0),
    default=DEFAULT_RETIRE_GRACE,
    show_default=True,
    help="Refuse until the replacing KEK is this old (servers rescan keys every minute).",
)
@pass_context
def keys_retire(context: Context, version: int, grace_seconds: float) -> None:
    """Destroy an old KEK version in the HSM (audited; refusals too).

    Refused while any credential, whatever its status, is still wrapped under it, and for
    the current KEK. This cannot be undone.
    """
    rotation = context.key_rotation()
    run_action(lambda: rotation.retire(version, actor(), grace_seconds=grace_seconds))
    click.echo(f"KEK v{version} destroyed")
