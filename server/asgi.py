"""ASGI entry point for process managers: `uvicorn server.asgi:app` (settings from OTP_*)."""

from server.app import create_app
from server.logging import configure_logging
from server.process import pin_to_cpu, settle_process
from server.settings import Settings

_settings = Settings()
if _settings.cpu is not None:
    pin_to_cpu(_settings.cpu)
configure_logging(_settings.log_format, _settings.log_level)
app = create_app(_settings)
settle_process()
