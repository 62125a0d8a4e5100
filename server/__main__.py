"""`python -m server` / `otp-server`: run the server with uvicorn on the configured address."""

from __future__ import annotations

import click
import structlog
import uvicorn

from server.app import create_app
from server.logging import configure_logging
from server.process import pin_to_cpu, settle_process
from server.settings import Settings, SettingsError

log = structlog.get_logger("server")


@click.command()
@click.option("--host", default=None, help="Address to bind (default: OTP_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: OTP_PORT or 8000).")
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Worker processes; each opens its own HSM session.",
)
@click.option(
    "--cpu",
    type=click.IntRange(min=0),
    default=None,
    help="Keep this process on one CPU (default: OTP_CPU, or not pinned). "
    "With one process per core, give each its own.",
)
def main(host: str | None, port: int | None, workers: int, cpu: int | None) -> None:
    """Serve the OTP API, the portal and the health probes."""
    try:
        settings = Settings.from_environment()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    if cpu is not None:
        settings.cpu = cpu
    if settings.cpu is not None:
        if workers > 1:
            raise click.UsageError(
                "--cpu pins one process: run one server per CPU instead of --workers"
            )
        try:
            pin_to_cpu(settings.cpu)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--cpu / OTP_CPU") from exc
    configure_logging(settings.log_format, settings.log_level)
    if workers > 1 and settings.hsm_pin_fd is not None:
        raise click.UsageError(
            "OTP_HSM_PIN_FD is read once by one process: run one server per process "
            "instead of --workers"
        )
    allow = settings.forwarded_allow_ips()
    log.info(
        "server.client_addresses",
        x_forwarded_for_from=settings.trusted_proxies or "nobody (OTP_TRUSTED_PROXIES unset)",
    )
    if workers > 1:
        uvicorn.run(
            "server.asgi:app",
            host=settings.host,
            port=settings.port,
            workers=workers,
            factory=False,
            log_config=None,
            proxy_headers=allow is not None,
            forwarded_allow_ips=allow,
        )
    else:
        try:
            app = create_app(settings)
        except SettingsError as exc:
            raise click.UsageError(str(exc)) from None
        settle_process()
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            proxy_headers=allow is not None,
            forwarded_allow_ips=allow,
        )


if __name__ == "__main__":
    main()
