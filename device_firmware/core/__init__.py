"""The token's client core: a pure state machine and the ports it talks through.

`machine.step(state, event) -> Transition` is pure; `render(state, now) -> Screen` is pure;
`Token` is the small runner that performs each effect through a port (`Display`, `Clock`,
`ClockCheck`, `Keypad`, `Vault`, `ServerLink`) and feeds the outcome back as an event. This
package imports no hardware, network, clock or server code (tests/test_layering.py checks it);
time comes only from the `Clock` port.

Public API: `Token`, `run`, `TokenConfig`, `Key`, the screen models, the ports, the records
(`Credential`, `ProvisionedCredential`, `RegistrationHandle`, `TokenData`, `VaultStatus`),
`Language`, the `TokenError` tree, and `device_id` (make / validate / parse / format).
Fakes of every port: `core.fakes` and `core.fake_link`.
"""

from device_firmware.core import device_id
from device_firmware.core.catalog import Language
from device_firmware.core.device_id import DeviceId
from device_firmware.core.errors import (
    BundleRejected,
    CodeExpired,
    InvalidRecord,
    LinkError,
    StorageFailed,
    TokenError,
    TooManyAttempts,
    UnknownCredential,
    Unreachable,
    UntrustedProvisioningKey,
    VaultError,
    VaultLockedOut,
    VaultStateError,
    VaultUnreadable,
    VaultWiped,
    WrongCode,
    WrongCredentials,
    WrongPin,
)
from device_firmware.core.keys import Key
from device_firmware.core.machine import step
from device_firmware.core.ports import Clock, ClockCheck, Display, Keypad, ServerLink, Vault
from device_firmware.core.records import (
    Algorithm,
    Credential,
    ProvisionedCredential,
    RegistrationHandle,
    TokenData,
    VaultStatus,
)
from device_firmware.core.render import render
from device_firmware.core.screens import (
    CodeScreen,
    DigitEntryScreen,
    MenuScreen,
    MessageScreen,
    Screen,
    TextEntryScreen,
    Tone,
)
from device_firmware.core.state import State, TokenConfig
from device_firmware.core.token import Token, run
from device_firmware.core.transitions import Transition

__all__ = [
    "Algorithm",
    "BundleRejected",
    "Clock",
    "ClockCheck",
    "CodeExpired",
    "CodeScreen",
    "Credential",
    "DeviceId",
    "DigitEntryScreen",
    "Display",
    "InvalidRecord",
    "Key",
    "Keypad",
    "Language",
    "LinkError",
    "MenuScreen",
    "MessageScreen",
    "ProvisionedCredential",
    "RegistrationHandle",
    "Screen",
    "ServerLink",
    "State",
    "StorageFailed",
    "TextEntryScreen",
    "Token",
    "TokenConfig",
    "TokenData",
    "TokenError",
    "Tone",
    "TooManyAttempts",
    "Transition",
    "UnknownCredential",
    "Unreachable",
    "UntrustedProvisioningKey",
    "Vault",
    "VaultError",
    "VaultLockedOut",
    "VaultStateError",
    "VaultStatus",
    "VaultUnreadable",
    "VaultWiped",
    "WrongCode",
    "WrongCredentials",
    "WrongPin",
    "device_id",
    "render",
    "run",
    "step",
]
