"""The attacker who holds the HSM user PIN (a taken-over server process) tries to read
seeds: with python-pkcs11 calls of its own, and through the start-up proof.

A KEK as earlier releases made it (no unwrap template, modifiable, untrusted) gives the
seed away: those tests show the attack works, so that the refusals on a trusted KEK mean
something.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

import pkcs11
import pkcs11.exceptions as p11e
import pyotp
import pytest
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass

from hsm import Algorithm, Hsm, HsmConfig
from hsm.cryptoki import handle_of
from hsm.extraction import GUARANTEES
from hsm.keys import KeyPurpose, key_label
from hsm.seeds import WrappedSeed
from tests.conftest import SoftHsmTokens, wrap_under

WRAP = Mechanism.AES_KEY_WRAP_PAD


def _kek(session: pkcs11.Session, seed: WrappedSeed) -> Any:
    return session.get_key(label=key_label(KeyPurpose.SEED_WRAPPING, seed.kek_version))


def _own_key(session: pkcs11.Session) -> Any:
    """The attacker's AES key: readable, wraps and unwraps."""
    return session.generate_key(
        KeyType.AES,
        256,
        store=False,
        capabilities=MechanismFlag.WRAP | MechanismFlag.UNWRAP | MechanismFlag.DECRYPT,
        template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
    )


def _unwrap_readable(session: pkcs11.Session, key: Any, blob: bytes, **template: Any) -> bytes:
    obj = key.unwrap_key(
        ObjectClass.SECRET_KEY,
        KeyType.GENERIC_SECRET,
        blob,
        mechanism=WRAP,
        store=False,
        capabilities=MechanismFlag.SIGN,
        template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True, **template},
    )
    try:
        return bytes(obj[Attribute.VALUE])
    finally:
        obj.destroy()


def _totp(seed: bytes, counter: int) -> str:
    return pyotp.HOTP(base64.b32encode(seed).decode(), digits=6).at(counter)


# -- a trusted KEK (what `otp-hsm init-keys` makes) ---------------------------------------


@pytest.mark.softhsm
def test_unwrapping_a_seed_as_readable_is_refused(hsm: Hsm) -> None:
    seed = hsm.import_seed(secrets.token_bytes(20), Algorithm.SHA1)

    def attack(session: pkcs11.Session) -> None:
        _unwrap_readable(session, _kek(session, seed), seed.blob)

    with pytest.raises(Exception) as refused:
        hsm._run(attack)
    assert isinstance(refused.value.__cause__, p11e.TemplateInconsistent)


@pytest.mark.softhsm
def test_unwrapping_as_extractable_then_wrapping_out_is_refused(hsm: Hsm) -> None:
    seed = hsm.import_seed(secrets.token_bytes(20), Algorithm.SHA1)

    def attack(session: pkcs11.Session) -> list[str]:
        kek, own, answers = _kek(session, seed), _own_key(session), []
        for template in (
            {Attribute.EXTRACTABLE: True},
            {Attribute.EXTRACTABLE: True, Attribute.WRAP_WITH_TRUSTED: False},
        ):
            try:
                obj = kek.unwrap_key(
                    ObjectClass.SECRET_KEY,
                    KeyType.GENERIC_SECRET,
                    seed.blob,
                    mechanism=WRAP,
                    store=False,
                    capabilities=MechanismFlag.SIGN,
                    template=template,
                )
            except p11e.PKCS11Error as exc:
                answers.append(type(exc).__name__)
                continue
            try:  # pragma: no cover - only when the HSM lets it through
                own.wrap_key(obj, mechanism=WRAP)
                answers.append("wrapped out")
            except p11e.PKCS11Error as exc:
                answers.append(type(exc).__name__)
            finally:
                obj.destroy()
        own.destroy()
        return answers

    assert hsm._run(attack) == ["TemplateInconsistent", "TemplateInconsistent"]
    # the one unwrap that works, the rotation's, wraps under no key but a trusted one
    direct = hsm._seeds.direct

    def rotation_object(session: pkcs11.Session) -> tuple[str, int]:
        from hsm.attributes import REWRAP_SEED_TEMPLATE

        s, own = handle_of(session), _own_key(session)
        obj = direct.unwrap(
            s, handle_of(_kek(session, seed)), seed.blob, WRAP, REWRAP_SEED_TEMPLATE
        )
        try:
            try:
                direct.wrap(s, handle_of(own), obj, WRAP)
                answer = "wrapped out"
            except p11e.PKCS11Error as exc:
                answer = type(exc).__name__
            return answer, len(direct.wrap(s, handle_of(_kek(session, seed)), obj, WRAP))
        finally:
            direct.destroy(s, obj)
            own.destroy()

    assert hsm._run(rotation_object) == ("KeyNotWrappable", len(seed.blob))


@pytest.mark.softhsm
def test_the_kek_cannot_be_turned_into_a_decryption_key(hsm: Hsm) -> None:
    seed = hsm.import_seed(secrets.token_bytes(20), Algorithm.SHA1)

    def attack(session: pkcs11.Session) -> list[str]:
        kek, answers = _kek(session, seed), []
        for step in (
            lambda: kek.__setitem__(Attribute.DECRYPT, True),
            lambda: kek.copy({Attribute.TOKEN: False, Attribute.DECRYPT: True}).destroy(),
            lambda: kek.copy({Attribute.TOKEN: False}).destroy(),
            lambda: hsm._seeds.direct.decrypt(
                handle_of(session), handle_of(kek), Mechanism.AES_ECB, seed.blob[:16]
            ),
        ):
            try:
                step()
                answers.append("allowed")
            except p11e.PKCS11Error as exc:
                answers.append(type(exc).__name__ if type(exc) is not p11e.PKCS11Error else "0x1b")
        return answers

    answers = hsm._run(attack)
    assert "allowed" not in answers, answers


@pytest.mark.softhsm
def test_the_proof_finds_every_guarantee_held_on_a_trusted_kek(hsm: Hsm) -> None:
    proof = hsm.prove_extraction()
    # only what no PKCS#11 rule can stop: SoftHSM's files are this process's to read
    assert proof.weaknesses == ["key-store-readable"], proof.summary()
    tried = {a.guarantee for a in proof.attempts}
    assert tried == set(GUARANTEES) - {"inconclusive"}
    assert {a.subject for a in proof.attempts} >= {"otp-kek-v1", "otp-audit-mac-v1", "token"}
    # and it left nothing behind
    left = hsm._run(lambda s: [o[Attribute.LABEL] for o in s.get_objects({Attribute.TOKEN: True})])
    assert all(label.startswith("otp-") and "pending" not in label for label in left), left


def test_the_users_session_is_tried_for_a_trusted_key_of_its_own(
    hsm: Hsm, request: pytest.FixtureRequest
) -> None:
    """The scheme rests on CKA_TRUSTED being the officer's alone: a trusted key of the
    PIN holder's would wrap out what only trusted keys may wrap."""
    [attempt] = [a for a in hsm.prove_extraction().attempts if a.guarantee == "user-trusted-key"]
    if request.node.callspec.params["hsm"] == "softhsm":
        assert attempt.held and attempt.detail == "refused: AttributeReadOnly", attempt

        def attack(session: pkcs11.Session) -> None:
            with pytest.raises(p11e.AttributeReadOnly):
                session.generate_key(
                    KeyType.AES, 256, store=False, template={Attribute.TRUSTED: True}
                )

        hsm._run(attack)
    else:  # NSS softokn 3.87: a session may set it, when creating or generating
        assert not attempt.held
        assert attempt.detail == "the user's session created a trusted key"


@pytest.mark.softhsm
def test_status_carries_the_proof(hsm: Hsm) -> None:
    status = hsm.status()
    assert status.extraction.weaknesses == ["key-store-readable"]
    assert status.missing_guarantees == []  # the tests accept it, as `make run` does


# -- a KEK as earlier releases made it: the attacks work ----------------------------------


@pytest.mark.softhsm
def test_a_legacy_kek_gives_the_seed_away_and_its_codes_are_accepted(
    legacy: tuple[Hsm, int],
) -> None:
    hsm, version = legacy
    value = secrets.token_bytes(20)
    seed = wrap_under(hsm, version, value)  # never current: not vetted
    stolen = hsm._run(lambda s: _unwrap_readable(s, _kek(s, seed), seed.blob))
    assert stolen[:20] == value
    assert hsm.otp_values(seed, Algorithm.SHA1, 6, [7]) == [_totp(stolen[:20], 7)]


@pytest.mark.softhsm
def test_the_proof_names_what_a_legacy_kek_lets_out(legacy: tuple[Hsm, int]) -> None:
    hsm, version = legacy
    proof = hsm.prove_extraction()
    label = key_label(KeyPurpose.SEED_WRAPPING, version)
    broken = {a.guarantee for a in proof.attempts if not a.held and a.subject == label}
    assert broken >= {
        "unwrap-readable",
        "unwrap-extractable",
        "kek-decrypt",
        "unwrap-to-token",
        "attributes",
    }
    details = {a.guarantee: a.detail for a in proof.attempts if a.subject == label}
    assert details["unwrap-readable"] == "gave the seed's value"
    # a session copy with CKA_DECRYPT, AES-ECB, RFC 5649 inverted in software
    assert details["kek-decrypt"] == "gave the seed's value"
    # the verify path's own objects are made unmodifiable whatever the KEK
    assert details["copy-changed"].startswith("refused")
    # the trusted KEKs of the same token still hold
    others = [a for a in proof.attempts if a.subject.startswith("otp-kek") and a.subject != label]
    assert others and all(a.held for a in others)
    # and the token check names it as not vetted (it wraps no new seed)
    [stray] = [a for a in proof.attempts if a.guarantee == "no-stray-kek"]
    assert not stray.held and f"{label} is not a vetted KEK: modifiable=true" in stray.detail
    status = hsm.status()
    assert set(status.missing_guarantees) == broken | {"no-stray-kek"}


@pytest.mark.softhsm
def test_an_accepted_weakness_is_not_missing(
    legacy: tuple[Hsm, int], tokens: SoftHsmTokens
) -> None:
    hsm, _ = legacy
    broken = set(hsm.prove_extraction().weaknesses)
    config: HsmConfig = tokens.config(
        tokens.spare, accepted_weaknesses=frozenset(broken - {"kek-decrypt"})
    )
    accepting = Hsm(config)
    try:
        assert accepting.status().missing_guarantees == ["kek-decrypt"]
    finally:
        accepting.close()


@pytest.mark.softhsm
def test_rotating_away_from_a_legacy_kek_leaves_no_way_out_but_the_legacy_one(
    legacy: tuple[Hsm, int],
) -> None:
    """The upgrade path (docs/hsm.md): a trusted KEK is made, the seeds are re-wrapped
    inside the HSM, and only the old KEK is still reported."""
    hsm, version = legacy
    value = secrets.token_bytes(20)
    seed = wrap_under(hsm, version, value)  # never current: not vetted
    codes = hsm.otp_values(seed, Algorithm.SHA1, 6, range(5))
    new = hsm.create_kek()
    [moved] = hsm.rewrap_seeds([seed])
    assert moved.kek_version == new
    assert hsm.otp_values(moved, Algorithm.SHA1, 6, range(5)) == codes
    assert codes == [_totp(value, c) for c in range(5)]
    proof = hsm.prove_extraction()
    legacy_label = key_label(KeyPurpose.SEED_WRAPPING, version)
    assert {a.subject for a in proof.attempts if not a.held} == {legacy_label, "token"}
    [stray] = [a for a in proof.attempts if a.guarantee == "no-stray-kek"]
    assert stray.detail == f"{legacy_label} is not a vetted KEK: modifiable=true, trusted=false"
    assert all(
        a.held for a in proof.attempts if a.subject == key_label(KeyPurpose.SEED_WRAPPING, new)
    )


@pytest.mark.softhsm
def test_a_planted_kek_wraps_no_new_seed_and_is_reported(tokens: SoftHsmTokens) -> None:
    """The PIN holder puts a readable key of its own under the next KEK label: new seeds
    must not be wrapped under it."""
    hsm = Hsm(tokens.config(tokens.spare, key_refresh_interval=0.0))
    hsm.ensure_keys()
    current = hsm._keys.current_version(KeyPurpose.SEED_WRAPPING)
    planted = key_label(
        KeyPurpose.SEED_WRAPPING, max(hsm._keys.versions(KeyPurpose.SEED_WRAPPING)) + 1
    )
    known = secrets.token_bytes(32)
    hsm._run(
        lambda s: s.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.VALUE: known,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.MODIFIABLE: False,
                Attribute.WRAP: True,
                Attribute.UNWRAP: True,
                Attribute.LABEL: planted,
            }
        )
    )
    try:
        hsm.reload_keys()
        assert hsm.generate_seed(Algorithm.SHA1).kek_version == current
        proof = hsm.prove_extraction()
        [stray] = [a for a in proof.attempts if a.guarantee == "no-stray-kek"]
        assert not stray.held
        assert f"{planted} is not a vetted KEK: always_sensitive=false" in stray.detail
    finally:
        hsm._run(lambda s: s.get_key(label=planted).destroy())
        hsm.close()


@pytest.mark.softhsm
def test_a_copy_of_the_officers_half_taken_in_its_window_is_reported(
    tokens: SoftHsmTokens,
) -> None:
    """The officer's half of a new KEK is public for a moment (an SO session makes no
    private object): a PIN holder that copies it then keeps a trusted copy for good."""
    from hsm import trusted_kek

    hsm = Hsm(tokens.config(tokens.spare, key_refresh_interval=0.0))
    hsm.ensure_keys()
    version = max(hsm._keys.versions(KeyPurpose.SEED_WRAPPING)) + 1
    label = key_label(KeyPurpose.SEED_WRAPPING, version)
    mechanism = hsm.wrap_format().require()
    config = hsm.config
    trusted_kek.generate_as_officer(
        config.module, config.token_label, config.so_pin, label, mechanism
    )
    direct = hsm._seeds.direct

    def steal_then_adopt(session: pkcs11.Session) -> None:
        [half] = session.get_objects({Attribute.LABEL: trusted_kek.pending_label(label)})
        direct.copy(handle_of(session), handle_of(half), {Attribute.LABEL: b"cache-index"})
        trusted_kek.adopt_kek(session, direct, label, mechanism)

    hsm._run(steal_then_adopt)
    try:
        hsm.reload_keys()
        [stray] = [a for a in hsm.prove_extraction().attempts if a.guarantee == "no-stray-kek"]
        assert not stray.held
        assert "public secret key 'cache-index'" in stray.detail
    finally:
        hsm._run(lambda s: s.get_key(label="cache-index").destroy())
        hsm.close()


@pytest.mark.softhsm
def test_a_process_that_can_read_softhsms_files_is_told_so(
    hsm: Hsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attacker in this process reads the token files and decrypts them offline with
    the PIN: the proof reads them too. Where they are out of its reach (SoftHSM behind a
    p11-kit server run as another user), the attempt is refused."""
    [store] = [a for a in hsm.prove_extraction().attempts if a.guarantee == "key-store-readable"]
    assert not store.held
    assert "this process reads SoftHSM's key store (" in store.detail
    elsewhere = tmp_path / "softhsm2.conf"
    (tmp_path / "tokens").mkdir()
    elsewhere.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(elsewhere))
    [store] = [a for a in hsm.prove_extraction().attempts if a.guarantee == "key-store-readable"]
    assert store.held and store.detail.startswith("refused: nothing readable under")
    monkeypatch.undo()
    hsm.prove_extraction()  # the session's Hsm keeps the proof of its real configuration
