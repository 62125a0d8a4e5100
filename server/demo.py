"""`python -m server.demo`: the demo customer of `make run` (created once, then reused).

Prints where to log in, the demo customer's username and password, and where e-mails land.
The password is generated on first run and kept in `var/secrets/demo-password` (mode 0600).
"""

from __future__ import annotations

import logging
import os
import secrets
import sys

import structlog

from hsm import Hsm
from server.clock import system_clock
from server.errors import Conflict
from server.services import Services
from server.settings import Settings, SettingsError

USERNAME = "demo"


def main() -> None:
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )
    try:
        settings = Settings.from_environment()
    except SettingsError as exc:
        raise SystemExit(str(exc)) from None
    secret_file = settings.var_dir / "secrets" / "demo-password"
    secret_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if secret_file.exists():
        password = secret_file.read_text().strip()
    else:
        password = secrets.token_urlsafe(9)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password)
    hsm = Hsm(settings.hsm_config())
    services = Services.build(settings, hsm=hsm, clock=system_clock)
    try:
        with services.db.transaction() as session:
            services.customers.add(
                session, USERNAME, "demo@banco.example", password, "Cliente Demo"
            )
    except Conflict:
        pass
    finally:
        hsm.close()
        services.db.dispose()
    url = f"http://{settings.host}:{settings.port}"
    print(f"""
  Portal:   {url}/portal/   (API docs: {url}/schema)
  Customer: {USERNAME} / {password}
  E-mails:  written to {settings.outbox_dir.resolve()}/ (no SMTP server configured)
  Token:    in another terminal, `make token` starts the token emulator
""")


if __name__ == "__main__":
    main()
