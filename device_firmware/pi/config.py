"""The token's configuration on the Pi: one TOML file, `/etc/otp-token/config.toml` by default.

Every key is optional except `server_url` and, for a bank's URL, `provisioning_key`;
`config.example.toml` beside this module shows them all with their defaults. Unknown keys are
refused (a typo must not silently leave a default), and every value is checked here, so a bad
file fails at start-up with the key's name rather than deep inside a driver or an enrolment::

    server_url = "https://otp.bank.example"   # the bank; "demo:" = an in-memory demo bank
    provisioning_key = "BJa_wQ..."    # the bank's published key, or its SHA-256 fingerprint
    allow_trust_on_first_use = false  # development only, instead of provisioning_key
    vault_dir = "/var/lib/otp-token"
    pin_attempts = 1

    [keypad]
    layout = "4x4"                    # or "4x3"; or keys = ["123A", "456B", "789C", "*0#D"]
    rows = [5, 6, 13, 19]             # BCM numbers, top row first
    columns = [12, 16, 20, 21]        # BCM numbers, left column first
    debounce = 0.03                   # seconds a contact must be steady
    scan_interval = 0.01
    hold_time = 0.8
    [keypad.hold]                     # keys that mean another key when held (4x3 default)
    "*" = "C"

    [display]
    driver = "ssd1306"                # or "sh1106"
    bus = "i2c"                       # or "spi"
    i2c_port = 1
    i2c_address = 0x3C
    rotate = 0                        # 0 or 2 (180°)
    blank_after = 60                  # seconds without a key before the screen goes dark

    [clock]
    source = "auto"                   # "auto", "ntp", "rtc" or "trust"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from device_firmware.core.keys import Key
from device_firmware.link.pinning import ProvisioningTrust
from device_firmware.pi.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/otp-token/config.toml")
DEFAULT_VAULT_DIR = Path("/var/lib/otp-token")
DEFAULT_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

LAYOUTS: dict[str, tuple[str, ...]] = {
    "4x4": ("123A", "456B", "789C", "*0#D"),
    "4x3": ("123", "456", "789", "*0#"),
}
# A 4x3 keypad has no A-D: holding a key stands in for them (see docs/pi.md, the key card).
HOLD_PRESETS: dict[str, dict[str, str]] = {
    "4x4": {},
    "4x3": {"*": "C", "#": "D", "2": "A", "8": "B"},
}
DEFAULT_ROWS = (5, 6, 13, 19)
DEFAULT_COLUMNS = (12, 16, 20, 21)
BCM_PINS = range(28)
DRIVERS = ("ssd1306", "sh1106")
BUSES = ("i2c", "spi")
ROTATIONS = (0, 2)  # the layout is landscape: upright or upside down
CLOCK_SOURCES = ("auto", "ntp", "rtc", "trust")
BANK_SCHEMES = ("https://", "http://")

T = TypeVar("T")


@dataclass(frozen=True)
class KeypadConfig:
    """The matrix keypad: wiring, printed layout, timing.

    Attributes:
        rows: BCM pin of each row, top first (driven low one at a time while scanning).
        columns: BCM pin of each column, left first (inputs with pull-ups).
        keys: the characters printed on the keypad, one string per row.
        hold: keys that give another key when held for `hold_time` (on a 4x3 keypad, the
            keys it lacks); such a key's own event comes when it is released.
        debounce: seconds a contact must read the same before it counts.
        scan_interval: seconds between two scans of the matrix.
        hold_time: seconds a key of `hold` must be held to give its other key.
    """

    rows: tuple[int, ...] = DEFAULT_ROWS
    columns: tuple[int, ...] = DEFAULT_COLUMNS
    keys: tuple[str, ...] = LAYOUTS["4x4"]
    hold: Mapping[Key, Key] = field(default_factory=dict)
    debounce: float = 0.03
    scan_interval: float = 0.01
    hold_time: float = 0.8

    def __post_init__(self) -> None:
        _check_layout(self)


@dataclass(frozen=True)
class DisplayConfig:
    """The OLED: driver, bus, orientation, blanking, fonts.

    Attributes:
        driver: "ssd1306" or "sh1106" (many 1.3" boards sold as SSD1306 are SH1106).
        bus: "i2c" or "spi".
        i2c_port: the I2C bus number (1 on every Pi since the model B rev 2).
        i2c_address: the display's I2C address (0x3C, or 0x3D with the jumper moved).
        spi_port: the SPI bus (0: CE pins 8/7).
        spi_device: the chip select on that bus (0: CE0, BCM 8).
        spi_dc: BCM pin of the data/command line (SPI only).
        spi_reset: BCM pin of the reset line (SPI only).
        rotate: 0, or 2 for a display mounted upside down.
        contrast: 0-255, or None for the driver's default.
        blank_after: seconds without a key press before the screen is switched off.
        font_dir: where the DejaVu fonts are (Debian package fonts-dejavu-core).
    """

    driver: str = "ssd1306"
    bus: str = "i2c"
    i2c_port: int = 1
    i2c_address: int = 0x3C
    spi_port: int = 0
    spi_device: int = 0
    spi_dc: int = 24
    spi_reset: int = 25
    rotate: int = 0
    contrast: int | None = None
    blank_after: float = 60.0
    font_dir: Path = DEFAULT_FONT_DIR

    def __post_init__(self) -> None:
        _one_of("display.driver", self.driver, DRIVERS)
        _one_of("display.bus", self.bus, BUSES)
        _one_of("display.rotate", self.rotate, ROTATIONS)
        if not 0x03 <= self.i2c_address <= 0x77:
            raise ConfigError(f"display.i2c_address {self.i2c_address:#x} is not a 7-bit address")
        if self.contrast is not None and not 0 <= self.contrast <= 255:
            raise ConfigError("display.contrast is 0 to 255")
        if self.blank_after <= 0:
            raise ConfigError("display.blank_after is a positive number of seconds")


@dataclass(frozen=True)
class ClockConfig:
    """How the token knows its clock is right (see `pi.clock`).

    Attributes:
        source: "auto" (NTP synchronised, or a set real-time clock), "ntp", "rtc", or
            "trust" (always believe the clock: demos and benches only).
        sync_flag: the file systemd-timesyncd creates once it has synchronised.
        rtc: the real-time clock's sysfs directory.
    """

    source: str = "auto"
    sync_flag: Path = Path("/run/systemd/timesync/synchronized")
    rtc: Path = Path("/sys/class/rtc/rtc0")

    def __post_init__(self) -> None:
        _one_of("clock.source", self.source, CLOCK_SOURCES)


VAULT_KINDS = ("tpm", "file")


@dataclass(frozen=True)
class VaultConfig:
    """Where the token keeps its secrets (docs/pi.md, "The TPM").

    Attributes:
        kind: "tpm" (the PIN checked and counted by a TPM 2.0; the default) or "file" (the
            weaker file vault, for a Pi without a TPM board: a copy of the SD card gives the
            PIN away).
        tcti: how to reach the TPM ("device:/dev/tpmrm0", the kernel's resource manager).
        tpm_max_tries: failed PINs the TPM takes before its lock-out (set on a new TPM only).
        tpm_recovery_hours: powered-on hours after which the TPM forgives one failure.
    """

    kind: str = "tpm"
    tcti: str = "device:/dev/tpmrm0"
    tpm_max_tries: int = 5
    tpm_recovery_hours: int = 24

    def __post_init__(self) -> None:
        _one_of("vault.kind", self.kind, VAULT_KINDS)
        if not 1 <= self.tpm_max_tries <= 32:
            raise ConfigError("vault.tpm_max_tries is 1..32")
        if not 1 <= self.tpm_recovery_hours <= 24 * 365:
            raise ConfigError("vault.tpm_recovery_hours is 1..8760")


@dataclass(frozen=True)
class ServiceConfig:
    """Everything `python -m device_firmware` needs on the Pi.

    Attributes:
        server_url: the bank's enrollment API, or "demo:" for the in-memory demo bank.
        provisioning_key: the bank's provisioning public key as it publishes it (base64url
            of the point) or its SHA-256 fingerprint; required for a bank's URL (see
            `device_firmware.link.pinning`).
        allow_trust_on_first_use: development only, instead of `provisioning_key`: pin
            whatever key the bank shows at first contact (the screens then say so).
        vault_dir: where the vault's files live.
        pin_attempts: wrong PINs allowed before the vault is wiped (the bank's app: 1).
        keypad: the keypad's wiring and timing.
        display: the OLED's driver, bus and blanking.
        clock: how the clock is known to be right.
        vault: the TPM vault (default) or the weaker file vault, in `vault_dir`.
    """

    server_url: str
    provisioning_key: ProvisioningTrust | None = None
    allow_trust_on_first_use: bool = False
    vault_dir: Path = DEFAULT_VAULT_DIR
    pin_attempts: int = 1
    keypad: KeypadConfig = field(default_factory=KeypadConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    vault: VaultConfig = field(default_factory=VaultConfig)

    def __post_init__(self) -> None:
        if not self.server_url:
            raise ConfigError('server_url is required (the bank\'s URL, or "demo:")')
        if self.pin_attempts < 1:
            raise ConfigError("pin_attempts is at least 1")
        if self.provisioning_key is not None and self.allow_trust_on_first_use:
            raise ConfigError(
                "provisioning_key and allow_trust_on_first_use exclude each other: "
                "remove allow_trust_on_first_use (it is for development only)"
            )
        if self.server_url.startswith(BANK_SCHEMES) and self.provisioning_trust is None:
            raise ConfigError(
                "provisioning_key is required with a bank's server_url: the bank's provisioning "
                "public key (the public_key of GET /api/v1/provisioning-key, or `otp-hsm "
                "provisioning-key`) or its SHA-256 fingerprint, as the bank publishes it; "
                "the token refuses to enroll without it (allow_trust_on_first_use = true "
                "instead is for development only)"
            )

    @property
    def provisioning_trust(self) -> ProvisioningTrust | None:
        """How the link trusts the bank's key: the configured key or fingerprint, trust on
        first use when allowed, or None (no bank's URL, or nothing configured)."""
        if self.provisioning_key is not None:
            return self.provisioning_key
        if self.allow_trust_on_first_use and self.server_url.startswith(BANK_SCHEMES):
            return ProvisioningTrust.on_first_use()
        return None


def load_config(path: Path = DEFAULT_CONFIG_PATH) -> ServiceConfig:
    """Read and check the configuration file at `path`.

    Raises:
        ConfigError: the file is missing or unreadable, is not TOML, or has an unknown key
            or a wrong value (the message names it).
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return parse_config(document)


def parse_config(document: Mapping[str, Any]) -> ServiceConfig:
    """The `ServiceConfig` for a parsed TOML document (see the module docstring).

    Raises:
        ConfigError: an unknown key or a wrong value.
    """
    top = _Table("", document)
    config = ServiceConfig(
        server_url=top.get("server_url", str, ""),
        provisioning_key=_provisioning_key(top.get("provisioning_key", str, "")),
        allow_trust_on_first_use=top.get("allow_trust_on_first_use", bool, False),
        vault_dir=Path(top.get("vault_dir", str, str(DEFAULT_VAULT_DIR))),
        pin_attempts=top.get("pin_attempts", int, 1),
        keypad=_keypad(top.table("keypad")),
        display=_display(top.table("display")),
        clock=_clock(top.table("clock")),
        vault=_vault(top.table("vault")),
    )
    top.done()
    return config


def _provisioning_key(text: str) -> ProvisioningTrust | None:
    if not text:
        return None
    try:
        return ProvisioningTrust.parse(text)
    except ValueError:
        raise ConfigError(
            "provisioning_key must be the bank's key as it publishes it: base64url of an "
            "uncompressed P-256 point (the public_key of /api/v1/provisioning-key), or its "
            "SHA-256 fingerprint in hex (the fingerprint there)"
        ) from None


def _keypad(table: _Table) -> KeypadConfig:
    defaults = KeypadConfig()
    layout = table.get("layout", str, "4x4")
    _one_of("keypad.layout", layout, tuple(LAYOUTS))
    keys = tuple(table.get_list("keys", str, list(LAYOUTS[layout])))
    rows_default = DEFAULT_ROWS[: len(keys)]
    columns_default = DEFAULT_COLUMNS[: len(keys[0]) if keys else 0]
    hold_chars = HOLD_PRESETS[layout]
    if "hold" in table.values:  # given, even empty: replaces the layout's preset
        hold_table = table.table("hold")
        hold_chars = {name: hold_table.get(name, str, "") for name in hold_table.values}
        hold_table.done()
    config = KeypadConfig(
        rows=tuple(table.get_list("rows", int, list(rows_default))),
        columns=tuple(table.get_list("columns", int, list(columns_default))),
        keys=keys,
        hold={_key("keypad.hold", k): _key("keypad.hold", v) for k, v in hold_chars.items()},
        debounce=table.get("debounce", float, defaults.debounce),
        scan_interval=table.get("scan_interval", float, defaults.scan_interval),
        hold_time=table.get("hold_time", float, defaults.hold_time),
    )
    table.done()
    return config


def _display(table: _Table) -> DisplayConfig:
    defaults = DisplayConfig()
    contrast = table.get("contrast", int, -1)
    config = DisplayConfig(
        driver=table.get("driver", str, defaults.driver),
        bus=table.get("bus", str, defaults.bus),
        i2c_port=table.get("i2c_port", int, defaults.i2c_port),
        i2c_address=table.get("i2c_address", int, defaults.i2c_address),
        spi_port=table.get("spi_port", int, defaults.spi_port),
        spi_device=table.get("spi_device", int, defaults.spi_device),
        spi_dc=_pin("display.spi_dc", table.get("spi_dc", int, defaults.spi_dc)),
        spi_reset=_pin("display.spi_reset", table.get("spi_reset", int, defaults.spi_reset)),
        rotate=table.get("rotate", int, defaults.rotate),
        contrast=None if contrast == -1 else contrast,
        blank_after=table.get("blank_after", float, defaults.blank_after),
        font_dir=Path(table.get("font_dir", str, str(defaults.font_dir))),
    )
    table.done()
    return config


def _vault(table: _Table) -> VaultConfig:
    defaults = VaultConfig()
    config = VaultConfig(
        kind=table.get("kind", str, defaults.kind),
        tcti=table.get("tcti", str, defaults.tcti),
        tpm_max_tries=table.get("tpm_max_tries", int, defaults.tpm_max_tries),
        tpm_recovery_hours=table.get("tpm_recovery_hours", int, defaults.tpm_recovery_hours),
    )
    table.done()
    return config


def _clock(table: _Table) -> ClockConfig:
    defaults = ClockConfig()
    config = ClockConfig(
        source=table.get("source", str, defaults.source),
        sync_flag=Path(table.get("sync_flag", str, str(defaults.sync_flag))),
        rtc=Path(table.get("rtc", str, str(defaults.rtc))),
    )
    table.done()
    return config


class _Table:
    """One TOML table being read: typed look-ups, and a check that no key was left unread."""

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        self.name = name
        self.values = values
        self.read: set[str] = set()

    def _label(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def get(self, key: str, kind: type[T], default: T) -> T:
        self.read.add(key)
        if key not in self.values:
            return default
        value = self.values[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{self._label(key)} must be a {kind.__name__}, not {value!r}")
        return value

    def get_list(self, key: str, kind: type[T], default: list[T]) -> list[T]:
        self.read.add(key)
        if key not in self.values:
            return default
        value = self.values[key]
        if not isinstance(value, list) or not all(
            isinstance(item, kind) and not isinstance(item, bool) for item in value
        ):
            raise ConfigError(f"{self._label(key)} must be a list of {kind.__name__}")
        return value

    def table(self, key: str) -> _Table:
        self.read.add(key)
        value = self.values.get(key, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"{self._label(key)} must be a table ([{self._label(key)}])")
        return _Table(self._label(key), value)

    def done(self) -> None:
        unknown = sorted(set(self.values) - self.read)
        if unknown:
            raise ConfigError(f"unknown key {self._label(unknown[0])!r} in the configuration")


def _key(where: str, char: str) -> Key:
    try:
        return Key.parse(char)
    except ValueError:
        raise ConfigError(f"{where}: {char!r} is not a key of the keypad") from None


def _pin(where: str, pin: int) -> int:
    if pin not in BCM_PINS:
        raise ConfigError(f"{where}: {pin} is not a BCM GPIO number (0-27)")
    return pin


def _one_of(where: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"{where} is {value!r}; it must be one of {choices}")


def _check_layout(config: KeypadConfig) -> None:
    if not config.keys or len(config.keys) != len(config.rows):
        raise ConfigError(
            f"keypad: {len(config.rows)} row pins for {len(config.keys)} rows of keys"
        )
    for row in config.keys:
        if len(row) != len(config.columns):
            raise ConfigError(
                f"keypad: the row {row!r} has {len(row)} keys for {len(config.columns)} column pins"
            )
    printed = [_key("keypad.keys", char) for char in "".join(config.keys)]
    if len(set(printed)) != len(printed):
        raise ConfigError("keypad.keys: a key is printed twice")
    pins = [*config.rows, *config.columns]
    for pin in pins:
        _pin("keypad", pin)
    if len(set(pins)) != len(pins):
        raise ConfigError("keypad: a BCM pin is used twice")
    for key, other in config.hold.items():
        if key not in printed:
            raise ConfigError(f"keypad.hold: {key.value!r} is not on this keypad")
        if other == key:
            raise ConfigError(f"keypad.hold: {key.value!r} cannot stand for itself")
    if config.debounce < 0 or config.scan_interval <= 0 or config.hold_time <= config.debounce:
        raise ConfigError(
            "keypad: debounce >= 0, scan_interval > 0 and hold_time > debounce (seconds)"
        )
