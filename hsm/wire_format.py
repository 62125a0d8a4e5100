"""One wire format for wrapped seeds on every HSM: RFC 5649 (docs/protocol.md, "Seed
wrapping").

PKCS#11 modules disagree on what their mechanisms do: SoftHSM 2.6's
`CKM_AES_KEY_WRAP_PAD` is RFC 5649 (after padding the key with zeros to a multiple of 8
bytes); NSS softokn's is RFC 3394 over PKCS#7 padding, and its RFC 5649 is
`CKM_AES_KEY_WRAP_KWP`. So the mechanism is found by a known-answer test on the module
itself, never by its name: RFC 5649 §6's 20-octet example (a 192-bit KEK) is wrapped with
each candidate, and the first whose output is the RFC's (or RFC 5649 of the key padded
with zeros to 24 octets, as SoftHSM makes it: a standard unwrap then gives the key and four
zero octets, and the bundle's `seed_length` says where the seed ends) is the module's.

A KEK records the format of every blob under it when it is made (`hsm.trusted_kek`): in
its CKA_ID (`otp-kek-v2 wrap=AES_KEY_WRAP_KWP`), and in `CKA_ALLOWED_MECHANISMS` where the
HSM takes that attribute on a token key (SoftHSM does, and then refuses any other
mechanism with the KEK; NSS softokn answers CKR_GENERAL_ERROR). A KEK that records
neither was made by a release that only knew `CKM_AES_KEY_WRAP_PAD`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pkcs11
import pkcs11.exceptions as p11e
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from hsm.attributes import KEK_ID_FORMAT
from hsm.cryptoki import Cryptoki, handle_of
from hsm.errors import HsmUnavailable

CANDIDATES: tuple[Mechanism, ...] = (Mechanism.AES_KEY_WRAP_PAD, Mechanism.AES_KEY_WRAP_KWP)
"""The mechanisms that may be RFC 5649 on some module, in the order they are tried."""

LEGACY_MECHANISM = Mechanism.AES_KEY_WRAP_PAD
"""What a KEK that records no format wraps with (releases before this one)."""


# RFC 5649 §6, "Padded Key Wrap Examples", the 20-octet key.
_KAT_KEK = bytes.fromhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
_KAT_KEY = bytes.fromhex("c37b7e6492584340bed12207808941155068f738")
_KAT_WRAPPED = bytes.fromhex("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")
# The same key padded with zeros to 24 octets, wrapped in software (SoftHSM 2.6's way).
_KAT_WRAPPED_ZERO_PADDED = aes_key_wrap_with_padding(_KAT_KEK, _KAT_KEY + bytes(4))


class NoStandardWrap(HsmUnavailable):
    """The module has no mechanism that wraps as RFC 5649: nothing is provisioned on it."""


@dataclass(frozen=True)
class WrapFormat:
    """What the known-answer test found on a module."""

    mechanism: Mechanism | None
    """The mechanism that gives RFC 5649, or None."""
    answers: dict[str, str]
    """For each candidate tried: "rfc5649", "rfc5649, zero-padded", "other output" or the
    module's error."""

    def summary(self) -> str:
        """The mechanism found (or "none") and each candidate's answer, for officers."""
        tried = ", ".join(f"{name}: {answer}" for name, answer in self.answers.items())
        found = "none" if self.mechanism is None else self.mechanism.name
        return f"{found} ({tried})"

    def require(self) -> Mechanism:
        """The mechanism, or `NoStandardWrap` naming what each candidate did."""
        if self.mechanism is None:
            tried = ", ".join(f"{name}: {answer}" for name, answer in self.answers.items())
            raise NoStandardWrap(
                "this HSM has no mechanism that wraps keys as RFC 5649 "
                f"({tried}): seeds cannot be provisioned on it"
            )
        return self.mechanism


def find(session: pkcs11.Session, direct: Cryptoki) -> WrapFormat:
    """Try each candidate on throw-away session objects holding the RFC's test values."""
    handle = handle_of(session)
    answers: dict[str, str] = {}
    found: Mechanism | None = None
    kek = direct.create(
        handle,
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.TOKEN: False,
            Attribute.VALUE: _KAT_KEK,
            Attribute.WRAP: True,
            Attribute.UNWRAP: False,
            Attribute.ENCRYPT: False,
            Attribute.DECRYPT: False,
        },
    )
    try:
        key = direct.create(
            handle,
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.TOKEN: False,
                Attribute.VALUE: _KAT_KEY,
                Attribute.EXTRACTABLE: True,
                Attribute.SIGN: True,
            },
        )
        try:
            for mechanism in CANDIDATES:
                try:
                    out = direct.wrap(handle, kek, key, mechanism)
                except p11e.PKCS11Error as exc:
                    answers[mechanism.name] = type(exc).__name__
                    continue
                if out == _KAT_WRAPPED:
                    answers[mechanism.name] = "rfc5649"
                elif out == _KAT_WRAPPED_ZERO_PADDED:
                    answers[mechanism.name] = "rfc5649, zero-padded"
                else:
                    answers[mechanism.name] = "other output"
                    continue
                if found is None:
                    found = mechanism
        finally:
            direct.destroy(handle, key)
    finally:
        direct.destroy(handle, kek)
    return WrapFormat(found, answers)


def recorded(direct: Cryptoki, session: int, kek: int) -> Mechanism:
    """The wrap format a KEK records: its CKA_ALLOWED_MECHANISMS (enforced by the HSM),
    else its CKA_ID (an HSM that refuses the attribute on token keys, as NSS softokn
    does), else the legacy one."""
    allowed = direct.mechanism_list(session, kek, Attribute.ALLOWED_MECHANISMS)
    for mechanism in allowed or ():
        if mechanism in CANDIDATES:
            return Mechanism(mechanism)
    try:
        identifier = direct.value(session, kek, Attribute.ID).decode("ascii", "replace")
    except p11e.PKCS11Error:
        identifier = ""
    _, marker, name = identifier.partition(KEK_ID_FORMAT)
    for mechanism in CANDIDATES if marker else ():
        if mechanism.name == name:
            return mechanism
    return LEGACY_MECHANISM
