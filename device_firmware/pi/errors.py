"""The Pi front end's exceptions: what can stop the token's service from starting.

    PiError
     ├── ConfigError (also ValueError)   the TOML file: missing, unreadable, a wrong key or value
     ├── FontsMissing                    the DejaVu fonts are not installed
     ├── DisplayUnavailable              no OLED on the configured bus and address
     ├── KeypadUnavailable               the GPIO pins cannot be had (not a Pi, pin in use)
     ├── LinkUnavailable                 no link to the bank can be made for `server_url`
     └── VaultMissing                    the configured TPM does not answer

Adapters translate luma's, gpiozero's and the OS's errors into these (`raise ... from exc`);
`python -m device_firmware` prints the message and exits non-zero. Errors while running are
the core's (`core.errors`): they become screens.
"""

from __future__ import annotations


class PiError(Exception):
    """Base class of the errors that stop the Pi service from starting."""


class ConfigError(PiError, ValueError):
    """The configuration file is missing, unreadable, or has a wrong key or value."""


class FontsMissing(PiError):
    """A font file the display needs is not installed."""


class DisplayUnavailable(PiError):
    """The OLED could not be opened (no I2C/SPI device, wrong address, bus disabled)."""


class KeypadUnavailable(PiError):
    """The keypad's GPIO pins could not be claimed (not a Pi, no GPIO library, pin in use)."""


class LinkUnavailable(PiError):
    """No `ServerLink` can be made for the configured `server_url` (yet)."""


class VaultMissing(PiError):
    """The configured vault cannot be opened: the TPM does not answer at its TCTI."""
