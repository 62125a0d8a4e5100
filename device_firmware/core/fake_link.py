"""A fake bank for tests and the emulator: users, e-mailed codes, the portal, credentials.

`FakeServerLink` implements the `ServerLink` port in memory with the bank's rules as the
token sees them: registration checks the online-banking login and "e-mails" a code (kept in
`mailbox`); the portal (`portal_activation_code`) issues an activation code for a device ID;
one token per user (registering again retires the user's older credential); deleting an
unknown credential fails; a user added with `signs_transfers` gets an OCRA seed as well.
`fail_next` scripts an error for the next call.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from device_firmware.core import device_id as device_ids
from device_firmware.core import transfers
from device_firmware.core.device_id import DeviceId
from device_firmware.core.errors import (
    CodeExpired,
    LinkError,
    TooManyAttempts,
    UnknownCredential,
    WrongCode,
    WrongCredentials,
)
from device_firmware.core.ports import Clock
from device_firmware.core.records import (
    Credential,
    ProvisionedCredential,
    RegistrationHandle,
)

EMAIL_CODE_LIFETIME = 600.0
MAX_CODE_TRIES = 3


@dataclass
class BankUser:
    """An online-banking customer of the fake bank."""

    username: str
    password: str = field(repr=False)
    email: str
    display_name: str
    signs_transfers: bool = False


@dataclass
class _Pending:
    username: str
    public_key: bytes
    code: str
    expires_at: float
    tries: int = 0


@dataclass
class IssuedCredential:
    """A credential the fake bank provisioned, as the bank remembers it."""

    credential: Credential
    public_key: bytes
    active: bool = True


class FakeServerLink:
    """An in-memory bank behind the `ServerLink` port.

    Args:
        clock: the bank's clock is this one plus `skew` seconds.
        skew: how far the bank's clock is ahead of the token's.
        issuer: the bank's name on every credential.
    """

    def __init__(self, clock: Clock, *, skew: float = 0.0, issuer: str = "Banco Improsa") -> None:
        self.clock = clock
        self.skew = skew
        self.issuer = issuer
        self.users: dict[str, BankUser] = {}
        self.mailbox: dict[str, list[str]] = {}
        self.issued: dict[str, IssuedCredential] = {}
        self.calls: list[str] = []
        self._pending: dict[str, _Pending] = {}
        self._activations: dict[tuple[DeviceId, str], str] = {}
        self._failures: list[LinkError] = []
        self._serial = 0

    # The bank's side --------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: str,
        email: str,
        display_name: str = "",
        *,
        signs_transfers: bool = False,
    ) -> BankUser:
        """Open an online-banking account (`signs_transfers`: with transaction signing)."""
        user = BankUser(username, password, email, display_name or username, signs_transfers)
        self.users[username] = user
        return user

    def last_email_code(self, username: str) -> str:
        """The newest code e-mailed to `username` (what the customer reads in the mail)."""
        return self.mailbox[self.users[username].email][-1]

    def portal_activation_code(self, username: str, device_id: str) -> str:
        """What the portal shows after `username` logs in and types `device_id`."""
        code = f"{secrets.randbelow(10**8):08d}"
        self._activations[(DeviceId(device_id.replace(" ", "")), code)] = username
        return code

    def fail_next(self, error: LinkError) -> None:
        """Make the next call (of any method) raise `error`."""
        self._failures.append(error)

    def active_credentials(self, username: str) -> list[Credential]:
        """The user's credentials the bank still accepts."""
        return [
            issued.credential
            for issued in self.issued.values()
            if issued.active and issued.credential.username == username
        ]

    # The ServerLink port ----------------------------------------------------------------

    def start_registration(
        self, username: str, password: str, public_key: bytes, device_id: DeviceId
    ) -> RegistrationHandle:
        """Check the login, e-mail a code."""
        self._call("start_registration")
        user = self.users.get(username)
        if user is None or not secrets.compare_digest(user.password, password):
            raise WrongCredentials("the bank refused the username or password")
        if device_ids.make(public_key) != device_id:
            raise WrongCode("the device ID does not belong to this public key")
        code = f"{secrets.randbelow(10**6):06d}"
        handle = secrets.token_hex(8)
        expires_at = self._now() + EMAIL_CODE_LIFETIME
        self._pending[handle] = _Pending(username, public_key, code, expires_at)
        self.mailbox.setdefault(user.email, []).append(code)
        return RegistrationHandle(handle, _mask(user.email), expires_at)

    def confirm_registration(
        self, handle: RegistrationHandle, email_code: str
    ) -> ProvisionedCredential:
        """Check the e-mailed code, provision a credential."""
        self._call("confirm_registration")
        pending = self._pending.get(handle.handle)
        if pending is None:
            raise CodeExpired("no such registration (expired or already used)")
        if self._now() > pending.expires_at:
            del self._pending[handle.handle]
            raise CodeExpired("the e-mailed code expired")
        if not secrets.compare_digest(pending.code, email_code):
            pending.tries += 1
            if pending.tries >= MAX_CODE_TRIES:
                del self._pending[handle.handle]
                raise TooManyAttempts("too many wrong codes; start again later")
            raise WrongCode("the e-mailed code is not correct")
        del self._pending[handle.handle]
        return self._provision(pending.username, pending.public_key)

    def redeem_activation(
        self, device_id: DeviceId, activation_code: str, public_key: bytes
    ) -> ProvisionedCredential:
        """Check the device ID and activation code, provision a credential."""
        self._call("redeem_activation")
        username = self._activations.pop((device_id, activation_code), None)
        if username is None or device_ids.make(public_key) != device_id:
            raise WrongCode("the device ID or the activation code is not correct")
        return self._provision(username, public_key)

    def delete_credential(self, credential_id: str) -> None:
        """Retire a credential."""
        self._call("delete_credential")
        issued = self.issued.get(credential_id)
        if issued is None or not issued.active:
            raise UnknownCredential("the bank does not know this credential")
        issued.active = False

    def server_time(self) -> float:
        """The bank's clock."""
        self._call("server_time")
        return self._now()

    # ------------------------------------------------------------------------------------

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self._failures:
            raise self._failures.pop(0)

    def _now(self) -> float:
        return self.clock.now() + self.skew

    def _provision(self, username: str, public_key: bytes) -> ProvisionedCredential:
        for issued in self.issued.values():
            if issued.credential.username == username:
                issued.active = False  # one token per user: the older one is retired
        self._serial += 1
        user = self.users[username]
        credential = Credential(
            credential_id=f"cred-{self._serial}",
            issuer=self.issuer,
            username=username,
            display_name=user.display_name,
            seed=secrets.token_bytes(20),
            ocra_suite=transfers.SUITE if user.signs_transfers else None,
            ocra_seed=secrets.token_bytes(32) if user.signs_transfers else None,
        )
        self.issued[credential.credential_id] = IssuedCredential(credential, public_key)
        return ProvisionedCredential(credential, server_time=self._now())


def _mask(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"
