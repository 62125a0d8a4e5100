"""The token's exceptions: one tree, with a branch per boundary.

    TokenError
     ├── InvalidRecord (also ValueError)   a credential, device ID, ... that can never be valid
     ├── VaultError                        the token's own storage
     │    ├── WrongPin                     the PIN was refused; carries attempts_remaining
     │    ├── VaultWiped                   the last allowed attempt failed: the vault is destroyed
     │    ├── VaultUnreadable              damaged, altered, or of an unknown format version
     │    ├── VaultStateError (also RuntimeError)  e.g. save() while locked, create() twice
     │    ├── VaultLockedOut               the TPM checks no PIN for now (its lock-out)
     │    └── StorageFailed                the disk refused a write (full, read-only, ...)
     └── LinkError                         the bank could not complete a request
          ├── Unreachable                  no answer: network down, timeout, server error
          ├── WrongCredentials             online-banking username or password refused
          ├── WrongCode                    e-mailed or activation code (or device ID) refused
          ├── CodeExpired                  the e-mailed code is too old; start again
          ├── TooManyAttempts              the bank is refusing tries for a while
          ├── EnrolmentRefused             not with this token: one is active, or it was revoked
          ├── UnknownCredential            the bank no longer knows this credential
          └── BundleRejected               the provisioning answer failed its checks
               └── UntrustedProvisioningKey  the bank's provisioning key is not the configured one

Adapters translate lower-library errors into this tree (`raise ... from exc`); the core turns
each into a screen and never lets one end the program. Messages never carry a PIN, password,
seed or code.
"""

from __future__ import annotations


class TokenError(Exception):
    """Base class of every error the token's code raises on purpose."""


class InvalidRecord(TokenError, ValueError):
    """A value that can never be valid: digits out of range, a malformed device ID, ..."""


class VaultError(TokenError):
    """The token's storage could not do what was asked."""


class WrongPin(VaultError):
    """The PIN was refused; `attempts_remaining` more tries are allowed before the wipe."""

    def __init__(self, attempts_remaining: int) -> None:
        super().__init__(f"wrong PIN; {attempts_remaining} attempt(s) remaining")
        self.attempts_remaining = attempts_remaining


class VaultWiped(VaultError):
    """The allowed PIN attempts are used up: the vault was destroyed and a new identity made."""


class VaultUnreadable(VaultError):
    """The stored data is damaged, was altered, or has a format this firmware does not know."""


class VaultStateError(VaultError, RuntimeError):
    """The call does not fit the vault's state (locked, missing, already created)."""


class VaultLockedOut(VaultError):
    """The vault's TPM is in its dictionary-attack lock-out: the PIN was neither checked nor
    counted. Attribute `retry_after`: seconds (of the TPM being powered) until it checks one."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the TPM checks no PIN for about {retry_after // 60} min")
        self.retry_after = retry_after


class StorageFailed(VaultError):
    """The disk refused a write; what was on it before is still there."""


class LinkError(TokenError):
    """The bank could not complete a request."""


class Unreachable(LinkError):
    """No usable answer from the bank: network down, timeout, or a server-side failure."""


class WrongCredentials(LinkError):
    """The bank refused the online-banking username or password."""


class WrongCode(LinkError):
    """The bank refused the e-mailed code, or the device ID / activation code pair."""


class CodeExpired(LinkError):
    """The e-mailed code has expired; registration must start again."""


class TooManyAttempts(LinkError):
    """The bank refuses further tries for a while."""


class EnrolmentRefused(LinkError):
    """The bank will not enrol this token for this customer: the customer has an active
    token (replacing it needs a code from it, in the portal), or this token was revoked."""


class UnknownCredential(LinkError):
    """The bank does not know (or no longer knows) this credential."""


class BundleRejected(LinkError):
    """The provisioning answer failed its checks (signature, unwrap, fields)."""


class UntrustedProvisioningKey(BundleRejected):
    """The bank showed a provisioning key that is not the one the token was configured to
    trust (its fingerprint differs): nothing it signs is accepted, and nothing is pinned."""
