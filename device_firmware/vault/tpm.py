"""The TPM 2.0 commands the token uses, through tpm2-pytss (ESAPI over tpm2-tss).

Why tpm2-pytss and not tpm2-pkcs11: the vault's guarantees are TPM features that a PKCS#11
view hides. The PIN must be a TPM object's authorisation, so that every try is counted by the
TPM's dictionary-attack (DA) logic; the wipe must evict a *persistent* object, so that an old
SD-card image cannot bring the key back; the attempt counter must live in TPM NV memory. The
PKCS#11 layer keeps its objects in a SQLite store on the SD card (restorable), checks its own
user PIN in software, and offers neither DA parameters nor NV indices. ESAPI gives all three,
and it is the maintained Python binding of the TCG's own stack.

What lives in the TPM (owner hierarchy, handles in `TpmLayout`):

- a **storage key** (ECC P-256, restricted decrypt, persistent): the parent of everything
  below and the key that salts the sessions, so the PIN and the sealed key cross the bus
  (SPI on a Pi) encrypted;
- the **device identity** (ECC P-256, sign + ECDH, made in the TPM, persistent, `fixedTPM`):
  it never leaves, the TPM signs and agrees keys with it;
- the **sealed data key** (a keyed-hash data object holding 32 random bytes, persistent,
  `userWithAuth` with the PIN as its authorisation, DA-protected): a wrong PIN is a failed
  authorisation the TPM counts, and after `LockoutPolicy.max_tries` of them it refuses every
  DA-protected authorisation until `recovery_seconds` of powered-on time forgive one;
- the **attempt counter** (an 8-byte NV index, not `orderly`, so every write reaches NV
  before the command returns and a power cut cannot undo it).

`prepare` sets the DA policy the first time it sees a TPM whose lockout authorisation is
still empty, then sets that authorisation to 32 random bytes that are never stored: nobody,
the token included, can reset the DA counter or change the policy afterwards (only a
`TPM2_Clear`, which also destroys the vault's keys).

Every TPM or transport error becomes a `VaultError` from `core.errors` (messages name the TPM
response code, never a PIN or a key).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

os.environ.setdefault("TSS2_LOG", "all+NONE")  # before tpm2-tss loads: no ESYS chatter on stderr

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tpm2_pytss import ESAPI, TCTILdr, TSS2_Exception
from tpm2_pytss.constants import (
    ESYS_TR,
    TPM2_ALG,
    TPM2_CAP,
    TPM2_ECC,
    TPM2_NT,
    TPM2_PT,
    TPM2_RC,
    TPM2_RH,
    TPM2_SE,
    TPM2_ST,
    TPMA_NV,
    TPMA_OBJECT,
    TPMA_PERMANENT,
    TPMA_SESSION,
)
from tpm2_pytss.types import (
    TPM2B_AUTH,
    TPM2B_DIGEST,
    TPM2B_ECC_POINT,
    TPM2B_MAX_NV_BUFFER,
    TPM2B_NV_PUBLIC,
    TPM2B_PUBLIC,
    TPM2B_SENSITIVE_CREATE,
    TPM2B_SENSITIVE_DATA,
    TPMS_ECC_PARMS,
    TPMS_ECC_POINT,
    TPMS_KEYEDHASH_PARMS,
    TPMS_NV_PUBLIC,
    TPMS_SCHEME_HASH,
    TPMS_SENSITIVE_CREATE,
    TPMT_ECC_SCHEME,
    TPMT_KDF_SCHEME,
    TPMT_KEYEDHASH_SCHEME,
    TPMT_PUBLIC,
    TPMT_SIG_SCHEME,
    TPMT_SYM_DEF,
    TPMT_SYM_DEF_OBJECT,
    TPMT_TK_HASHCHECK,
    TPMU_PUBLIC_PARMS,
    TPMU_SIG_SCHEME,
    TPMU_SYM_KEY_BITS,
    TPMU_SYM_MODE,
)

from device_firmware.core.errors import (
    InvalidRecord,
    VaultError,
    VaultStateError,
    VaultUnreadable,
)

DEFAULT_TCTI = "device:/dev/tpmrm0"  # the kernel's resource manager on a Raspberry Pi
DATA_KEY_BYTES = 32
_COUNTER_BYTES = 8

_OBJECT_BASE = TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.USERWITHAUTH
_P256 = TPMS_ECC_PARMS(
    symmetric=TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.NULL),
    scheme=TPMT_ECC_SCHEME(scheme=TPM2_ALG.NULL),
    curveID=TPM2_ECC.NIST_P256,
    kdf=TPMT_KDF_SCHEME(scheme=TPM2_ALG.NULL),
)
_AES_128_CFB = TPMT_SYM_DEF(
    algorithm=TPM2_ALG.AES,
    keyBits=TPMU_SYM_KEY_BITS(aes=128),
    mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB),
)


class TpmAuthRefused(VaultError):
    """The TPM refused the PIN (a failed authorisation, counted by its DA logic)."""


class TpmLockedOut(VaultError):
    """The TPM's dictionary-attack lock-out is on: it checks no PIN for now.

    Attributes:
        retry_after: seconds of powered-on time until the TPM forgives one failure.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the TPM refuses PIN checks for about {retry_after} s (lock-out)")
        self.retry_after = retry_after


@dataclass(frozen=True)
class TpmLayout:
    """Where the token's objects live in the TPM (owner-range persistent handles, NV index)."""

    storage_key: int = 0x81000A00
    identity: int = 0x81000A01
    sealed_key: int = 0x81000A02
    attempts: int = 0x01800A01


@dataclass(frozen=True)
class LockoutPolicy:
    """The TPM's dictionary-attack parameters, set once by `Tpm.prepare` (docs/pi.md).

    Attributes:
        max_tries: failed authorisations before the TPM locks out.
        recovery_seconds: powered-on seconds after which one failure is forgiven.
        lockout_recovery_seconds: for the lockout hierarchy itself (unusable: its
            authorisation is thrown away).
    """

    max_tries: int = 5
    recovery_seconds: int = 24 * 3600
    lockout_recovery_seconds: int = 24 * 3600

    def __post_init__(self) -> None:
        if not 1 <= self.max_tries <= 32:
            raise InvalidRecord("the TPM's max_tries must be 1..32")
        if self.recovery_seconds < 1 or self.lockout_recovery_seconds < 1:
            raise InvalidRecord("a recovery time of 0 switches the TPM's DA protection off")


@dataclass(frozen=True)
class LockoutState:
    """What the TPM reports about its dictionary-attack protection."""

    failed_tries: int
    max_tries: int
    recovery_seconds: int
    lockout_auth_set: bool

    @property
    def locked_out(self) -> bool:
        """The TPM refuses DA-protected authorisations now."""
        return self.failed_tries >= self.max_tries


@dataclass(frozen=True)
class TpmReport:
    """What `Tpm.report` found: the chip, its DA state, the token's objects in it."""

    manufacturer: bytes
    vendor: bytes
    lockout: LockoutState
    storage_key: bool
    identity: bytes | None  # the identity's public key (DER SPKI), if one exists
    sealed_key: bool


class Tpm:
    """A TPM 2.0 reached through a TCTI; one connection per operation.

    A connection is opened and closed around each operation (and every transient object
    flushed), so the token holds no TPM session between key presses and a test's TPM
    simulator can be restarted under it.

    Args:
        tcti: "device:/dev/tpmrm0" on a Pi, "swtpm:host=127.0.0.1,port=2321" for swtpm.
        layout: the handles the token's objects use.

    Raises:
        InvalidRecord: the TCTI is not "name" or "name:configuration".
    """

    def __init__(self, tcti: str = DEFAULT_TCTI, layout: TpmLayout | None = None) -> None:
        name, _, conf = tcti.partition(":")
        if not name:
            raise InvalidRecord(f"not a TCTI: {tcti!r}")
        self.tcti = tcti
        self._tcti_name = name
        self._tcti_conf = conf or None
        self.layout = layout or TpmLayout()

    def __repr__(self) -> str:
        return f"Tpm({self.tcti!r})"

    # ---- connection ---------------------------------------------------------------------

    @contextmanager
    def _connected(self) -> Iterator[ESAPI]:
        try:
            tcti = TCTILdr(self._tcti_name, self._tcti_conf)
            esapi = ESAPI(tcti)
        except TSS2_Exception as exc:
            raise VaultUnreadable(f"the TPM at {self.tcti} cannot be reached ({exc})") from None
        try:
            yield esapi
        except TSS2_Exception as exc:
            raise VaultUnreadable(f"the TPM refused an operation ({_rc_text(exc)})") from None
        finally:
            esapi.close()
            tcti.close()

    # ---- DA policy and the storage key --------------------------------------------------

    def prepare(self, policy: LockoutPolicy) -> LockoutState:
        """Make the storage key and the counter if missing; set the DA policy on a new TPM.

        The policy is set only while the lockout authorisation is empty (a TPM nobody has
        configured): then the authorisation becomes 32 random bytes nobody keeps.
        """
        with self._connected() as esapi:
            if self._find(esapi, self.layout.storage_key) is None:
                self._make_storage_key(esapi)
            if self._find(esapi, self.layout.attempts) is None:
                self._define_counter(esapi)
            if not _permanent(esapi) & TPMA_PERMANENT.LOCKOUTAUTHSET:
                esapi.dictionary_attack_parameters(
                    policy.max_tries,
                    policy.recovery_seconds,
                    policy.lockout_recovery_seconds,
                    lock_handle=ESYS_TR.LOCKOUT,
                )
                esapi.hierarchy_change_auth(ESYS_TR.LOCKOUT, TPM2B_AUTH(secrets.token_bytes(32)))
            return _lockout_state(esapi)

    def lockout_state(self) -> LockoutState:
        """The DA counter, its limit and recovery time, and whether the policy is fixed."""
        with self._connected() as esapi:
            return _lockout_state(esapi)

    def report(self) -> TpmReport:
        """What the TPM is and which of the token's objects it holds (changes nothing)."""
        with self._connected() as esapi:
            # MANUFACTURER, then VENDOR_STRING_1..4 (TPM 2.0 part 2, TPM_PT)
            _, data = esapi.get_capability(TPM2_CAP.TPM_PROPERTIES, TPM2_PT.MANUFACTURER, 5)
            values = {int(p.property): int(p.value) for p in data.data.tpmProperties}
            vendor = b"".join(
                values.get(TPM2_PT.MANUFACTURER + 1 + i, 0).to_bytes(4, "big") for i in range(4)
            )
            identity = self._find(esapi, self.layout.identity)
            return TpmReport(
                manufacturer=values[TPM2_PT.MANUFACTURER].to_bytes(4, "big").strip(b"\0 "),
                vendor=vendor.replace(b"\0", b"").strip(),
                lockout=_lockout_state(esapi),
                storage_key=self._find(esapi, self.layout.storage_key) is not None,
                identity=(
                    bytes(esapi.read_public(identity)[0].to_der()) if identity is not None else None
                ),
                sealed_key=self._find(esapi, self.layout.sealed_key) is not None,
            )

    def _make_storage_key(self, esapi: ESAPI) -> None:
        attributes = (
            _OBJECT_BASE
            | TPMA_OBJECT.SENSITIVEDATAORIGIN
            | TPMA_OBJECT.RESTRICTED
            | TPMA_OBJECT.DECRYPT
            | TPMA_OBJECT.NODA
        )
        parameters = TPMS_ECC_PARMS(
            symmetric=TPMT_SYM_DEF_OBJECT(
                algorithm=TPM2_ALG.AES,
                keyBits=TPMU_SYM_KEY_BITS(aes=128),
                mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB),
            ),
            scheme=TPMT_ECC_SCHEME(scheme=TPM2_ALG.NULL),
            curveID=TPM2_ECC.NIST_P256,
            kdf=TPMT_KDF_SCHEME(scheme=TPM2_ALG.NULL),
        )
        public = TPM2B_PUBLIC(
            TPMT_PUBLIC(
                type=TPM2_ALG.ECC,
                nameAlg=TPM2_ALG.SHA256,
                objectAttributes=attributes,
                parameters=TPMU_PUBLIC_PARMS(eccDetail=parameters),
            )
        )
        handle, *_ = esapi.create_primary(TPM2B_SENSITIVE_CREATE(), public)
        try:
            esapi.evict_control(ESYS_TR.OWNER, handle, self.layout.storage_key)
        finally:
            esapi.flush_context(handle)

    def _define_counter(self, esapi: ESAPI) -> None:
        attributes = (
            TPMA_NV.AUTHWRITE
            | TPMA_NV.AUTHREAD
            | TPMA_NV.NO_DA
            | (TPM2_NT.ORDINARY << TPMA_NV.TPM2_NT_SHIFT)
        )
        public = TPM2B_NV_PUBLIC(
            TPMS_NV_PUBLIC(
                nvIndex=self.layout.attempts,
                nameAlg=TPM2_ALG.SHA256,
                attributes=attributes,
                dataSize=_COUNTER_BYTES,
            )
        )
        index = esapi.nv_define_space(TPM2B_AUTH(b""), public)
        esapi.nv_write(index, TPM2B_MAX_NV_BUFFER(bytes(_COUNTER_BYTES)), 0, auth_handle=index)

    # ---- the attempt counter ------------------------------------------------------------

    def read_attempts(self) -> int:
        """PIN attempts counted since the last right PIN (0 before `prepare`)."""
        with self._connected() as esapi:
            return self._attempts(esapi)

    def sealed_state(self) -> tuple[bytes | None, int]:
        """`sealed_key_name` and `read_attempts` at once, on one connection (what a vault
        asks before every unlock and at every start)."""
        with self._connected() as esapi:
            return self._sealed_name(esapi), self._attempts(esapi)

    def _attempts(self, esapi: ESAPI) -> int:
        index = self._find(esapi, self.layout.attempts)
        if index is None:
            return 0
        data = esapi.nv_read(index, _COUNTER_BYTES, 0, auth_handle=index)
        return int.from_bytes(bytes(data), "big")

    def write_attempts(self, used: int) -> None:
        """Store the attempt counter in NV; durable when this returns.

        Raises:
            VaultStateError: `prepare` has not made the counter.
        """
        with self._connected() as esapi:
            index = self._find(esapi, self.layout.attempts)
            if index is None:
                raise VaultStateError("the TPM has no attempt counter; prepare it first")
            esapi.nv_write(
                index,
                TPM2B_MAX_NV_BUFFER(used.to_bytes(_COUNTER_BYTES, "big")),
                0,
                auth_handle=index,
            )

    # ---- the sealed data key ------------------------------------------------------------

    def sealed_key_name(self) -> bytes | None:
        """The TPM Name of the persistent sealed key (a hash of its public area), if any."""
        with self._connected() as esapi:
            return self._sealed_name(esapi)

    def _sealed_name(self, esapi: ESAPI) -> bytes | None:
        handle = self._find(esapi, self.layout.sealed_key)
        if handle is None:
            return None
        _, name, _ = esapi.read_public(handle)
        return bytes(name)

    def seal(self, pin: str, data_key: bytes) -> bytes:
        """Store `data_key` in a persistent object whose authorisation is `pin`; its Name.

        Raises:
            VaultStateError: a sealed key already exists.
        """
        public = TPM2B_PUBLIC(
            TPMT_PUBLIC(
                type=TPM2_ALG.KEYEDHASH,
                nameAlg=TPM2_ALG.SHA256,
                objectAttributes=_OBJECT_BASE,  # no NODA: every failed PIN is counted
                parameters=TPMU_PUBLIC_PARMS(
                    keyedHashDetail=TPMS_KEYEDHASH_PARMS(
                        scheme=TPMT_KEYEDHASH_SCHEME(scheme=TPM2_ALG.NULL)
                    )
                ),
            )
        )
        sensitive = TPM2B_SENSITIVE_CREATE(
            TPMS_SENSITIVE_CREATE(
                userAuth=TPM2B_AUTH(_auth_value(pin)), data=TPM2B_SENSITIVE_DATA(data_key)
            )
        )
        with self._connected() as esapi:
            if self._find(esapi, self.layout.sealed_key) is not None:
                raise VaultStateError("a sealed key already exists in the TPM")
            parent = self._storage(esapi)
            with self._salted_session(esapi, parent) as session:
                private, created, *_ = esapi.create(parent, sensitive, public, session1=session)
            loaded = esapi.load(parent, private, created)
            try:
                esapi.evict_control(ESYS_TR.OWNER, loaded, self.layout.sealed_key)
            finally:
                esapi.flush_context(loaded)
            return bytes(created.get_name())

    def unseal(self, pin: str) -> bytes:
        """The sealed data key, if the TPM accepts `pin`.

        Raises:
            TpmAuthRefused: the PIN is wrong (the TPM counted a failure).
            TpmLockedOut: the TPM is in DA lock-out and checked nothing.
            VaultStateError: there is no sealed key.
        """
        with self._connected() as esapi:
            handle = self._find(esapi, self.layout.sealed_key)
            if handle is None:
                raise VaultStateError("the TPM holds no sealed key")
            esapi.tr_set_auth(handle, TPM2B_AUTH(_auth_value(pin)))
            with self._salted_session(esapi, self._storage(esapi)) as session:
                try:
                    return bytes(esapi.unseal(handle, session1=session))
                except TSS2_Exception as exc:
                    if exc.error in (TPM2_RC.AUTH_FAIL, TPM2_RC.BAD_AUTH):
                        raise TpmAuthRefused("the TPM refused the PIN") from None
                    if exc.error == TPM2_RC.LOCKOUT:
                        raise TpmLockedOut(_lockout_state(esapi).recovery_seconds) from None
                    raise

    def destroy_sealed_key(self) -> None:
        """Evict the sealed key (from then on no PIN opens any copy of the vault)."""
        self._evict(self.layout.sealed_key)

    # ---- the device identity ------------------------------------------------------------

    def make_identity(self) -> bytes:
        """The identity's public key (DER SPKI), the key pair made in the TPM if missing."""
        with self._connected() as esapi:
            handle = self._find(esapi, self.layout.identity)
            if handle is None:
                handle = self._make_identity(esapi)
            public, _, _ = esapi.read_public(handle)
            return bytes(public.to_der())

    def _make_identity(self, esapi: ESAPI) -> ESYS_TR:
        attributes = (
            _OBJECT_BASE
            | TPMA_OBJECT.SENSITIVEDATAORIGIN
            | TPMA_OBJECT.SIGN_ENCRYPT
            | TPMA_OBJECT.DECRYPT
            | TPMA_OBJECT.NODA
        )
        public = TPM2B_PUBLIC(
            TPMT_PUBLIC(
                type=TPM2_ALG.ECC,
                nameAlg=TPM2_ALG.SHA256,
                objectAttributes=attributes,
                parameters=TPMU_PUBLIC_PARMS(eccDetail=_P256),
            )
        )
        parent = self._storage(esapi)
        private, created, *_ = esapi.create(parent, TPM2B_SENSITIVE_CREATE(), public)
        loaded = esapi.load(parent, private, created)
        try:
            return esapi.evict_control(ESYS_TR.OWNER, loaded, self.layout.identity)
        finally:
            esapi.flush_context(loaded)

    def sign(self, message: bytes) -> bytes:
        """The identity's DER ECDSA P-256 / SHA-256 signature of `message`.

        Raises:
            VaultStateError: there is no identity.
        """
        digest = hashlib.sha256(message).digest()
        scheme = TPMT_SIG_SCHEME(
            scheme=TPM2_ALG.ECDSA,
            details=TPMU_SIG_SCHEME(ecdsa=TPMS_SCHEME_HASH(hashAlg=TPM2_ALG.SHA256)),
        )
        no_ticket = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)
        with self._connected() as esapi:
            signature = esapi.sign(self._identity(esapi), TPM2B_DIGEST(digest), scheme, no_ticket)
        r = int.from_bytes(bytes(signature.signature.ecdsa.signatureR), "big")
        s = int.from_bytes(bytes(signature.signature.ecdsa.signatureS), "big")
        return encode_dss_signature(r, s)

    def exchange(self, peer_public_der: bytes) -> bytes:
        """The ECDH shared secret (x, 32 bytes) of the identity with a P-256 public key.

        Raises:
            ValueError: the peer key is not a P-256 public key.
            VaultStateError: there is no identity.
        """
        peer = serialization.load_der_public_key(peer_public_der)
        if not isinstance(peer, ec.EllipticCurvePublicKey) or not isinstance(
            peer.curve, ec.SECP256R1
        ):
            raise ValueError("the peer key is not an EC P-256 public key")
        numbers = peer.public_numbers()
        point = TPM2B_ECC_POINT(
            TPMS_ECC_POINT(x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big"))
        )
        with self._connected() as esapi:
            shared = esapi.ecdh_zgen(self._identity(esapi), point)
        return bytes(shared.point.x).rjust(32, b"\0")

    def destroy_identity(self) -> None:
        """Evict the identity (a new one is made on the next `identity_public_key`)."""
        self._evict(self.layout.identity)

    # ---- helpers ------------------------------------------------------------------------

    def _identity(self, esapi: ESAPI) -> ESYS_TR:
        handle = self._find(esapi, self.layout.identity)
        if handle is None:
            raise VaultStateError("the TPM holds no device identity")
        return handle

    def _storage(self, esapi: ESAPI) -> ESYS_TR:
        handle = self._find(esapi, self.layout.storage_key)
        if handle is None:
            raise VaultStateError("the TPM has no storage key; prepare it first")
        return handle

    def _evict(self, persistent: int) -> None:
        with self._connected() as esapi:
            handle = self._find(esapi, persistent)
            if handle is not None:
                esapi.evict_control(ESYS_TR.OWNER, handle, persistent)

    @staticmethod
    def _find(esapi: ESAPI, handle: int) -> ESYS_TR | None:
        try:
            return esapi.tr_from_tpmpublic(handle)
        except TSS2_Exception as exc:
            if exc.error == TPM2_RC.HANDLE:
                return None
            raise

    @contextmanager
    def _salted_session(self, esapi: ESAPI, salt_key: ESYS_TR) -> Iterator[ESYS_TR]:
        """An HMAC session salted with the storage key, encrypting parameters both ways."""
        session = esapi.start_auth_session(
            tpm_key=salt_key,
            bind=ESYS_TR.NONE,
            session_type=TPM2_SE.HMAC,
            symmetric=_AES_128_CFB,
            auth_hash=TPM2_ALG.SHA256,
        )
        try:
            esapi.trsess_set_attributes(
                session,
                TPMA_SESSION.CONTINUESESSION | TPMA_SESSION.DECRYPT | TPMA_SESSION.ENCRYPT,
            )
            yield session
        finally:
            esapi.flush_context(session)


def _auth_value(pin: str) -> bytes:
    """The sealed key's authorisation for `pin` (the TPM compares it; nothing stores it)."""
    return hashlib.sha256(b"otp-token-pin\0" + pin.encode("utf-8")).digest()


def _permanent(esapi: ESAPI) -> TPMA_PERMANENT:
    _, data = esapi.get_capability(TPM2_CAP.TPM_PROPERTIES, TPM2_PT.PERMANENT, 1)
    return TPMA_PERMANENT(data.data.tpmProperties[0].value)


def _lockout_state(esapi: ESAPI) -> LockoutState:
    _, data = esapi.get_capability(TPM2_CAP.TPM_PROPERTIES, TPM2_PT.LOCKOUT_COUNTER, 3)
    values = {int(p.property): int(p.value) for p in data.data.tpmProperties}
    return LockoutState(
        failed_tries=values[TPM2_PT.LOCKOUT_COUNTER],
        max_tries=values[TPM2_PT.MAX_AUTH_FAIL],
        recovery_seconds=values[TPM2_PT.LOCKOUT_INTERVAL],
        lockout_auth_set=bool(_permanent(esapi) & TPMA_PERMANENT.LOCKOUTAUTHSET),
    )


def _rc_text(exc: TSS2_Exception) -> str:
    return f"TPM response 0x{exc.rc:x}: {exc}"
