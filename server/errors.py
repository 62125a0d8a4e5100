"""The server's domain errors; `server.app` maps them to HTTP in one place.

    DomainError
     ├── NotFound            a customer, credential or client that does not exist
     ├── Conflict            it exists already / the state does not allow it
     ├── InvalidInput        well-formed but unacceptable input (also ValueError)
     ├── NotAuthenticated    missing or wrong API key
     ├── NotAllowed          authenticated, but not for this purpose
     ├── Gone                a code or registration that is over (expired, used, void)
     ├── TooManyRequests     slow down
     ├── TooLarge            a request body over the size limit
     ├── NotJson             a body that is not declared as JSON
     └── ServiceUnavailable  the HSM or the database cannot be used now

Messages are for people and never contain a seed, a code, a PIN or a password.
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


class Gone(DomainError):
    """A registration or activation that is over: expired, used, or void after wrong codes."""


class TooManyRequests(DomainError):
    """Too many attempts in a short time."""


class TooLarge(DomainError):
    """A request body larger than the server accepts."""


class NotJson(DomainError):
    """A body whose Content-Type is not JSON, where only JSON is accepted."""


class ServiceUnavailable(DomainError):
    """A dependency (HSM, database) cannot be used now; retry later."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
