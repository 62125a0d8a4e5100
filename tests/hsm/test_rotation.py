"""KEK versions: create, re-wrap inside the HSM, retire; other openers notice new keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pkcs11 import Attribute

from hsm import Algorithm, Hsm, InvalidSeedRequest, KeyNotFound, KeyPurpose
from hsm.cryptoki import handle_of
from tests.conftest import SoftHsmTokens
from tests.oracles import RFC_SEEDS, load_vectors


@pytest.fixture
def spare(tokens: SoftHsmTokens) -> Iterator[Hsm]:
    """The spare token (rotation must not disturb the main token's KEK v1)."""
    hsm = Hsm(tokens.config(tokens.spare, key_refresh_interval=0.0))
    hsm.ensure_keys()
    yield hsm
    hsm.close()


def _kek_versions(hsm: Hsm) -> list[int]:
    return [k.version for k in hsm.keys() if k.purpose is KeyPurpose.SEED_WRAPPING]


@pytest.mark.softhsm
def test_rotate_rewrap_and_retire(spare: Hsm) -> None:
    old = _kek_versions(spare)[-1]
    seeds = [spare.import_seed(RFC_SEEDS["SHA1"], Algorithm.SHA1) for _ in range(3)]
    assert {s.kek_version for s in seeds} == {old}
    new = spare.create_kek()
    assert new == old + 1
    assert spare.generate_seed(Algorithm.SHA1).kek_version == new
    rewrapped = spare.rewrap_seeds(seeds)
    assert {s.kek_version for s in rewrapped} == {new}
    assert all(a.blob != b.blob for a, b in zip(seeds, rewrapped, strict=True))
    expected = [v for _, v in load_vectors("rfc4226-hotp.txt")]
    for seed in rewrapped:
        assert spare.otp_values(seed, Algorithm.SHA1, 6, range(10)) == expected
    # already current: passes through unchanged
    assert spare.rewrap_seeds(rewrapped) == rewrapped
    with pytest.raises(InvalidSeedRequest, match="current KEK"):
        spare.destroy_kek(new)
    spare.destroy_kek(old)
    assert old not in _kek_versions(spare)
    with pytest.raises(KeyNotFound, match=f"otp-kek-v{old}"):
        spare.otp_values(seeds[0], Algorithm.SHA1, 6, [0])


@pytest.mark.softhsm
def test_another_opener_sees_a_new_kek(spare: Hsm, tokens: SoftHsmTokens) -> None:
    other = Hsm(tokens.config(tokens.spare, key_refresh_interval=3600.0))
    before = other.generate_seed(Algorithm.SHA1)
    new = spare.create_kek()
    rewrapped = spare.rewrap_seeds([before])[0]
    # `other` has not scanned again, yet it unwraps a seed under the version it never saw
    assert other.otp_values(rewrapped, Algorithm.SHA1, 6, [1]) == spare.otp_values(
        before, Algorithm.SHA1, 6, [1]
    )
    assert rewrapped.kek_version == new


@pytest.mark.softhsm
def test_self_test_finds_every_mechanism(spare: Hsm) -> None:
    results = spare.self_test()
    assert results == dict.fromkeys(results)
    assert len(results) == 6
    assert "AES_KEY_GEN + AES_KEY_WRAP_PAD" in results  # SoftHSM's RFC 5649


@pytest.mark.softhsm
def test_only_a_newer_kek_version_makes_the_token_be_scanned_again(
    tokens: SoftHsmTokens, hsm: Hsm
) -> None:
    """A seed naming a destroyed (older) KEK fails without a walk over the token; one
    naming a version newer than any known makes one scan, as an officer's new KEK would."""
    opener = Hsm(tokens.config(key_refresh_interval=3600.0))
    newest = max(k.version for k in opener.keys() if k.purpose is KeyPurpose.SEED_WRAPPING)
    scans = 0
    load = opener._keys.load

    def counted(session):  # type: ignore[no-untyped-def]
        nonlocal scans
        scans += 1
        load(session)

    opener._keys.load = counted  # type: ignore[method-assign]
    seed = opener.generate_seed(Algorithm.SHA1)
    for version, expected_scans in ((0, 0), (newest + 5, 1)):
        with pytest.raises(KeyNotFound):
            opener.otp_values(type(seed)(seed.blob, version, seed.length), Algorithm.SHA1, 6, [1])
        assert scans == expected_scans


@pytest.mark.softhsm
def test_a_retired_kek_unwraps_nothing_in_any_process(spare: Hsm, tokens: SoftHsmTokens) -> None:
    """Retiring a KEK ends its use at once in the process that retires it, and at the
    next key scan in any other."""
    now = [0.0]
    # no cached seed objects: each call unwraps, so a seed under a retired KEK is refused
    retiring = Hsm(tokens.config(tokens.spare, key_refresh_interval=3600.0, seed_cache_size=0))
    other = Hsm(
        tokens.config(tokens.spare, key_refresh_interval=60.0, seed_cache_size=0),
        clock=lambda: now[0],
    )
    seed = spare.import_seed(RFC_SEEDS["SHA1"], Algorithm.SHA1)
    old = seed.kek_version
    spare.create_kek()
    codes = retiring.otp_values(seed, Algorithm.SHA1, 6, [0, 1])
    assert other.otp_values(seed, Algorithm.SHA1, 6, [0, 1]) == codes
    rewrapped = spare.rewrap_seeds([seed])[0]

    retiring.destroy_kek(old)
    with pytest.raises(KeyNotFound, match=f"otp-kek-v{old}"):
        retiring.otp_values(seed, Algorithm.SHA1, 6, [0])

    now[0] += 61.0  # the other opener scans the token again on its next call
    assert other.otp_values(rewrapped, Algorithm.SHA1, 6, [0, 1]) == codes
    with pytest.raises(KeyNotFound, match=f"otp-kek-v{old}"):
        other.otp_values(seed, Algorithm.SHA1, 6, [0])
    other.close()
    retiring.close()


@pytest.fixture
def rotating(request: pytest.FixtureRequest) -> Iterator[Hsm]:
    """The spare SoftHSM token, or the NSS token with the KEK this test adds removed after
    (other NSS tests expect KEK v1 current)."""
    if request.param == "softhsm":
        yield request.getfixturevalue("spare")
        return
    nss: Hsm = request.getfixturevalue("nss_hsm")
    before = _kek_versions(nss)
    yield nss

    def remove_new_keks(session: object) -> None:
        for version in set(_kek_versions(nss)) - set(before):
            nss._keys.get(KeyPurpose.SEED_WRAPPING, version).destroy()

    nss._run(remove_new_keks)
    nss.reload_keys()


SEED_OBJECT = [
    Attribute.TOKEN,
    Attribute.SENSITIVE,
    Attribute.EXTRACTABLE,
    Attribute.WRAP_WITH_TRUSTED,
    Attribute.ALWAYS_SENSITIVE,
    Attribute.NEVER_EXTRACTABLE,
]
KEK_COPY = [*SEED_OBJECT, Attribute.PRIVATE, Attribute.MODIFIABLE, Attribute.TRUSTED]


@pytest.mark.parametrize("rotating", ["softhsm", "nss"], indirect=True)
def test_rotation_never_makes_a_readable_seed_object(rotating: Hsm) -> None:
    """Every object KEK rotation creates is read back before it is destroyed: sensitive,
    and (on an HSM that enforces the unwrap template) only wrappable by a trusted key."""
    hsm = rotating
    seeds = [hsm.import_seed(RFC_SEEDS["SHA1"], Algorithm.SHA1) for _ in range(3)]
    direct = hsm._seeds.direct
    seen: list[dict[Attribute, bool | None]] = []
    unwrap = direct.unwrap

    def recording_unwrap(session: int, *args: Any) -> int:
        handle = unwrap(session, *args)
        seen.append(direct.flags(session, handle, SEED_OBJECT))
        return handle

    direct.unwrap = recording_unwrap  # type: ignore[method-assign]
    try:
        hsm.create_kek()
        rewrapped = hsm.rewrap_seeds(seeds)
    finally:
        del direct.unwrap
    # both modules: what rotation asks (EXTRACTABLE so that C_WrapKey may take it, only
    # under a trusted key), and, as PKCS#11 says of an unwrapped object, never "always
    # sensitive" nor "never extractable"
    rotation_object = dict.fromkeys(SEED_OBJECT, False) | {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: True,
        Attribute.WRAP_WITH_TRUSTED: True,
    }
    assert seen == [rotation_object] * 3
    # the new KEK: the user's copy of the officer's half (on NSS: made by the user)
    version = max(_kek_versions(hsm))
    kek = handle_of(hsm._keys.get(KeyPurpose.SEED_WRAPPING, version))
    made = hsm._run(lambda session: direct.flags(handle_of(session), kek, KEK_COPY))
    softhsm = "SoftHSM" in hsm.status().manufacturer
    assert made == {
        Attribute.TOKEN: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        # softokn knows neither attribute on a secret key (CKR_ATTRIBUTE_TYPE_INVALID)
        Attribute.WRAP_WITH_TRUSTED: False if softhsm else None,
        Attribute.ALWAYS_SENSITIVE: True,
        Attribute.NEVER_EXTRACTABLE: True,
        Attribute.PRIVATE: True,
        Attribute.MODIFIABLE: False,
        Attribute.TRUSTED: True if softhsm else None,
    }
    broken = {
        a.guarantee: a.detail
        for a in hsm.prove_extraction().attempts
        if a.subject == f"otp-kek-v{version}" and not a.held
    }
    if softhsm:
        assert broken == {}
    else:  # NEVER_EXTRACTABLE reads true, yet the KEK wraps out: the proof says so
        assert broken["kek-wrap-out"] == "gave the KEK's value"
        assert broken["attributes"] == "reads back TRUSTED=?"
    expected = [v for _, v in load_vectors("rfc4226-hotp.txt")]
    for seed in rewrapped:
        assert hsm.otp_values(seed, Algorithm.SHA1, 6, range(10)) == expected
