"""ASGI entry point for process managers: `uvicorn server.asgi:app` (settings from OTP_*)."""

from server.app import create_app, settle_process
from server.logging import configure_logging
from server.settings import Settings

_settings = Settings()
configure_logging(_settings.log_format, _settings.log_level)
app = create_app(_settings)
settle_process()
