"""The token's service on the Pi: the core, the file vault, the keypad and the OLED, wired.

`run_service(config, keep_going)` opens the hardware the configuration names and runs the core
until `keep_going()` is False; `serve(...)` is the same loop on ports given to it (tests pass
a keypad on gpiozero's MockFactory and a display on luma's dummy device). Whatever happens,
the keypad's pins are released and the display is cleared and switched off on the way out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING

from device_firmware.core import Token, TokenConfig, VaultUnreadable, run
from device_firmware.core.ports import Clock, ClockCheck, Keypad, ServerLink, Vault
from device_firmware.link import HttpServerLink
from device_firmware.pi.blanking import BlankingKeypad
from device_firmware.pi.clock import SystemClock, SystemClockCheck
from device_firmware.pi.config import ServiceConfig
from device_firmware.pi.display import OledDisplay, open_device
from device_firmware.pi.errors import VaultMissing
from device_firmware.pi.fonts import load_fonts
from device_firmware.pi.keypad import MatrixKeypad
from device_firmware.pi.link import make_link
from device_firmware.vault import FileVault

if TYPE_CHECKING:
    from device_firmware.vault.tpm_vault import TpmVault

log = logging.getLogger(__name__)


def serve(
    *,
    keypad: Keypad,
    display: OledDisplay,
    clock: Clock,
    clock_check: ClockCheck,
    vault: Vault,
    link: ServerLink,
    blank_after: float,
    keep_going: Callable[[], bool],
    token_config: TokenConfig | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Token:
    """Run the core on these ports until `keep_going()` is False; the token, for inspection.

    The display is blanked after `blank_after` idle seconds by `monotonic` (see `blanking`).
    """
    token = Token(
        display=display,
        clock=clock,
        vault=vault,
        link=link,
        config=token_config,
        clock_check=clock_check,
    )
    blanking = BlankingKeypad(keypad, display, blank_after=blank_after, monotonic=monotonic)
    run(token, blanking, keep_going=keep_going)
    return token


def open_vault(config: ServiceConfig) -> FileVault | TpmVault:
    """The configured vault: the TPM vault, or the (weaker) file vault.

    Raises:
        VaultMissing: the TPM does not answer (the message says what to check).
        TokenError: the vault directory cannot be used.
    """
    if config.vault.kind == "file":
        log.warning("vault: the file vault (weaker: a copy of the SD card gives the PIN away)")
        return FileVault(config.vault_dir, attempts_allowed=config.pin_attempts)
    from device_firmware.vault.tpm import LockoutPolicy, Tpm  # tpm2-pytss: the device extra
    from device_firmware.vault.tpm_vault import TpmVault

    hours = config.vault.tpm_recovery_hours * 3600
    try:
        return TpmVault(
            config.vault_dir,
            Tpm(config.vault.tcti),
            attempts_allowed=config.pin_attempts,
            lockout=LockoutPolicy(config.vault.tpm_max_tries, hours, hours),
        )
    except VaultUnreadable as exc:
        raise VaultMissing(
            f"{exc}: fit and enable the TPM board (docs/pi.md, 'The TPM'), or set "
            '[vault] kind = "file" for the weaker file vault'
        ) from exc


def token_config(config: ServiceConfig, vault: Vault) -> TokenConfig:
    """The core's fixed facts for this token: what guards its vault, how it trusts the bank."""
    trust = config.provisioning_trust
    return TokenConfig(
        vault_protection=vault.protection,
        trust_on_first_use=trust is not None and trust.first_use,
    )


def run_service(config: ServiceConfig, keep_going: Callable[[], bool]) -> None:
    """Open the configured hardware and run the token until `keep_going()` is False.

    Raises:
        PiError: something the token needs is missing (link, fonts, display, keypad pins);
            whatever was opened is closed again.
    """
    clock = SystemClock()
    vault = open_vault(config)
    # before any hardware: fail fast
    link = make_link(config.server_url, clock, vault, trust=config.provisioning_trust)
    with ExitStack() as stack:
        if isinstance(link, HttpServerLink):
            stack.callback(link.close)
        fonts = load_fonts(config.display.font_dir)
        display = OledDisplay(open_device(config.display), fonts)
        stack.callback(display.close)
        keypad = MatrixKeypad(config.keypad)
        stack.callback(keypad.close)
        log.info(
            "token started: %s %s on %s, keypad %dx%d, vault %s",
            config.display.driver,
            config.display.bus,
            config.server_url,
            len(config.keypad.rows),
            len(config.keypad.columns),
            config.vault_dir,
        )
        serve(
            keypad=keypad,
            display=display,
            clock=clock,
            clock_check=SystemClockCheck(config.clock, clock),
            vault=vault,
            link=link,
            blank_after=config.display.blank_after,
            keep_going=keep_going,
            token_config=token_config(config, vault),
        )
    log.info("token stopped; display cleared and switched off")
