"""The attributes that keep seeds inside the HSM (docs/hsm.md, "What the HSM enforces").

A KEK carries an unwrap template (`SEED_UNWRAP_TEMPLATE`): whatever a caller asks for, an
object unwrapped under it is a sensitive, SIGN-only session object that nobody can modify,
and that only a *trusted* key may wrap (`CKA_WRAP_WITH_TRUSTED`). Only the security officer
can mark a key trusted, so a session holding the user PIN cannot wrap a seed out under a
key of its own. The KEK itself is not modifiable (no `CKA_DECRYPT` can be switched on to
decrypt blobs with AES-ECB, no copy with other attributes).

SoftHSM 2.6.1 enforces a template exactly: every listed attribute must be in the caller's
template with the same value, or the unwrap is refused with CKR_TEMPLATE_INCONSISTENT. So
the templates here are the only ones that unwrap a seed at all. It also applies a
template's attributes in order and refuses changes after CKA_MODIFIABLE false: that
attribute comes last in every template below.

`CKA_EXTRACTABLE` is left out of the unwrap template on purpose: the verify path unwraps
with it false; KEK rotation unwraps with it true, which lets the seed be wrapped again under
a trusted key (a KEK) and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Union

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

TemplateValue = Union[bool, int, bytes, tuple[int, ...], "Template"]
Template = Mapping[Attribute, TemplateValue]


def _frozen(template: dict[Attribute, TemplateValue]) -> Template:
    return MappingProxyType(template)


SEED_UNWRAP_TEMPLATE: Template = _frozen(
    {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.TOKEN: False,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.WRAP_WITH_TRUSTED: True,
        Attribute.SIGN: True,
        Attribute.VERIFY: False,
        Attribute.ENCRYPT: False,
        Attribute.DECRYPT: False,
        Attribute.WRAP: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
        Attribute.MODIFIABLE: False,
    }
)
"""What every object unwrapped under a KEK is, whatever its caller asks."""


def changed(template: Template, changes: Template) -> Template:
    """`template` with `changes` applied, CKA_MODIFIABLE (if any) moved last: SoftHSM
    refuses any attribute that comes after CKA_MODIFIABLE false."""
    merged: dict[Attribute, TemplateValue] = {**template, **changes}
    if Attribute.MODIFIABLE in merged:
        merged[Attribute.MODIFIABLE] = merged.pop(Attribute.MODIFIABLE)
    return _frozen(merged)


def unwrapped_seed_template(*, extractable: bool) -> Template:
    """The caller's side of `SEED_UNWRAP_TEMPLATE`: the verify path (`extractable` false)
    or KEK rotation (`extractable` true: wrappable again under trusted keys only)."""
    return changed(SEED_UNWRAP_TEMPLATE, {Attribute.EXTRACTABLE: extractable})


SIGNING_SEED_TEMPLATE = unwrapped_seed_template(extractable=False)
"""What the verify path unwraps a seed into."""

REWRAP_SEED_TEMPLATE = unwrapped_seed_template(extractable=True)
"""What KEK rotation unwraps a seed into, to wrap it under the new KEK."""


KEK_ID_FORMAT = " wrap="
"""How a KEK's CKA_ID records the wrap format of its blobs (`hsm.wire_format`)."""


def kek_id(label: str, mechanism: Mechanism) -> bytes:
    """The CKA_ID of KEK `label` whose blobs are wrapped with `mechanism`."""
    return f"{label}{KEK_ID_FORMAT}{mechanism.name}".encode()


def kek_template(label: str, mechanism: Mechanism) -> Template:
    """The KEK as the security officer generates it: a public, trusted token key that can
    only wrap and unwrap, with `mechanism` only (the format of its blobs:
    `hsm.wire_format`), with the unwrap template (made private by `kek_copy_template`)."""
    return _frozen(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.VALUE_LEN: 32,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: False,  # an SO session can create public objects only
            Attribute.LABEL: label.encode(),
            Attribute.ID: kek_id(label, mechanism),
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.WRAP: True,
            Attribute.UNWRAP: True,
            Attribute.ENCRYPT: False,
            Attribute.DECRYPT: False,
            Attribute.SIGN: False,
            Attribute.VERIFY: False,
            Attribute.DERIVE: False,
            Attribute.TRUSTED: True,
            Attribute.ALLOWED_MECHANISMS: (int(mechanism),),
            Attribute.UNWRAP_TEMPLATE: SEED_UNWRAP_TEMPLATE,
        }
    )


def kek_copy_template(label: str, mechanism: Mechanism) -> Template:
    """How the user session turns the officer's public KEK into the private one it keeps
    (the copy keeps CKA_TRUSTED and the unwrap template)."""
    return _frozen(
        {
            Attribute.PRIVATE: True,
            Attribute.LABEL: label.encode(),
            Attribute.ID: kek_id(label, mechanism),
            Attribute.MODIFIABLE: False,  # last
        }
    )


KEPT_SECRET: Mapping[Attribute, bool] = MappingProxyType(
    {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.ALWAYS_SENSITIVE: True,
        Attribute.NEVER_EXTRACTABLE: True,
    }
)
"""What a long-term key must read back as."""

KEK_READS_BACK: Mapping[Attribute, bool] = MappingProxyType(
    {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        **KEPT_SECRET,
        Attribute.MODIFIABLE: False,
        Attribute.ENCRYPT: False,
        Attribute.DECRYPT: False,
        Attribute.SIGN: False,
        Attribute.DERIVE: False,
        Attribute.WRAP: True,
        Attribute.UNWRAP: True,
        Attribute.TRUSTED: True,
    }
)
"""What a KEK must read back as: made in the HSM, never readable, not modifiable, able to
wrap and unwrap only, trusted. Checked when a KEK is adopted (`hsm.trusted_kek`), before
new seeds are wrapped under one (`hsm.keys.KeyRing`), and by the extraction proof."""

UNWRAPPED_SEED: Mapping[Attribute, bool] = MappingProxyType(
    {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.MODIFIABLE: False,
        Attribute.WRAP_WITH_TRUSTED: True,
    }
)
"""What a seed unwrapped by the verify path must read back as. (CKA_ALWAYS_SENSITIVE and
CKA_NEVER_EXTRACTABLE are false on every unwrapped object, as PKCS#11 says: the seed was
outside this object once, as a blob.)"""


def mismatches(expected: Mapping[Attribute, bool], found: Mapping[Attribute, bool | None]) -> str:
    """The attributes of `found` that differ from `expected`, as "NAME=value, ..." ("" if
    none; an attribute the HSM would not say reads as "?")."""
    wrong = []
    for attribute, value in expected.items():
        got = found.get(attribute)
        if got is not value:
            wrong.append(f"{attribute.name}={'?' if got is None else str(got).lower()}")
    return ", ".join(wrong)
