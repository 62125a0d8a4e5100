"""The HSM layer's exceptions.

    HsmError
     ├── HsmUnavailable   the module, token, PIN or session cannot be used right now
     ├── KeyNotFound      a key the operation needs is not on the token
     ├── OfficerNeeded    the operation needs the security officer (a new KEK: the SO PIN)
     ├── SeedRejected     a wrapped seed does not unwrap under its KEK (altered or foreign)
     └── InvalidSeedRequest (also ValueError)  arguments that can never work

Messages name what is wrong (module path, token label, key label) and never carry a PIN,
a seed or any other secret. PKCS#11 errors are translated inside this package with
`raise ... from exc`; callers never see a `pkcs11` exception.
"""

from __future__ import annotations


class HsmError(Exception):
    """Base class of every error raised by the `hsm` package."""


class HsmUnavailable(HsmError):
    """The HSM cannot be used now; retrying later may work."""


class KeyNotFound(HsmError):
    """A key the operation needs is missing from the token."""


class OfficerNeeded(HsmError):
    """Only the security officer can do this (make a trusted KEK): no SO PIN was given, or
    the HSM refused it."""


class SeedRejected(HsmError):
    """A wrapped seed could not be unwrapped: it was altered or belongs to another KEK."""


class InvalidSeedRequest(HsmError, ValueError):
    """The request can never succeed: an unknown algorithm, digits out of range, ..."""
