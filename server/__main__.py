"""`python -m server` / `otp-server`: run the server with uvicorn on the configured address."""

from __future__ import annotations

import click
import uvicorn

from server.app import create_app, settle_process
from server.logging import configure_logging
from server.settings import Settings


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
def main(host: str | None, port: int | None, workers: int) -> None:
    """Serve the OTP API, the portal and the health probes."""
    settings = Settings()
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    configure_logging(settings.log_format, settings.log_level)
    if workers > 1:
        uvicorn.run(
            "server.asgi:app",
            host=settings.host,
            port=settings.port,
            workers=workers,
            factory=False,
            log_config=None,
        )
    else:
        app = create_app(settings)
        settle_process()
        uvicorn.run(app, host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
