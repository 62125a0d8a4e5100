"""The server's long-term keys on the token (docs/design.md §2) and how they are found.

| label                    | what                                   | use                      |
|--------------------------|----------------------------------------|--------------------------|
| otp-kek-v<n>             | AES-256, trusted, with unwrap template | wraps every seed         |
| otp-provisioning-v<n>    | EC P-256 key pair                      | signs provisioning data  |
| otp-audit-mac-v<n>       | GENERIC_SECRET 256-bit, SIGN/VERIFY    | MACs the audit chain     |
| otp-digest-v<n>          | GENERIC_SECRET 256-bit, SIGN/VERIFY    | digests e-mailed codes   |

Keys are looked up once per session (a scan of the token is slow: PKCS11_NOTES.md) and the
handles are kept until the session changes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from hsm.attributes import KEK_READS_BACK, KEPT_SECRET
from hsm.errors import InvalidSeedRequest, KeyNotFound

LABEL_PREFIX = "otp-"
_LABEL_RE = re.compile(r"^otp-(kek|provisioning|audit-mac|digest)-v(\d+)$")


class KeyPurpose(enum.StrEnum):
    """What a key on the token is for."""

    SEED_WRAPPING = "kek"
    PROVISIONING = "provisioning"
    AUDIT_MAC = "audit-mac"
    CODE_DIGEST = "digest"
    """Keyed digests of short secrets the database keeps (e-mailed codes): a key of its
    own, so that the audit key seals audit heads and nothing else."""


def key_label(purpose: KeyPurpose, version: int) -> str:
    """The label a key of this purpose and version has on the token."""
    return f"{LABEL_PREFIX}{purpose.value}-v{version}"


@dataclass(frozen=True)
class KeyInfo:
    """One key of the hierarchy, as listed to officers and on /health/ready."""

    label: str
    purpose: KeyPurpose
    version: int
    key_type: str
    sensitive: bool
    extractable: bool


def _flag(obj: Any, attribute: Attribute, *, default: bool = False) -> bool:
    try:
        return bool(obj[attribute])
    except pkcs11.PKCS11Error:  # an HSM without the attribute
        return default


_ONLY_SIGNS: dict[Attribute, bool] = {
    Attribute.SIGN: True,
    Attribute.ENCRYPT: False,
    Attribute.DECRYPT: False,
    Attribute.WRAP: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}
_MADE_HERE: dict[Attribute, bool] = {
    **KEPT_SECRET,
    Attribute.MODIFIABLE: False,
    # made by C_GenerateKey(Pair) on this token: on SoftHSM 2.6 a key created with a
    # value of the caller's choice reads LOCAL, ALWAYS_SENSITIVE and NEVER_EXTRACTABLE
    # false (none can be set), and one derived by ECDH from a point of the caller's
    # (whose value it knows) ALWAYS_SENSITIVE and NEVER_EXTRACTABLE true but LOCAL false
    Attribute.LOCAL: True,
}
LONG_TERM_READS_BACK: dict[KeyPurpose, dict[Attribute, bool]] = {
    KeyPurpose.SEED_WRAPPING: dict(KEK_READS_BACK),
    # the audit MAC key seals audit heads and can be used for nothing else
    KeyPurpose.AUDIT_MAC: {**_MADE_HERE, **_ONLY_SIGNS},
    KeyPurpose.CODE_DIGEST: {**_MADE_HERE, **_ONLY_SIGNS},
    # the provisioning key signs bundles (and derives nothing: it is not the ECDH key)
    KeyPurpose.PROVISIONING: {
        **_MADE_HERE,
        Attribute.SIGN: True,
        Attribute.DERIVE: False,
        Attribute.DECRYPT: False,
    },
}
"""What a key of each purpose must read back as to be used (`KeyRing`) and what the
extraction proof checks (`attributes`)."""


def expected_attributes(
    purpose: KeyPurpose, *, untrusted_keks: bool = False
) -> dict[Attribute, bool]:
    """`LONG_TERM_READS_BACK[purpose]`, on an HSM whose officer cannot make keys (NSS
    softokn) without what such an HSM cannot give: CKA_TRUSTED on a KEK, and CKA_LOCAL
    (softokn reads it false on the keys it generates, and lets C_CreateObject set it)."""
    expected = dict(LONG_TERM_READS_BACK[purpose])
    if untrusted_keks:
        expected.pop(Attribute.TRUSTED, None)
        expected.pop(Attribute.LOCAL, None)
    return expected


def _wrong(obj: Any, expected: dict[Attribute, bool]) -> list[str]:
    """What `obj` reads back as that `expected` forbids, as "name=value"."""
    found = {a: _flag(obj, a, default=not wanted) for a, wanted in expected.items()}
    return [
        f"{attribute.name}={found[attribute]}".lower()
        for attribute, wanted in expected.items()
        if found[attribute] is not wanted
    ]


def _matching_public(private: Any, candidates: list[Any]) -> Any:
    """The one of `candidates` that verifies a signature by `private` (the first when
    there is one candidate, or no private key, or none verifies)."""
    if len(candidates) == 1 or private is None:
        return candidates[0]
    digest = bytes(32)
    try:
        signature = private.sign(digest, mechanism=Mechanism.ECDSA)
    except pkcs11.PKCS11Error:
        return candidates[0]
    for candidate in candidates:
        try:
            if candidate.verify(digest, signature, mechanism=Mechanism.ECDSA):
                return candidate
        except pkcs11.PKCS11Error:
            continue
    return candidates[0]


KekMaker = Callable[[pkcs11.Session, int], str]
"""Makes KEK `version` on the token and returns its label (see `hsm.trusted_kek`)."""


class KeyRing:
    """Handles of the server's keys in one session.

    Any process holding the user PIN can put an object labelled `otp-kek-v9` (or
    `otp-audit-mac-v9`, `otp-provisioning-v9`) on the token. So a key protects new material
    only if it is *vetted*: it reads back as `LONG_TERM_READS_BACK` says for its purpose
    and no other object has its label. An unvetted KEK still unwraps the blobs that name
    its version (an installation made before the trusted KEK), and the extraction proof
    reports it; it is current only while no KEK is vetted (such an installation). An
    unvetted audit or provisioning key still verifies what names its version; the current
    one is the newest vetted, else the oldest (nothing makes a second version of these:
    a newer one that is not vetted was put there by someone else).
    """

    def __init__(self, *, untrusted_keks: bool = False) -> None:
        self._keys: dict[tuple[KeyPurpose, int], Any] = {}
        self._public: dict[int, Any] = {}
        self._vetted: set[tuple[KeyPurpose, int]] = set()
        self.problems: list[str] = []
        """Why a KEK on the token is not vetted, one line each (shown by the proof; the
        other keys' attributes are the proof's `attributes`)."""
        self.duplicated: dict[str, int] = {}
        self.untrusted_keks = untrusted_keks
        """An HSM whose officer cannot make keys (HsmConfig.kek_without_officer)."""

    def load(self, session: pkcs11.Session) -> None:
        """Scan the token once for our keys."""
        found: dict[tuple[KeyPurpose, int], list[Any]] = {}
        publics: dict[int, list[Any]] = {}
        for object_class in (
            ObjectClass.SECRET_KEY,
            ObjectClass.PRIVATE_KEY,
            ObjectClass.PUBLIC_KEY,
        ):
            # list() exhausts the iterator: an open find operation blocks the next one.
            for obj in list(session.get_objects({Attribute.CLASS: object_class})):
                match = _LABEL_RE.match(obj[Attribute.LABEL] or "")
                if match is None:
                    continue
                purpose, version = KeyPurpose(match.group(1)), int(match.group(2))
                if object_class is ObjectClass.PUBLIC_KEY:
                    publics.setdefault(version, []).append(obj)
                else:
                    found.setdefault((purpose, version), []).append(obj)
        keys: dict[tuple[KeyPurpose, int], Any] = {}
        problems: list[str] = []
        vetted: set[tuple[KeyPurpose, int]] = set()
        duplicated: dict[str, int] = {}
        for (purpose, version), objects in found.items():
            label = key_label(purpose, version)
            expected = expected_attributes(purpose, untrusted_keks=self.untrusted_keks)
            wrongs = [_wrong(obj, expected) for obj in objects]
            if purpose is KeyPurpose.SEED_WRAPPING:
                keys[(purpose, version)] = objects[-1]
                if len(objects) > 1:
                    problems.append(f"{len(objects)} objects are labelled {label}")
                elif wrongs[0]:
                    problems.append(f"{label} is not a vetted KEK: {', '.join(wrongs[0])}")
                else:
                    vetted.add((purpose, version))
                continue
            # a key planted under a label in use: the one that reads back best is used
            # (a created or derived key reads LOCAL or ALWAYS_SENSITIVE false), and the
            # label is reported
            best = min(range(len(objects)), key=lambda i: len(wrongs[i]))
            keys[(purpose, version)] = objects[best]
            if len(objects) > 1:
                duplicated[label] = len(objects)
            if not wrongs[best]:
                vetted.add((purpose, version))
        public = {}
        for version, candidates in publics.items():
            if len(candidates) > 1:
                duplicated[f"{key_label(KeyPurpose.PROVISIONING, version)} (public)"] = len(
                    candidates
                )
            public[version] = _matching_public(
                keys.get((KeyPurpose.PROVISIONING, version)), candidates
            )
        self._keys, self._public = keys, public
        self._vetted, self.problems = vetted, problems
        self.duplicated = duplicated
        """Labels of audit, digest and provisioning keys that more than one object has
        (and how many): the proof reports them."""

    def versions(self, purpose: KeyPurpose) -> list[int]:
        """Versions present for `purpose`, oldest first."""
        return sorted(v for (p, v) in self._keys if p is purpose)

    def current_version(self, purpose: KeyPurpose) -> int:
        """The version of `purpose` that protects new material: the newest vetted one;
        if none is, the newest KEK or the oldest other key (see the class)."""
        versions = self.versions(purpose)
        if not versions:
            raise KeyNotFound(f"no {purpose.value} key on the token: run `otp-hsm init-keys` first")
        vetted = [v for v in versions if (purpose, v) in self._vetted]
        if vetted:
            return vetted[-1]
        return versions[-1] if purpose is KeyPurpose.SEED_WRAPPING else versions[0]

    def get(self, purpose: KeyPurpose, version: int | None = None) -> Any:
        """The handle of a key (the current version when `version` is None)."""
        if version is None:
            version = self.current_version(purpose)
        try:
            return self._keys[(purpose, version)]
        except KeyError:
            raise KeyNotFound(f"key {key_label(purpose, version)} is not on the token") from None

    def public_key(self, version: int | None = None) -> Any:
        """The public half of the provisioning key pair."""
        if version is None:
            version = self.current_version(KeyPurpose.PROVISIONING)
        try:
            return self._public[version]
        except KeyError:
            label = key_label(KeyPurpose.PROVISIONING, version)
            raise KeyNotFound(f"public key {label} is not on the token") from None

    def ensure(self, session: pkcs11.Session, make_kek: KekMaker) -> list[str]:
        """Create whichever of KEK v1, provisioning v1, audit MAC v1 and code digest v1 is
        missing.

        Returns:
            The labels created (empty when everything was there).
        """
        self.load(session)
        created = []
        if not self.versions(KeyPurpose.SEED_WRAPPING):
            created.append(make_kek(session, 1))
        if not self.versions(KeyPurpose.PROVISIONING):
            created.append(create_provisioning_key(session, 1))
        if not self.versions(KeyPurpose.AUDIT_MAC):
            created.append(create_hmac_key(session, KeyPurpose.AUDIT_MAC, 1))
        if not self.versions(KeyPurpose.CODE_DIGEST):
            created.append(create_hmac_key(session, KeyPurpose.CODE_DIGEST, 1))
        if created:
            self.load(session)
        return created

    def create_next_kek(self, session: pkcs11.Session, make_kek: KekMaker) -> int:
        """Create KEK version max+1 and make it current."""
        self.load(session)
        versions = self.versions(KeyPurpose.SEED_WRAPPING)
        version = (versions[-1] if versions else 0) + 1
        make_kek(session, version)
        self.load(session)
        return version

    def destroy_kek(self, session: pkcs11.Session, version: int) -> None:
        """Destroy an old KEK version; the current one is refused."""
        self.load(session)
        if version == self.current_version(KeyPurpose.SEED_WRAPPING):
            raise InvalidSeedRequest(f"KEK v{version} is the current KEK and cannot be retired")
        self.get(KeyPurpose.SEED_WRAPPING, version).destroy()
        self.load(session)

    def inventory(self) -> list[KeyInfo]:
        """Every key of the hierarchy, by purpose then version."""
        result = []
        for (purpose, version), obj in sorted(self._keys.items()):
            result.append(
                KeyInfo(
                    label=key_label(purpose, version),
                    purpose=purpose,
                    version=version,
                    key_type=KeyType(obj[Attribute.KEY_TYPE]).name,
                    sensitive=bool(obj[Attribute.SENSITIVE]),
                    extractable=bool(obj[Attribute.EXTRACTABLE]),
                )
            )
        return result


def _kept_secret() -> dict[Attribute, Any]:
    # CKA_MODIFIABLE false: no attribute can be switched on later (e.g. CKA_DERIVE)
    return {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.PRIVATE: True,
        Attribute.MODIFIABLE: False,
    }


def create_provisioning_key(session: pkcs11.Session, version: int) -> str:
    """Generate the EC P-256 key pair that signs provisioning bundles."""
    label = key_label(KeyPurpose.PROVISIONING, version)
    session.generate_keypair(
        KeyType.EC,
        label=label,
        id=label.encode(),
        store=True,
        capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
        public_template={Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
        private_template=_kept_secret(),
    )
    return label


def create_hmac_key(session: pkcs11.Session, purpose: KeyPurpose, version: int) -> str:
    """Generate a 256-bit HMAC key: the audit key that seals the audit hash chain, or the
    code digest key."""
    label = key_label(purpose, version)
    session.generate_key(
        KeyType.GENERIC_SECRET,
        256,
        label=label,
        id=label.encode(),
        store=True,
        capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
        template=_kept_secret(),
    )
    return label
