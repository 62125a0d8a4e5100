"""ASGI entry point for process managers: `uvicorn server.asgi:app` (settings from OTP_*).

With OTP_CPU set, every process that loads this module pins itself to that CPU: under a
manager that starts several workers with one environment, leave it unset (or pin each
worker with the manager's own means)."""

from server.app import create_app
from server.logging import configure_logging
from server.process import pin_to_cpu, settle_process
from server.settings import Settings, SettingsError

try:
    _settings = Settings.from_environment()
except SettingsError as _exc:
    raise SystemExit(str(_exc)) from None
if _settings.cpu is not None:
    try:
        pin_to_cpu(_settings.cpu)
    except ValueError as exc:
        raise SystemExit(f"OTP_CPU: {exc}") from exc
configure_logging(_settings.log_format, _settings.log_level)
try:
    app = create_app(_settings)
except SettingsError as _exc:
    raise SystemExit(str(_exc)) from None
settle_process()
