"""Typed settings, read from `OTP_*` environment variables only when asked (never at import)."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from hsm import HsmConfig, parse_guarantees
from server.mail import Mailer, OutboxMailer, SmtpMailer


class SettingsError(ValueError):
    """The `OTP_*` environment does not make valid settings (the message names the
    variables and the rules they break, never their values: some are secrets)."""


class Settings(BaseSettings):
    """Everything the server can be told. Defaults are the embedded `make run` set-up."""

    model_config = SettingsConfigDict(env_prefix="OTP_", extra="ignore")
    _pin_from_fd: str | None = PrivateAttr(default=None)
    _session_key: bytes | None = PrivateAttr(default=None)

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings from the `OTP_*` variables, or `SettingsError` saying what is wrong."""
        try:
            return cls()
        except ValidationError as exc:
            problems = "; ".join(
                (
                    f"OTP_{'_'.join(map(str, error['loc'])).upper()}: {error['msg']}"
                    if error["loc"]
                    else error["msg"]  # a rule over several variables names them itself
                )
                for error in exc.errors(include_url=False, include_input=False)
            )
        # outside the handler: pydantic's own message quotes the values
        raise SettingsError(f"bad settings: {problems}")

    host: str = "127.0.0.1"
    port: int = 8000
    audit_anchor_file: Path | None = None
    """Where every committed seal of the audit chain is also appended (docs/design.md §4,
    "Audit anchor"): `audit verify` then finds a database rolled back to an older head.
    Make it append-only (`chattr +a`) or ship it to a remote log; one file per process."""
    metrics_token: SecretStr | None = Field(default=None, repr=False)
    """When set, `/metrics` and `/health/ready` answer only `Authorization: Bearer <token>`
    (they name the HSM module, the token and the key versions, and count every decision);
    `/health/live` stays open. Unset: both are open, for a server bound to a private
    address."""
    trusted_proxies: str = ""
    """Comma-separated addresses or CIDRs of the load balancers in front of the server
    (e.g. "10.0.0.0/24"). Only a connection from one of them may name the client with
    `X-Forwarded-For` (the right-most address that is not a proxy counts); from anyone else
    the header is ignored. Empty: no proxy, the connection's own address is the client's.
    Every failure limit counts against that address (docs/operations.md)."""
    var_dir: Path = Path("var")

    hsm_module: Path = Path("/usr/lib/softhsm/libsofthsm2.so")
    hsm_token_label: str = "otp-server"  # noqa: S105 - a label, not a secret
    hsm_pin: SecretStr | None = Field(default=None, repr=False)
    hsm_pin_file: Path | None = Path("var/secrets/otp-server.user-pin")
    hsm_pin_fd: int | None = Field(default=None, ge=0)
    """Read the user PIN from this open file descriptor once at start, then close it
    (`otp-server 3<pin-file`, or a pipe from a secret store): the PIN is then in no file
    the process can read again, nor in its environment. One process per server."""
    hsm_pin_credential: str | None = None
    """Read the user PIN from the systemd credential of this name
    (`LoadCredential=NAME:/etc/otp/hsm-pin` in the unit: systemd puts it, readable by the
    service only, under $CREDENTIALS_DIRECTORY)."""
    hsm_so_pin_file: Path | None = None
    """The security officer's PIN, for `otp-admin hsm init-keys` and KEK rotation only (a
    KEK is made trusted by the officer: docs/hsm.md). Never give it to `otp-server`."""
    hsm_accept_weaknesses: str = ""
    """Comma-separated guarantees of the HSM's extraction proof (docs/hsm.md) that the
    security officer accepts as missing on this HSM, e.g. "wrap-out" on an HSM that wraps
    out keys marked not extractable. Each is logged and audited when the server finds it;
    any other missing guarantee keeps the server unready."""
    hsm_kek_without_officer: bool = False
    """For an HSM whose security officer cannot make keys (NSS softokn): KEKs are made by
    the user's session and not trusted (docs/hsm.md); the extraction proof says what that
    lets out."""
    hsm_seed_cache_size: int = 4096
    hsm_reconnect_interval: float = 1.0
    hsm_call_timeout: float = Field(default=10.0, gt=0)
    """Seconds before an HSM call that does not return counts as the HSM being unavailable."""

    database_url: str = "sqlite:///var/otp.sqlite3"

    totp_window: int = 1
    hotp_look_ahead: int = 10
    max_drift: int = Field(default=10, ge=0)
    """The most time steps a credential's learnt drift may reach (beyond: officer resync)."""
    unknown_user_retention_seconds: float = Field(default=90 * 86400, gt=0)
    """How long untouched guessing budgets (and those of usernames that do not exist) are
    kept; a budget untouched that long is full again anyway."""
    guess_burst: int = Field(default=5, ge=1)
    """Wrong codes a guessing budget takes in a row (docs/design.md §4)."""
    guess_success_per_year: float = Field(default=0.01, gt=0, lt=1)
    """The budgets are cut so that an attacker evaluating every guess they allow, all year,
    hits a valid code with at most this chance."""
    familiar_context_days: int = Field(default=90, ge=1)
    """How long a relying party's context where the customer got in keeps its own budget."""
    signing_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    """The currency transfers are signed in (ISO 4217, with cents): a signature over an
    amount in another is refused (docs/protocol.md §6)."""
    source_failure_limit: int = 50
    source_window_seconds: int = 60
    cpu: int | None = Field(default=None, ge=0)
    """Keep the server process on this CPU (see `server.process.pin_to_cpu`): with one
    process per core, give each its own. Unset, the kernel moves its threads around."""
    verify_max_batch: int = Field(default=64, ge=1, le=1000)
    """The most verify requests decided together in one transaction (group commit)."""
    max_body_bytes: int = 64 * 1024
    client_cache_seconds: float = 5.0
    """How long a process trusts a relying party read from the database (a revoked API key
    stops working within this time); 0 reads it on every request."""

    issuer: str = "Banco Demo"
    """The bank's name, shown on tokens and in e-mails."""
    smtp_host: str | None = None
    """Without an SMTP host, e-mails are written as .eml files under `outbox_dir`."""
    smtp_port: int = 587
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = Field(default=None, repr=False)
    mail_sender: str = "no-reply@banco.example"
    outbox_dir: Path = Path("var/outbox")
    email_code_digits: int = 8
    enrollment_ttl_seconds: int = 600
    registrations_per_hour: int = Field(default=5, ge=1)
    """Self-registrations a customer may start in an hour."""
    email_code_attempts: int = 5
    activation_code_attempts: int = 3
    request_clock_skew_seconds: int = 300

    session_secret: SecretStr | None = Field(default=None, repr=False)
    """Key of the portal's CSRF tokens (hex, 32 bytes). When unset it is read from
    `session_secret_file`, which is created on first use; every process behind one load
    balancer needs the same key. (The sessions themselves are rows in the database.)"""
    session_secret_file: Path = Path("var/secrets/portal-session.key")
    portal_insecure_cookies: bool = False
    """Portal cookies without `Secure` and the `__Host-` prefix, and no HSTS: for plain
    HTTP on loopback only (`make run`); the server warns at start. By default the site is
    taken to be served over TLS."""
    portal_idle_seconds: int = Field(default=900, gt=0)
    """A portal session unused this long ends."""
    portal_max_seconds: int = Field(default=8 * 3600, gt=0)
    """A portal session ends this long after its login, however busy."""
    portal_login_failures: int = 10
    portal_login_window_seconds: int = 900

    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4

    log_format: Literal["console", "json"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("hsm_pin_credential")
    @classmethod
    def _credential_name(cls, value: str | None) -> str | None:
        if value is not None and not _CREDENTIAL_NAME.fullmatch(value):
            raise ValueError("a systemd credential name: letters, digits, '.', '_', '-'")
        return value

    @model_validator(mode="after")
    def _one_pin_source(self) -> Settings:
        given = [
            name
            for name, value in (
                ("OTP_HSM_PIN", self.hsm_pin),
                ("OTP_HSM_PIN_FD", self.hsm_pin_fd),
                ("OTP_HSM_PIN_CREDENTIAL", self.hsm_pin_credential),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give the HSM PIN one way, not {' and '.join(given)}")
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in _items(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an address or a CIDR") from None
        return value

    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The trusted proxies as networks (none: `X-Forwarded-For` is never read)."""
        return tuple(ipaddress.ip_network(i, strict=False) for i in _items(self.trusted_proxies))

    def forwarded_allow_ips(self) -> str | None:
        """uvicorn's `forwarded_allow_ips` for `trusted_proxies`; None: read no proxy header
        (uvicorn's own default trusts 127.0.0.1: anything on the host could choose its
        address)."""
        return ",".join(map(str, self.proxy_networks())) or None

    @field_validator("hsm_accept_weaknesses")
    @classmethod
    def _known_guarantees(cls, value: str) -> str:
        parse_guarantees(value)  # raises ValueError naming what is unknown
        return value

    def mailer(self) -> Mailer:
        """SMTP when `smtp_host` is set, else the outbox directory."""
        if self.smtp_host is None:
            return OutboxMailer(self.outbox_dir, self.mail_sender)
        password = self.smtp_password.get_secret_value() if self.smtp_password else None
        return SmtpMailer(
            self.smtp_host,
            self.smtp_port,
            self.mail_sender,
            security=self.smtp_security,
            username=self.smtp_username,
            password=password,
        )

    def session_key(self) -> bytes:
        """The 32-byte portal session key (created, mode 0600, if the file is missing), read
        once: the portal's challenges ask for it on every such page."""
        if self._session_key is None:
            self._session_key = self._read_session_key()
        return self._session_key

    def _read_session_key(self) -> bytes:
        if self.session_secret is not None:
            return bytes.fromhex(self.session_secret.get_secret_value())
        path = self.session_secret_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())

    def hsm_pin_value(self) -> str:
        """The user PIN from, in this order: `hsm_pin`, `hsm_pin_fd`, `hsm_pin_credential`,
        `hsm_pin_file`; "" when none gives one (the HSM is then unavailable, and
        /health/ready says why).

        Raises:
            SettingsError: the descriptor cannot be read, or systemd passed no credential.
        """
        if self.hsm_pin is not None:
            return self.hsm_pin.get_secret_value()
        if self.hsm_pin_fd is not None:
            if self._pin_from_fd is None:
                self._pin_from_fd = _read_descriptor(self.hsm_pin_fd)
            return self._pin_from_fd
        if self.hsm_pin_credential is not None:
            return _read_credential(self.hsm_pin_credential)
        if self.hsm_pin_file is not None and self.hsm_pin_file.is_file():
            return self.hsm_pin_file.read_text(encoding="utf-8").strip()
        return ""

    def hsm_config(self, *, officer: bool = False) -> HsmConfig:
        """The HSM configuration, with the PIN from `hsm_pin_value`; the security
        officer's PIN (`hsm_so_pin_file`) only for the officer's tools (`officer`): a
        server never reads it."""
        pin = self.hsm_pin_value()
        so_pin = None
        if officer and self.hsm_so_pin_file is not None and self.hsm_so_pin_file.is_file():
            so_pin = self.hsm_so_pin_file.read_text(encoding="utf-8").strip()
        return HsmConfig(
            module=self.hsm_module,
            token_label=self.hsm_token_label,
            user_pin=pin,
            so_pin=so_pin,
            accepted_weaknesses=parse_guarantees(self.hsm_accept_weaknesses),
            kek_without_officer=self.hsm_kek_without_officer,
            seed_cache_size=self.hsm_seed_cache_size,
            reconnect_interval=self.hsm_reconnect_interval,
            call_timeout=self.hsm_call_timeout,
        )


_CREDENTIAL_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _read_descriptor(fd: int) -> str:
    try:
        with os.fdopen(fd, "rb", closefd=True) as handle:
            raw = handle.read()
    except OSError as exc:
        raise SettingsError(
            f"OTP_HSM_PIN_FD: cannot read the PIN from file descriptor {fd} ({exc.strerror})"
        ) from None
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SettingsError(f"OTP_HSM_PIN_FD: descriptor {fd} holds no UTF-8 text") from None


def _read_credential(name: str) -> str:
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise SettingsError(
            "OTP_HSM_PIN_CREDENTIAL: systemd passed no credentials ($CREDENTIALS_DIRECTORY "
            f"is not set); give the unit LoadCredential={name}:/path/of/the/pin"
        )
    path = Path(directory) / name
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(
            f"OTP_HSM_PIN_CREDENTIAL: cannot read the credential {name!r} ({exc.strerror})"
        ) from None


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
