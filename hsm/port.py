"""What the server needs of an HSM, as Protocols: the server depends on these, `hsm.Hsm`
implements them, and a test double implements the one it stands in for (mypy checks it).

    HsmPort               everything a server process uses, and its life cycle
     ├── OtpEngine         seeds in, OTP values out (verification, credentials, imports)
     ├── OcraEngine        OCRA responses (RFC 6287) of those seeds: transaction signing
     ├── AuditSealer       the MAC over the audit chain's head
     ├── Provisioner       seeds for a token's bundle, the bundle's signature
     └── KeyAdministration KEK versions: inventory, rotation, retirement

Each method's contract is the one documented on `hsm.Hsm`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ParamSpec, Protocol, TypeVar

from hsm.client import HsmStatus, OcraJob, OtpJob
from hsm.errors import HsmError
from hsm.keys import KeyInfo
from hsm.ocra import OcraInput, OcraSuite
from hsm.otp import Algorithm
from hsm.provisioning import ProvisionedSeed
from hsm.seeds import WrappedSeed

P = ParamSpec("P")
T = TypeVar("T")


class OtpEngine(Protocol):
    """Seeds made or imported inside the HSM, and the OTP values computed there."""

    def generate_seed(self, algorithm: Algorithm) -> WrappedSeed: ...

    def import_seed(
        self, seed: bytes, algorithm: Algorithm, *, allow_short: bool = False
    ) -> WrappedSeed: ...

    def otp_values(
        self, seed: WrappedSeed, algorithm: Algorithm, digits: int, counters: Sequence[int]
    ) -> list[str]: ...

    def find_codes(self, jobs: Sequence[OtpJob]) -> list[int | HsmError | None]: ...


class OcraEngine(Protocol):
    """OCRA responses computed in the HSM over the data input of RFC 6287 §5.1 (the suite,
    question and moving factors in `hsm.ocra`), with a seed made for the suite's hash."""

    def ocra_responses(
        self, seed: WrappedSeed, suite: OcraSuite, inputs: Sequence[OcraInput]
    ) -> list[str]: ...

    def find_ocra_responses(self, jobs: Sequence[OcraJob]) -> list[OcraInput | HsmError | None]: ...


class AuditSealer(Protocol):
    """The HMAC that seals the audit chain's head (the audit MAC key does nothing else)."""

    def audit_mac(self, data: bytes, version: int | None = None) -> tuple[int, bytes]: ...


class Provisioner(Protocol):
    """A new seed wrapped for one token, and the signature its bundle carries."""

    def provision_seed(
        self,
        algorithm: Algorithm,
        token_point: bytes,
        context: bytes,
        *,
        ocra_suite: OcraSuite | None = None,
    ) -> ProvisionedSeed: ...

    def sign_provisioning(self, data: bytes, version: int | None = None) -> tuple[int, bytes]: ...

    def provisioning_public_key(self) -> tuple[int, bytes]: ...

    def keyed_digest(self, purpose: bytes, data: bytes) -> bytes: ...


class KeyAdministration(Protocol):
    """KEK versions: what is on the token, a new one, re-wrapping, retiring an old one."""

    @property
    def token_label(self) -> str: ...

    def keys(self) -> list[KeyInfo]: ...

    def reload_keys(self) -> None: ...

    def create_kek(self) -> int: ...

    def rewrap_seeds(
        self, seeds: Sequence[WrappedSeed], to_version: int | None = None
    ) -> list[WrappedSeed]: ...

    def destroy_kek(self, version: int) -> None: ...


class HsmPort(OtpEngine, OcraEngine, AuditSealer, Provisioner, KeyAdministration, Protocol):
    """Everything a server process uses: the parts above, its status (with the
    extraction proof), calls from async code, and closing."""

    def status(self) -> HsmStatus: ...

    async def run_async(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...

    def close(self) -> None: ...
