"""Typed settings, read from `OTP_*` environment variables only when asked (never at import)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hsm import HsmConfig


class Settings(BaseSettings):
    """Everything the server can be told. Defaults are the embedded `make run` set-up."""

    model_config = SettingsConfigDict(env_prefix="OTP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    var_dir: Path = Path("var")

    hsm_module: Path = Path("/usr/lib/softhsm/libsofthsm2.so")
    hsm_token_label: str = "otp-server"  # noqa: S105 - a label, not a secret
    hsm_pin: SecretStr | None = Field(default=None, repr=False)
    hsm_pin_file: Path | None = Path("var/secrets/otp-server.user-pin")
    hsm_seed_cache_size: int = 4096
    hsm_reconnect_interval: float = 1.0

    database_url: str = "sqlite:///var/otp.sqlite3"

    totp_window: int = 1
    hotp_look_ahead: int = 10
    lockout_threshold: int = 5
    lockout_base_seconds: float = 60.0
    lockout_max_seconds: float = 3600.0
    source_failure_limit: int = 50
    source_window_seconds: int = 60
    max_body_bytes: int = 64 * 1024

    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4

    log_format: Literal["console", "json"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def hsm_config(self) -> HsmConfig:
        """The HSM configuration; the PIN comes from `hsm_pin` or else `hsm_pin_file`.

        A missing PIN file is not an error here: the HSM is then unavailable, and
        /health/ready says why.
        """
        if self.hsm_pin is not None:
            pin = self.hsm_pin.get_secret_value()
        elif self.hsm_pin_file is not None and self.hsm_pin_file.is_file():
            pin = self.hsm_pin_file.read_text(encoding="utf-8").strip()
        else:
            pin = ""
        return HsmConfig(
            module=self.hsm_module,
            token_label=self.hsm_token_label,
            user_pin=pin,
            seed_cache_size=self.hsm_seed_cache_size,
            reconnect_interval=self.hsm_reconnect_interval,
        )
