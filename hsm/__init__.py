"""The PKCS#11 layer: the only package that imports `pkcs11`.

Public API: `Hsm` (open, keys, seeds, OTP values, OCRA responses, audit MAC), `HsmConfig`,
`WrappedSeed`, `Algorithm`, `OcraSuite` and `OcraInput`, and the `HsmError` tree.
"""

from hsm.client import Hsm, HsmStatus, OcraJob, OtpJob
from hsm.config import HsmConfig
from hsm.errors import (
    HsmError,
    HsmUnavailable,
    InvalidSeedRequest,
    KeyNotFound,
    OfficerNeeded,
    SeedRejected,
)
from hsm.extraction import GUARANTEES, ExtractionProof, parse_guarantees
from hsm.keys import KeyInfo, KeyPurpose
from hsm.ocra import OcraInput, OcraSuite, QuestionFormat
from hsm.otp import Algorithm, totp_counter, truncate
from hsm.port import (
    AuditSealer,
    HsmPort,
    KeyAdministration,
    OcraEngine,
    OtpEngine,
    Provisioner,
)
from hsm.provisioning import ProvisionedOcraSeed, ProvisionedSeed, kdf_input
from hsm.seeds import (
    MAX_IMPORTED_SEED,
    MIN_IMPORTED_SEED,
    SHORTEST_IMPORTED_SEED,
    WrappedSeed,
    shortest_seed,
)

__all__ = [
    "GUARANTEES",
    "MAX_IMPORTED_SEED",
    "MIN_IMPORTED_SEED",
    "SHORTEST_IMPORTED_SEED",
    "Algorithm",
    "AuditSealer",
    "ExtractionProof",
    "Hsm",
    "HsmConfig",
    "HsmError",
    "HsmPort",
    "HsmStatus",
    "HsmUnavailable",
    "InvalidSeedRequest",
    "KeyAdministration",
    "KeyInfo",
    "KeyNotFound",
    "KeyPurpose",
    "OcraEngine",
    "OcraInput",
    "OcraJob",
    "OcraSuite",
    "OfficerNeeded",
    "OtpEngine",
    "OtpJob",
    "ProvisionedOcraSeed",
    "ProvisionedSeed",
    "Provisioner",
    "QuestionFormat",
    "SeedRejected",
    "WrappedSeed",
    "kdf_input",
    "parse_guarantees",
    "shortest_seed",
    "totp_counter",
    "truncate",
]
