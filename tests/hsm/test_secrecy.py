"""Seeds and keys stay inside the HSM: checked through python-pkcs11 and through pkcs11-tool."""

from __future__ import annotations

import subprocess

import pkcs11
import pytest
from pkcs11 import Attribute, Mechanism

from hsm import Algorithm, Hsm, HsmUnavailable, KeyNotFound, WrappedSeed
from tests.conftest import SoftHsmTokens


def _pkcs11_tool(tokens: SoftHsmTokens, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "pkcs11-tool",
            "--module",
            str(tokens.main.module),
            "--token-label",
            tokens.main.label,
            "--login",
            "--pin",
            tokens.main.user_pin(),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def stored_seed(hsm: Hsm) -> object:
    """A generated seed unwrapped as the verify path does, as a python-pkcs11 object.
    (Onto the token it cannot go: tests/hsm/test_extraction.py tries.)"""
    wrapped = hsm.generate_seed(Algorithm.SHA1)
    obj = hsm._run(lambda s: hsm._seeds.unwrap(s, wrapped))
    yield obj
    hsm._run(lambda s: obj.destroy())


def test_seed_value_is_refused_through_python_pkcs11(hsm: Hsm, stored_seed: object) -> None:
    with pytest.raises(HsmUnavailable) as refused:
        hsm._run(lambda s: stored_seed[Attribute.VALUE])  # type: ignore[index]
    assert isinstance(refused.value.__cause__, pkcs11.exceptions.AttributeSensitive)
    assert hsm._run(lambda s: stored_seed[Attribute.SENSITIVE]) is True  # type: ignore[index]
    assert hsm._run(lambda s: stored_seed[Attribute.EXTRACTABLE]) is False  # type: ignore[index]


def test_an_unwrapped_seed_is_a_sign_only_generic_secret(hsm: Hsm, stored_seed: object) -> None:
    """What the HSM says of the object, against what the layer tells python-pkcs11 without
    asking (the key type, to spare a call per seed)."""
    asked = hsm._run(
        lambda s: [
            stored_seed[a]  # type: ignore[index]
            for a in (Attribute.KEY_TYPE, Attribute.SIGN, Attribute.VERIFY, Attribute.DECRYPT)
        ]
    )
    assert asked == [pkcs11.KeyType.GENERIC_SECRET, True, False, False]
    assert stored_seed.key_type == asked[0]  # type: ignore[attr-defined]


@pytest.mark.softhsm
def test_unwrapped_seed_cannot_be_wrapped_out_again(hsm: Hsm, stored_seed: object) -> None:
    def wrap_out(session: pkcs11.Session) -> bytes:
        kek = session.get_key(label="otp-kek-v1")
        return kek.wrap_key(stored_seed, mechanism=Mechanism.AES_KEY_WRAP_PAD)

    with pytest.raises(HsmUnavailable) as refused:
        hsm._run(wrap_out)
    assert isinstance(refused.value.__cause__, pkcs11.exceptions.KeyUnextractable)


def _object_block(listing: str, label: str) -> str:
    """The lines pkcs11-tool printed for the object with `label`."""
    blocks = listing.split(" Object; ")
    found = [b for b in blocks if f"label:      {label}\n" in b]
    assert len(found) == 1, listing
    return found[0]


@pytest.mark.softhsm
@pytest.mark.parametrize("label", ["otp-kek-v1", "otp-audit-mac-v1"])
def test_long_term_keys_are_sensitive_and_never_extractable(
    hsm: Hsm, tokens: SoftHsmTokens, label: str
) -> None:
    listing = _pkcs11_tool(tokens, "--list-objects", "--type", "secrkey")
    assert listing.returncode == 0, listing.stderr
    block = _object_block(listing.stdout, label)
    assert "sensitive, always sensitive, never extractable" in block
    read = _pkcs11_tool(tokens, "--read-object", "--type", "secrkey", "--label", label)
    assert read.returncode != 0


def test_key_inventory_reports_the_hierarchy(hsm: Hsm) -> None:
    keys = {k.label: k for k in hsm.keys()}
    assert set(keys) >= {"otp-kek-v1", "otp-provisioning-v1", "otp-audit-mac-v1"}
    assert keys["otp-kek-v1"].key_type == "AES"
    assert keys["otp-provisioning-v1"].key_type == "EC"
    assert all(k.sensitive and not k.extractable for k in keys.values())
    assert hsm.ensure_keys() == []  # idempotent


def test_code_digests_have_a_key_of_their_own_not_the_audit_key(hsm: Hsm) -> None:
    """Whoever can have a code digested must not get a MAC by the audit-sealing key."""
    data = b"registration-id:123456"
    digest = hsm.keyed_digest(b"email-code", data)
    assert digest == hsm.keyed_digest(b"email-code", data)
    assert digest != hsm.audit_mac(b"otp-digest\0email-code\0" + data)[1]
    attributes = {
        a.subject: a for a in hsm.prove_extraction().attempts if a.guarantee == "attributes"
    }
    assert attributes["otp-digest-v1"].held, attributes["otp-digest-v1"]


@pytest.mark.softhsm
def test_a_token_without_the_digest_key_says_what_to_run(tokens: SoftHsmTokens) -> None:
    """A token made before the digest key had its own: unready until the officer runs
    init-keys, which makes the one key missing."""
    hsm = Hsm(tokens.config(tokens.spare))
    try:
        hsm.ensure_keys()
        hsm._run(lambda s: s.get_key(label="otp-digest-v1").destroy())
        hsm.reload_keys()
        with pytest.raises(KeyNotFound, match=r"digest \(run `otp-hsm init-keys`\)"):
            hsm.status()
        assert hsm.ensure_keys() == ["otp-digest-v1"]
        assert hsm.status().key_versions["digest"] == [1]
    finally:
        hsm.close()


def test_altered_blob_is_rejected_not_crashing(hsm: Hsm) -> None:
    from hsm import SeedRejected

    wrapped = hsm.generate_seed(Algorithm.SHA1)
    for position in (0, len(wrapped.blob) // 2, len(wrapped.blob) - 1):
        blob = bytearray(wrapped.blob)
        blob[position] ^= 0x01
        with pytest.raises(SeedRejected, match="does not unwrap"):
            hsm.otp_values(WrappedSeed(bytes(blob), 1, 20), Algorithm.SHA1, 6, [1])
    # the session survived: the good seed still works
    assert len(hsm.otp_values(wrapped, Algorithm.SHA1, 6, [1])[0]) == 6


def test_wrapped_seed_repr_shows_no_bytes(hsm: Hsm) -> None:
    wrapped = hsm.generate_seed(Algorithm.SHA1)
    assert wrapped.blob.hex() not in repr(wrapped)
    assert str(wrapped.blob) not in repr(wrapped)


@pytest.mark.softhsm
def test_the_kek_is_trusted_not_modifiable_and_can_only_wrap_and_unwrap(hsm: Hsm) -> None:
    def look(session: pkcs11.Session) -> dict[str, object]:
        kek = session.get_key(label="otp-kek-v1")
        return {
            a.name: kek[a]
            for a in (
                Attribute.TOKEN,
                Attribute.PRIVATE,
                Attribute.TRUSTED,
                Attribute.MODIFIABLE,
                Attribute.SENSITIVE,
                Attribute.EXTRACTABLE,
                Attribute.UNWRAP,
                Attribute.WRAP,
                Attribute.ENCRYPT,
                Attribute.DECRYPT,
                Attribute.SIGN,
                Attribute.DERIVE,
            )
        }

    assert hsm._run(look) == {
        "TOKEN": True,
        "PRIVATE": True,  # the officer made it public; the user's copy is private
        "TRUSTED": True,
        "MODIFIABLE": False,
        "SENSITIVE": True,
        "EXTRACTABLE": False,
        "UNWRAP": True,
        "WRAP": True,
        "ENCRYPT": False,
        "DECRYPT": False,
        "SIGN": False,
        "DERIVE": False,
    }
    # the officer's public half is gone
    labels = [k.label for k in hsm.keys()]
    assert labels.count("otp-kek-v1") == 1
    pending = hsm._run(lambda s: list(s.get_objects({Attribute.LABEL: "otp-kek-v1 pending"})))
    assert pending == []


def test_a_provisioned_ocra_seed_unwraps_into_what_a_totp_seed_does(hsm: Hsm) -> None:
    """The OCRA seed of a bundle is stored as the TOTP seed is: its blob unwraps into the
    same sensitive, SIGN-only, not extractable object (docs/hsm.md, "Seeds")."""
    from device_firmware.link.token_key import point_of
    from device_firmware.vault.identity import DeviceIdentity
    from hsm import OcraSuite

    point = point_of(DeviceIdentity.generate().public_key_der)
    suite = OcraSuite.parse("OCRA-1:HOTP-SHA256-8:QA20-T1M")
    made = hsm.provision_seed(Algorithm.SHA1, point, b"otp-provisioning-v1\x00c", ocra_suite=suite)
    assert made.ocra is not None
    names = (
        Attribute.KEY_TYPE,
        Attribute.TOKEN,
        Attribute.SENSITIVE,
        Attribute.EXTRACTABLE,
        Attribute.SIGN,
        Attribute.VERIFY,
        Attribute.ENCRYPT,
        Attribute.DECRYPT,
        Attribute.WRAP,
        Attribute.DERIVE,
    )

    def attributes(wrapped: WrappedSeed) -> list[object]:
        def read(session: pkcs11.Session) -> list[object]:
            obj = hsm._seeds.unwrap(session, wrapped)
            try:
                try:
                    value: object = obj[Attribute.VALUE]
                except pkcs11.exceptions.AttributeSensitive as exc:
                    value = type(exc)
                return [value, *(obj[name] for name in names)]
            finally:
                obj.destroy()

        return hsm._run(read)

    ocra = attributes(made.ocra.stored)
    assert ocra == attributes(made.stored)
    assert ocra[0] is pkcs11.exceptions.AttributeSensitive  # its value is never read
    assert ocra[2:6] == [False, True, False, True]  # session object, sensitive, SIGN only
