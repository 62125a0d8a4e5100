"""The core's ports: everything outside the state machine arrives through one of these.

Each is a `typing.Protocol` with a real adapter elsewhere (Pi, emulator, `vault.FileVault`,
the HTTP link) and a fake in `core.fakes` / `core.fake_link` for tests. Errors cross a port
only as the `TokenError` tree (`core.errors`).
"""

from __future__ import annotations

from typing import Protocol

from device_firmware.core.catalog import Language
from device_firmware.core.device_id import DeviceId
from device_firmware.core.keys import Key
from device_firmware.core.records import (
    ProvisionedCredential,
    RegistrationHandle,
    TokenData,
    VaultProtection,
    VaultStatus,
)
from device_firmware.core.screens import Screen


class Display(Protocol):
    """Where screens go (an OLED, a terminal, a test's list of frames)."""

    def show(self, screen: Screen) -> None:
        """Draw `screen`, replacing whatever was shown."""


class Clock(Protocol):
    """The only source of time in the core."""

    def now(self) -> float:
        """The current Unix time in seconds."""


class ClockCheck(Protocol):
    """Whether the clock can be trusted for codes (synchronised by NTP, or kept by an RTC).

    A token whose clock is unknown (no network since power-on, no real-time clock) shows
    "clock not set" instead of a code: a code for the wrong time is refused by the bank and
    would only teach the customer to distrust the token.
    """

    def is_set(self) -> bool:
        """True once the clock is known to be right."""


class Keypad(Protocol):
    """Where key presses come from (a matrix keypad, a keyboard, a script)."""

    def read_key(self, timeout: float) -> Key | None:
        """The next key pressed within `timeout` seconds, or None if none was."""


class Vault(Protocol):
    """The token's protected storage: device identity, credentials, settings, PIN counter.

    A file store is the default (`device_firmware.vault.FileVault`); a secure element or
    TPM can replace it behind this same port. Every method raises only `VaultError`.
    """

    @property
    def protection(self) -> VaultProtection:
        """What guards the PIN against a copy of the storage (shown in "About")."""

    def status(self) -> VaultStatus:
        """Whether a vault exists, the PIN attempts allowed and used, the language.

        Raises:
            VaultUnreadable: the stored status is damaged.
        """

    def public_key(self) -> bytes:
        """The device identity's public key (DER SubjectPublicKeyInfo, EC P-256).

        The key pair is made on first use and kept until the next `wipe()`.

        Raises:
            VaultUnreadable: the stored identity is damaged.
        """

    def create(self, pin: str, data: TokenData) -> None:
        """Make the vault with its first contents, sealed under `pin`; it stays unlocked.

        Raises:
            VaultStateError: a vault already exists.
            StorageFailed: it could not be written (nothing was created).
        """

    def unlock(self, pin: str) -> TokenData:
        """Open the vault with `pin`, counting the attempt on disk before checking it.

        Raises:
            WrongPin: refused; `attempts_remaining` tries are left.
            VaultWiped: refused and no attempt was left (or none was left before this
                call): the vault has been destroyed and a new identity made.
            VaultUnreadable: the vault is damaged or was altered.
            VaultStateError: no vault exists.
        """

    def save(self, data: TokenData) -> None:
        """Replace the sealed contents (atomically: the old or the new survive a power cut).

        Raises:
            VaultStateError: the vault is locked.
            StorageFailed: the write failed; the previous contents are intact.
        """

    def lock(self) -> None:
        """Forget the unlocked key; the next access needs the PIN."""

    def wipe(self) -> None:
        """Destroy the vault and the identity (overwrite, then remove); make a new identity."""

    def set_language(self, language: Language) -> None:
        """Remember the screens' language (readable before the PIN, like the status)."""


class ServerLink(Protocol):
    """The bank's enrollment API, as the token sees it.

    The real adapter signs requests with the device key, checks the provisioning bundle's
    signature against the pinned provisioning key, and unwraps the seed before returning a
    `ProvisionedCredential`. Every method raises only `LinkError`.
    """

    def start_registration(
        self, username: str, password: str, public_key: bytes, device_id: DeviceId
    ) -> RegistrationHandle:
        """Self-registration step 1: the bank checks the online-banking login, e-mails a code.

        Raises:
            WrongCredentials, TooManyAttempts, Unreachable, LinkError.
        """

    def confirm_registration(
        self, handle: RegistrationHandle, email_code: str
    ) -> ProvisionedCredential:
        """Self-registration step 2: the e-mailed code for the provisioned credential.

        Raises:
            WrongCode, CodeExpired, TooManyAttempts, BundleRejected, Unreachable, LinkError.
        """

    def redeem_activation(
        self, device_id: DeviceId, activation_code: str, public_key: bytes
    ) -> ProvisionedCredential:
        """Portal activation: the code the portal showed for this device ID.

        Raises:
            WrongCode (device ID or code not correct), TooManyAttempts, BundleRejected,
            Unreachable, LinkError.
        """

    def delete_credential(self, credential_id: str) -> None:
        """Retire a credential at the bank (the user list's "Delete user").

        Raises:
            UnknownCredential, Unreachable, LinkError.
        """

    def server_time(self) -> float:
        """The bank's current Unix time (for the clock offset).

        Raises:
            Unreachable, LinkError.
        """
