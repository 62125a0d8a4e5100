"""The start-up proof that no seed can leave the HSM: real extraction attempts.

Run with the server's own session (the attacker this guards against has taken over a
server process and holds the user PIN), against a *scratch* seed whose value only this
module knows, under every KEK on the token. Each attempt is what such an attacker would
try; it is `refused` when the HSM refuses it (or it yields nothing readable), `allowed`
when it gives the scratch seed's value, or an object the guarantee forbids. docs/hsm.md
lists the attempts and what SoftHSM 2.6 answers.

| guarantee            | the attempt                                                        |
|----------------------|--------------------------------------------------------------------|
| unwrap-readable      | C_UnwrapKey as a non-sensitive object, then read CKA_VALUE         |
| unwrap-extractable   | C_UnwrapKey as extractable, wrap under an own key, unwrap readable |
| wrap-out             | wrap the verify path's object under an own key                     |
| copy-changed         | C_CopyObject / C_SetAttributeValue of the verify path's object     |
|                      | to readable, extractable or token                                  |
| kek-decrypt          | switch CKA_DECRYPT on the KEK (set, or a copy), AES-ECB-decrypt    |
|                      | the blob, invert RFC 5649 in software                              |
| kek-wrap-out         | wrap the KEK (or a copy made extractable) under an own key, read   |
|                      | it, open the blob in software                                      |
| unwrap-to-token      | C_UnwrapKey onto the token (a seed that outlives the session)      |
| attributes           | read back what the verify path's object and the long-term keys are |
| user-trusted-key     | make a key with CKA_TRUSTED in the user's session (created with a  |
|                      | value of its own, or generated): the scheme rests on only the      |
|                      | officer being able to                                              |
| key-store-readable   | read the module's key store files (SoftHSM: the token directory in |
|                      | its configuration; NSS: a key4.db open in the process): with the   |
|                      | PIN, their keys decrypt offline                                    |
| no-stray-kek         | no other key could stand in for a KEK or hold its value: no public |
|                      | or trusted AES key outside the key ring, none with a KEK's         |
|                      | check value, one object per KEK label, every KEK vetted            |

An answer other than a refusal (`REFUSALS`: e.g. CKR_FUNCTION_FAILED, a lost session, a
set-up step that failed) proves nothing: the attempt is reported as `inconclusive`, which
counts as a missing guarantee, and such a proof is not kept (it is made again next time).

Every object made here is destroyed before returning; nothing here returns or logs a
value (the scratch seed is random and thrown away).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pkcs11
import pkcs11.exceptions as p11e
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from hsm.attributes import (
    REWRAP_SEED_TEMPLATE,
    SIGNING_SEED_TEMPLATE,
    UNWRAPPED_SEED,
    Template,
    changed,
    mismatches,
)
from hsm.cryptoki import Cryptoki, handle_of
from hsm.keys import KeyPurpose, KeyRing, expected_attributes, key_label
from hsm.seeds import SeedStore
from hsm.trusted_kek import PENDING_SUFFIX
from hsm.wire_format import LEGACY_MECHANISM

GUARANTEES = (
    "unwrap-readable",
    "unwrap-extractable",
    "wrap-out",
    "copy-changed",
    "kek-decrypt",
    "kek-wrap-out",
    "unwrap-to-token",
    "attributes",
    "user-trusted-key",
    "key-store-readable",
    "no-stray-kek",
    "inconclusive",
)
_CHECKS = frozenset({"attributes", "no-stray-kek"})
"""Guarantees checked by reading attributes rather than by an attempt."""
_SCRATCH_LENGTH = 20
_RFC5649_PREFIX = bytes.fromhex("A65959A6")


def parse_guarantees(text: str) -> frozenset[str]:
    """The guarantees named in `text`, comma-separated (how an officer accepts weaknesses).

    Raises:
        ValueError: a name that is not one of `GUARANTEES`.
    """
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(names - set(GUARANTEES))
    if unknown:
        raise ValueError(
            f"unknown guarantee(s) {', '.join(unknown)}; known: {', '.join(GUARANTEES)}"
        )
    return names


@dataclass(frozen=True)
class Attempt:
    """One extraction attempt and the HSM's answer."""

    guarantee: str
    subject: str
    """What was attacked: a KEK label, or "token"."""
    held: bool
    """True when the attempt was refused (the guarantee holds)."""
    detail: str
    """What happened, e.g. "CKR_TEMPLATE_INCONSISTENT" or "gave the seed's value"."""


@dataclass(frozen=True)
class ExtractionProof:
    """Every attempt made, and which guarantees failed."""

    attempts: tuple[Attempt, ...] = ()

    @property
    def weaknesses(self) -> list[str]:
        """The guarantees some attempt broke, in `GUARANTEES` order."""
        broken = {a.guarantee for a in self.attempts if not a.held}
        return [g for g in GUARANTEES if g in broken]

    @property
    def holds(self) -> bool:
        return not self.weaknesses

    def summary(self, only: Iterable[str] | None = None) -> str:
        """What each broken guarantee's attempts did ("guarantee (subject: detail); ..."),
        for the guarantees in `only` if given."""
        wanted = set(self.weaknesses if only is None else only)
        return "; ".join(
            f"{a.guarantee} ({a.subject}: {a.detail})"
            for a in self.attempts
            if not a.held and a.guarantee in wanted
        )

    def lines(self, accepted: Iterable[str] = ()) -> list[str]:
        """One line per attempt, for an officer: refused, ALLOWED, or ALLOWED (accepted)."""
        accepted = set(accepted)
        result = []
        for a in self.attempts:
            if a.held:
                verdict = "ok" if a.guarantee in _CHECKS else "refused"
            else:
                verdict = "ALLOWED (accepted)" if a.guarantee in accepted else "ALLOWED"
            result.append(f"{verdict:<19} {a.guarantee:<19} {a.subject:<20} {a.detail}")
        return result


class _Refused(Exception):
    """An attempt the HSM stopped (or that gave nothing)."""


class _Inconclusive(Exception):
    """The HSM answered something that is not a refusal: the attempt proves nothing."""


REFUSALS: tuple[type[p11e.PKCS11Error], ...] = (
    p11e.TemplateInconsistent,
    p11e.TemplateIncomplete,
    p11e.AttributeReadOnly,
    p11e.AttributeSensitive,
    p11e.AttributeTypeInvalid,
    p11e.AttributeValueInvalid,
    p11e.KeyUnextractable,
    p11e.KeyNotWrappable,
    p11e.KeyTypeInconsistent,
    p11e.KeyHandleInvalid,
    p11e.MechanismInvalid,
    p11e.MechanismParamInvalid,
    p11e.WrappedKeyInvalid,
    p11e.FunctionNotSupported,
)
"""What counts as the HSM refusing an attempt (with CKR_ACTION_PROHIBITED, 0x1B, which
python-pkcs11 0.10 has no class for)."""
_CKR_ACTION_PROHIBITED = re.compile(r"0x0*1b$", re.IGNORECASE)


def _is_refusal(exc: p11e.PKCS11Error) -> bool:
    if isinstance(exc, REFUSALS):
        return True
    return type(exc) is p11e.PKCS11Error and bool(_CKR_ACTION_PROHIBITED.search(str(exc)))


def _ckr(exc: p11e.PKCS11Error) -> str:
    return type(exc).__name__ if type(exc) is not p11e.PKCS11Error else (str(exc) or "refused")


_MINIMAL_READABLE: Template = {
    Attribute.CLASS: ObjectClass.SECRET_KEY,
    Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
    Attribute.TOKEN: False,
    Attribute.SENSITIVE: False,
    Attribute.EXTRACTABLE: True,
}


class _Attacker:
    """The attempts, on one session, with every object they make destroyed at the end."""

    def __init__(self, session: pkcs11.Session, direct: Cryptoki) -> None:
        self.session = session
        self.handle = handle_of(session)
        self.direct = direct
        self.mechanism = LEGACY_MECHANISM
        """The wrap mechanism of the KEK under attack (`hsm.wire_format`)."""
        self._made: list[int] = []

    def keep(self, handle: int) -> int:
        self._made.append(handle)
        return handle

    def cleanup(self) -> None:
        for handle in reversed(self._made):
            try:
                self.direct.destroy(self.handle, handle)
            except p11e.PKCS11Error:
                pass  # already gone (a copy made on the token is destroyed too)
        self._made.clear()

    # -- building blocks ---------------------------------------------------------------

    def scratch_blob(self, kek: int) -> tuple[bytes, bytes]:
        """A random seed made for the proof and wrapped under `kek`: (value, blob)."""
        value = secrets.token_bytes(_SCRATCH_LENGTH)
        obj = self.session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.VALUE: value,
                Attribute.TOKEN: False,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: True,
                Attribute.SIGN: True,
            }
        )
        try:
            blob = self.direct.wrap(self.handle, kek, handle_of(obj), self.mechanism)
        finally:
            obj.destroy()
        return value, blob

    def own_key(self) -> int:
        """An AES key of the attacker's own: readable, wraps and unwraps anything."""
        return self.keep(
            self.direct.generate_key(
                self.handle,
                Mechanism.AES_KEY_GEN,
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.AES,
                    Attribute.VALUE_LEN: 32,
                    Attribute.TOKEN: False,
                    Attribute.SENSITIVE: False,
                    Attribute.EXTRACTABLE: True,
                    Attribute.WRAP: True,
                    Attribute.UNWRAP: True,
                    Attribute.ENCRYPT: True,
                    Attribute.DECRYPT: True,
                },
            )
        )

    def unwrap(self, kek: int, blob: bytes, template: Template) -> int:
        return self.keep(self.direct.unwrap(self.handle, kek, blob, self.mechanism, template))

    def readable_value(self, handle: int) -> bytes:
        """CKA_VALUE, or _Refused (_Inconclusive for an answer that is no refusal)."""
        try:
            return self.direct.value(self.handle, handle)
        except p11e.PKCS11Error as exc:
            if not _is_refusal(exc):
                raise _Inconclusive(_ckr(exc)) from exc
            raise _Refused(f"the value is not shown ({_ckr(exc)})") from exc

    def wrap_out(self, own: int, key: int, as_: Template = _MINIMAL_READABLE) -> bytes:
        """What an attacker reads of `key` by wrapping it under `own` (a key of its own)
        and unwrapping that as a readable object: the key's value, or _Refused."""
        out = self.direct.wrap(self.handle, own, key, self.mechanism)
        return self.readable_value(self.unwrap(own, out, as_))

    def first_success(self, tries: Iterable[Callable[[], str]]) -> str:
        """Run each try; the first that does not raise is the attack's success message.
        All refused: _Refused with the answers."""
        answers = []
        for attempt in tries:
            try:
                return attempt()
            except _Refused as exc:
                answers.append(str(exc))
            except p11e.PKCS11Error as exc:
                if not _is_refusal(exc):
                    raise _Inconclusive(_ckr(exc)) from exc
                answers.append(_ckr(exc))
        raise _Refused(", ".join(dict.fromkeys(answers)))


def _readable(template: Template) -> Template:
    """`template` turned readable: what an attacker asks who knows the unwrap template."""
    return changed(template, {Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True})


def _unwrap_readable(attacker: _Attacker, kek: int, value: bytes, blob: bytes) -> str:
    def attempt(template: Template) -> Callable[[], str]:
        def run() -> str:
            obj = attacker.unwrap(kek, blob, template)
            return _leak(attacker.readable_value(obj), value)

        return run

    return attacker.first_success(
        attempt(t) for t in (_MINIMAL_READABLE, _readable(SIGNING_SEED_TEMPLATE))
    )


def _leak(found: bytes, value: bytes) -> str:
    if found[: len(value)] != value:
        raise _Refused("what came out is not the seed")
    return "gave the seed's value"


def _unwrap_extractable(attacker: _Attacker, kek: int, value: bytes, blob: bytes) -> str:
    own = attacker.own_key()

    def attempt(template: Template) -> Callable[[], str]:
        def run() -> str:
            return _leak(attacker.wrap_out(own, attacker.unwrap(kek, blob, template)), value)

        return run

    untrusted = changed(REWRAP_SEED_TEMPLATE, {Attribute.WRAP_WITH_TRUSTED: False})
    minimal = {**_MINIMAL_READABLE, Attribute.SENSITIVE: True}
    return attacker.first_success(attempt(t) for t in (minimal, untrusted, REWRAP_SEED_TEMPLATE))


def _wrap_out(attacker: _Attacker, kek: int, value: bytes, blob: bytes) -> str:
    own = attacker.own_key()
    obj = attacker.unwrap(kek, blob, SIGNING_SEED_TEMPLATE)

    return attacker.first_success([lambda: _leak(attacker.wrap_out(own, obj), value)])


def _copy_changed(attacker: _Attacker, kek: int, value: bytes, blob: bytes) -> str:
    obj = attacker.unwrap(kek, blob, SIGNING_SEED_TEMPLATE)
    changes: list[Template] = [
        {Attribute.SENSITIVE: False},
        {Attribute.EXTRACTABLE: True},
        {Attribute.TOKEN: True},
        {Attribute.WRAP_WITH_TRUSTED: False},
        {Attribute.DERIVE: True},
    ]

    def copied(change: Template) -> Callable[[], str]:
        def run() -> str:
            copy = attacker.keep(attacker.direct.copy(attacker.handle, obj, change))
            return _changed(attacker, copy, change, value, "a copy")

        return run

    def modified(change: Template) -> Callable[[], str]:
        def run() -> str:
            attacker.direct.set_attributes(attacker.handle, obj, change)
            return _changed(attacker, obj, change, value, "the object")

        return run

    return attacker.first_success([copied(c) for c in changes] + [modified(c) for c in changes])


def _changed(attacker: _Attacker, handle: int, change: Template, value: bytes, what: str) -> str:
    """What a copy or modification made, as an attack's success (or _Refused)."""
    [(attribute, wanted)] = change.items()
    if attribute is Attribute.SENSITIVE:
        return _leak(attacker.readable_value(handle), value)
    got = attacker.direct.flags(attacker.handle, handle, [attribute])[attribute]
    if got is not wanted:
        raise _Refused(f"the HSM ignored {attribute.name}")
    return f"{what} became {attribute.name}={str(wanted).lower()}"


def _kek_decrypt(attacker: _Attacker, kek: int, value: bytes, blob: bytes) -> str:
    def decrypt_with(key: int) -> str:
        return _leak(_rfc5649_unwrap(attacker, key, blob), value)

    def copy_with_decrypt() -> str:
        copy = attacker.keep(
            attacker.direct.copy(
                attacker.handle, kek, {Attribute.TOKEN: False, Attribute.DECRYPT: True}
            )
        )
        return decrypt_with(copy)

    def already() -> str:
        # a KEK that may decrypt at all breaks the guarantee, whatever mechanism it
        # allows (its own wrap mechanism may decrypt a blob on some modules)
        if not attacker.direct.flags(attacker.handle, kek, [Attribute.DECRYPT])[Attribute.DECRYPT]:
            raise _Refused("CKA_DECRYPT is false")
        return "the KEK has CKA_DECRYPT"

    def settable() -> str:
        # set to the value it has: a KEK whose attributes can be set at all could have
        # CKA_DECRYPT switched on (the proof does not change the real KEK)
        attacker.direct.set_attributes(attacker.handle, kek, {Attribute.DECRYPT: False})
        return "the KEK's CKA_DECRYPT can be changed"

    return attacker.first_success([already, copy_with_decrypt, settable])


def _rfc5649_unwrap(attacker: _Attacker, key: int, blob: bytes) -> bytes:
    """RFC 5649 unwrap in software, with AES-ECB decryptions by `key` in the HSM."""

    def decrypt(block: bytes) -> bytes:
        return attacker.direct.decrypt(attacker.handle, key, Mechanism.AES_ECB, block)

    if len(blob) % 8 or len(blob) < 16:
        raise _Refused("not an RFC 5649 blob")
    blocks = [blob[i : i + 8] for i in range(0, len(blob), 8)]
    n = len(blocks) - 1
    if n == 1:
        plain = decrypt(blob)
        a, r = plain[:8], [plain[8:]]
    else:
        a, r = blocks[0], blocks[1:]
        for j in range(5, -1, -1):
            for i in range(n, 0, -1):
                t = (n * j + i).to_bytes(8, "big")
                b = decrypt(bytes(x ^ y for x, y in zip(a, t, strict=True)) + r[i - 1])
                a, r[i - 1] = b[:8], b[8:]
    if a[:4] != _RFC5649_PREFIX:
        raise _Refused("the decryption is not the seed")
    return b"".join(r)[: int.from_bytes(a[4:], "big")]


def _kek_wrap_out(attacker: _Attacker, kek: int, value: bytes, blob: bytes) -> str:
    """Wrap the KEK itself (or a copy made extractable) under an own key, read it back,
    and open the scratch blob in software with it."""
    own = attacker.own_key()
    readable_aes = {**_MINIMAL_READABLE, Attribute.KEY_TYPE: KeyType.AES}

    def steal(key: int) -> str:
        stolen = attacker.wrap_out(own, key, as_=readable_aes)
        try:
            found = aes_key_unwrap_with_padding(stolen, blob)
        except (InvalidUnwrap, ValueError) as exc:
            raise _Refused("what came out is not the KEK") from exc
        _leak(found, value)
        return "gave the KEK's value"

    def copy_extractable() -> str:
        copy = attacker.keep(
            attacker.direct.copy(
                attacker.handle, kek, {Attribute.TOKEN: False, Attribute.EXTRACTABLE: True}
            )
        )
        return steal(copy)

    return attacker.first_success([lambda: steal(kek), copy_extractable])


def _unwrap_to_token(attacker: _Attacker, kek: int, value: bytes, blob: bytes) -> str:
    template = changed(SIGNING_SEED_TEMPLATE, {Attribute.TOKEN: True})

    def run() -> str:
        obj = attacker.unwrap(kek, blob, template)
        if not attacker.direct.flags(attacker.handle, obj, [Attribute.TOKEN])[Attribute.TOKEN]:
            raise _Refused("the HSM made a session object")
        return "a seed object was stored on the token"

    return attacker.first_success([run])


def _attributes(attacker: _Attacker, kek: int, value: bytes, blob: bytes) -> str:
    obj = attacker.unwrap(kek, blob, SIGNING_SEED_TEMPLATE)
    wrong = mismatches(UNWRAPPED_SEED, attacker.direct.flags(attacker.handle, obj, UNWRAPPED_SEED))
    if wrong:
        return f"the verify path's seed object reads back {wrong}"
    raise _Refused("as required")


_PER_KEK: tuple[tuple[str, Callable[[_Attacker, int, bytes, bytes], str]], ...] = (
    ("unwrap-readable", _unwrap_readable),
    ("unwrap-extractable", _unwrap_extractable),
    ("wrap-out", _wrap_out),
    ("copy-changed", _copy_changed),
    ("kek-decrypt", _kek_decrypt),
    ("kek-wrap-out", _kek_wrap_out),
    ("unwrap-to-token", _unwrap_to_token),
    ("attributes", _attributes),
)


def prove(session: pkcs11.Session, keys: KeyRing, seeds: SeedStore) -> ExtractionProof:
    """Run every attempt against every KEK on the token, and check the long-term keys."""
    direct = seeds.direct
    attacker = _Attacker(session, direct)
    attempts: list[Attempt] = []
    try:
        for version in keys.versions(KeyPurpose.SEED_WRAPPING):
            label = key_label(KeyPurpose.SEED_WRAPPING, version)
            kek = handle_of(keys.get(KeyPurpose.SEED_WRAPPING, version))
            attacker.mechanism = seeds.mechanism_of(session, version)
            value, blob = attacker.scratch_blob(kek)
            for guarantee, attack in _PER_KEK:
                run = partial(attack, attacker, kek, value, blob)
                attempts.append(_attempt(guarantee, label, attacker, run))
        attempts.extend(_long_term_keys(session, keys, direct))
        run = partial(_user_trusted_key, attacker)
        attempts.append(_attempt("user-trusted-key", "token", attacker, run))
        attempts.append(_key_store(session))
        attempts.append(_no_stray_kek(session, keys, direct))
    finally:
        attacker.cleanup()
    return ExtractionProof(tuple(attempts))


def _attempt(
    guarantee: str, subject: str, attacker: _Attacker, attack: Callable[[], str]
) -> Attempt:
    """What one attempt on `subject` (a KEK's label, or "token") came to: refused (in the
    check's own words for `_CHECKS`), inconclusive, or done; the attacker's objects are
    destroyed whatever happened."""
    try:
        detail = attack()
    except _Refused as exc:
        said = str(exc) if guarantee in _CHECKS else f"refused: {exc}"
        return Attempt(guarantee, subject, True, said)
    except _Inconclusive as exc:
        return _inconclusive(guarantee, subject, str(exc))
    except p11e.PKCS11Error as exc:  # a set-up step of the attempt failed
        return _inconclusive(guarantee, subject, f"set-up: {_ckr(exc)}")
    finally:
        attacker.cleanup()
    return Attempt(guarantee, subject, False, detail)


_OWN_TRUSTED: Template = {
    Attribute.CLASS: ObjectClass.SECRET_KEY,
    Attribute.KEY_TYPE: KeyType.AES,
    Attribute.TOKEN: False,
    Attribute.SENSITIVE: False,
    Attribute.EXTRACTABLE: True,
    Attribute.WRAP: True,
    Attribute.UNWRAP: True,
    Attribute.TRUSTED: True,
}


def _user_trusted_key(attacker: _Attacker) -> str:
    """A trusted key of the attacker's own would wrap out any seed object that only
    trusted keys may wrap (`CKA_WRAP_WITH_TRUSTED`): make one, with a value of its
    choice or generated."""

    def made(handle: int, how: str) -> str:
        attacker.keep(handle)
        flags = attacker.direct.flags(attacker.handle, handle, [Attribute.TRUSTED])
        if not flags[Attribute.TRUSTED]:
            raise _Refused(f"the HSM ignored CKA_TRUSTED ({how})")
        return f"the user's session {how} a trusted key"

    def created() -> str:
        template = {**_OWN_TRUSTED, Attribute.VALUE: secrets.token_bytes(32)}
        return made(attacker.direct.create(attacker.handle, template), "created")

    def generated() -> str:
        template = {**_OWN_TRUSTED, Attribute.VALUE_LEN: 32}
        key = attacker.direct.generate_key(attacker.handle, Mechanism.AES_KEY_GEN, template)
        return made(key, "generated")

    return attacker.first_success([created, generated])


def _inconclusive(guarantee: str, subject: str, what: str) -> Attempt:
    return Attempt("inconclusive", subject, False, f"{guarantee}: the HSM answered {what}")


def _long_term_keys(session: pkcs11.Session, keys: KeyRing, direct: Cryptoki) -> list[Attempt]:
    found = []
    for purpose in KeyPurpose:
        for version in keys.versions(purpose):
            label = key_label(purpose, version)
            handle = handle_of(keys.get(purpose, version))
            expected = expected_attributes(purpose, untrusted_keks=keys.untrusted_keks)
            if purpose is KeyPurpose.SEED_WRAPPING:  # reported even where it cannot be had
                expected[Attribute.TRUSTED] = True
            wrong = mismatches(expected, direct.flags(handle_of(session), handle, expected))
            said = [f"reads back {wrong}"] if wrong else []
            said += [
                f"{count} objects are labelled {name}"
                for name, count in keys.duplicated.items()
                if name.split(" ")[0] == label
            ]
            found.append(Attempt("attributes", label, not said, "; ".join(said) or "ok"))
    return found


def _no_stray_kek(session: pkcs11.Session, keys: KeyRing, direct: Cryptoki) -> Attempt:
    """AES keys that could stand in for a KEK or hold its value: a public one (what the
    officer's half of a new KEK is, for a moment), a trusted one outside the key ring (a
    copy of that half), one with a KEK's check value (any other copy), and the key ring's
    own problems (two objects under one label, a KEK that is not vetted)."""
    handle = handle_of(session)
    ring = {
        handle_of(keys.get(KeyPurpose.SEED_WRAPPING, v))
        for v in keys.versions(KeyPurpose.SEED_WRAPPING)
    }
    check_values = {_check_value(direct, handle, kek) for kek in ring} - {b""}
    found = list(keys.problems)
    # a KEK or a copy of it is an AES key: the seed objects this process caches are not
    for obj in list(
        session.get_objects(
            {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}
        )
    ):
        key = handle_of(obj)
        if key in ring:
            continue
        label = obj[Attribute.LABEL] or f"handle {key}"
        flags = direct.flags(handle, key, [Attribute.PRIVATE, Attribute.TRUSTED])
        if flags[Attribute.PRIVATE] is False:
            found.append(f"public secret key {label!r}")
        elif flags[Attribute.TRUSTED]:
            found.append(f"trusted key {label!r} outside the key ring")
        elif label.endswith(PENDING_SUFFIX) or (
            check_values and _check_value(direct, handle, key) in check_values
        ):
            found.append(f"{label!r} holds a KEK's value")
    if found:
        return Attempt("no-stray-kek", "token", False, "; ".join(found))
    return Attempt("no-stray-kek", "token", True, "none")


def _check_value(direct: Cryptoki, session: int, key: int) -> bytes:
    """CKA_CHECK_VALUE (b"" where the HSM has none for the key)."""
    try:
        return direct.value(session, key, Attribute.CHECK_VALUE)
    except p11e.PKCS11Error:
        return b""


_SOFTHSM_CONF = Path("/etc/softhsm/softhsm2.conf")


_KEY_DATABASES = frozenset({"key4.db", "key3.db"})
"""NSS softokn's key databases (private and secret keys, encrypted under the PIN)."""
_OPEN_FILES = Path("/proc/self/fd")


def _key_store(session: pkcs11.Session) -> Attempt:
    """Read the key store's files, as the attacker in this process can. SoftHSM and NSS
    softokn run inside the process and keep their keys in files encrypted under the user
    PIN: if this process can read them, it has everything it needs to decrypt every key
    offline (what the HSM's checks stop never matters then). SoftHSM's are found through
    its configuration; softokn keeps its key database open in the process (measured:
    `key4.db` among /proc/self/fd), so any module's is found there."""
    manufacturer = str(session.token.manufacturer_id or "").strip()
    if "SoftHSM" not in manufacturer:
        return _open_key_database(manufacturer)
    conf = Path(os.environ.get("SOFTHSM2_CONF") or _SOFTHSM_CONF)
    try:
        text = conf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return Attempt("key-store-readable", "token", True, f"refused: {conf} is not readable")
    directory = next(
        (
            Path(value.strip())
            for name, _, value in (line.partition("=") for line in text.splitlines())
            if name.strip() == "directories.tokendir"
        ),
        None,
    )
    if directory is None:
        return Attempt("key-store-readable", "token", True, f"no token directory in {conf}")
    readable = 0
    for path in directory.glob("*/token.object"):
        try:
            with path.open("rb") as handle:
                readable += bool(handle.read(1))
        except OSError:
            continue
    if readable:
        return Attempt(
            "key-store-readable",
            "token",
            False,
            f"this process reads SoftHSM's key store ({readable} token(s) under "
            f"{directory}): with the PIN, their keys decrypt offline",
        )
    return Attempt(
        "key-store-readable", "token", True, f"refused: nothing readable under {directory}"
    )


def _open_key_database(manufacturer: str) -> Attempt:
    """An NSS key database this process has open, read as the attacker would."""
    try:
        descriptors = list(_OPEN_FILES.iterdir())
    except OSError:
        return _inconclusive("key-store-readable", "token", f"no {_OPEN_FILES} to look in")
    for descriptor in descriptors:
        try:
            path = Path(os.readlink(descriptor))
            if path.name not in _KEY_DATABASES:
                continue
            with path.open("rb") as handle:
                if not handle.read(16):
                    continue
        except OSError:
            continue
        return Attempt(
            "key-store-readable",
            "token",
            False,
            f"this process reads the module's key database {path} (open in the process): "
            "with the PIN, its keys decrypt offline",
        )
    return Attempt(
        "key-store-readable",
        "token",
        True,
        f"refused: no key store file open in this process ({manufacturer})",
    )
