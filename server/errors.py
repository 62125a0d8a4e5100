"""The server's domain errors; `server.app` maps them to HTTP in one place.

    DomainError
     ├── NotFound              a customer, credential or client that does not exist
     ├── Conflict              it exists already / the state does not allow it
     ├── InvalidInput          well-formed but unacceptable input (also ValueError)
     ├── NotAuthenticated      missing or wrong API key
     ├── NotAllowed            authenticated, but not for this purpose
     │    └── DeviceRevoked     the token was revoked: it never enrolls again
     ├── EnrollmentEnded       a registration or activation that is over
     │    ├── CodeExpired       its code's time ran out
     │    ├── CodeAlreadyUsed   its code was redeemed once already
     │    ├── TooManyWrongCodes it was voided by wrong codes
     │    └── CustomerCannotEnrol the customer may enrol no token now
     ├── AttemptsExhausted     too many attempts in a short time (`retry_after`, if known)
     └── ServiceUnavailable    the HSM or the database cannot be used now (`retry_after`)

Errors of the transport (a body too large, not JSON) are not the domain's: they live with
the HTTP layer (`server.transport`). Messages are for people and never contain a seed, a
code, a PIN or a password.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service raises on purpose."""


class NotFound(DomainError):
    """The thing named does not exist."""


class Conflict(DomainError):
    """The request clashes with the current state."""


class InvalidInput(DomainError, ValueError):
    """Input that passed parsing but cannot be accepted."""


class NotAuthenticated(DomainError):
    """No valid credentials for this API."""


class NotAllowed(DomainError):
    """Valid credentials, but not for this."""


class DeviceRevoked(NotAllowed):
    """The token was revoked (lost or stolen): its key can never enroll again."""

    def __init__(self) -> None:
        super().__init__(
            "this token was revoked and cannot be enrolled again: ask the bank for a new one"
        )


class EnrollmentEnded(DomainError):
    """A registration or activation that is over: nothing more can be done with it."""


class CodeExpired(EnrollmentEnded):
    """The code's time ran out."""

    def __init__(self) -> None:
        super().__init__("the code has expired: start again")


class CodeAlreadyUsed(EnrollmentEnded):
    """The code was redeemed once already."""

    def __init__(self) -> None:
        super().__init__("this code was used already")


class TooManyWrongCodes(EnrollmentEnded):
    """Wrong codes voided the registration or activation."""

    def __init__(self) -> None:
        super().__init__("too many wrong codes: start again")


class CustomerCannotEnrol(EnrollmentEnded):
    """The customer (no longer active) may enrol no token."""

    def __init__(self) -> None:
        super().__init__("this customer can no longer enrol a token")


class AttemptsExhausted(DomainError):
    """Too many attempts in a short time; `retry_after` seconds when the rule knows."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    """A dependency (HSM, database) cannot be used now; retry later."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
