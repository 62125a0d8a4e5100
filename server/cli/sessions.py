"""`otp-admin session`: customers' portal sessions — list them, and end them at once (a
customer who reports a stolen laptop, or every customer after an incident)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from server.cli.context import Context, actor, pass_context, run_action


@click.group("session")
def session_group() -> None:
    """Customers' portal sessions."""


@session_group.command("list")
@click.argument("username")
@pass_context
def session_list(context: Context, username: str) -> None:
    """List a customer's open portal sessions: id, since, last used, browser, address."""

    def rows() -> list[str]:
        services = context.services
        with context.transaction() as session:
            customer = services.customers.get(session, username)
        return [
            f"{view.public_id}  since {_utc(view.created_at)}  last used "
            f"{_utc(view.last_seen_at)}  {view.user_agent}  {view.client_address or '-'}"
            for view in services.sessions.of_customer(customer)
        ]

    lines = run_action(rows)
    click.echo("\n".join(lines) if lines else "no open sessions")


@session_group.command("end")
@click.option("--customer", "username", default=None, help="End this customer's sessions.")
@click.option("--all", "everyone", is_flag=True, help="End every customer's sessions.")
@pass_context
def session_end(context: Context, username: str | None, everyone: bool) -> None:
    """End portal sessions at once: one customer's (--customer USER) or everyone's
    (--all). The next request of each is refused, on every server; audited as
    `session.end`."""
    if (username is None) == (not everyone):
        raise click.UsageError("give either --customer USER or --all")

    def act() -> tuple[str, int]:
        services = context.services
        with context.transaction() as session:
            customer = None if everyone else services.customers.get(session, username or "")
            ended = services.sessions.end_by_officer(session.connection(), actor(), customer)
        return ("every customer" if customer is None else repr(customer.username)), ended

    whose, ended = run_action(act)
    click.echo(f"portal sessions ended ({whose}): {ended}")


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
