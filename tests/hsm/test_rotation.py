"""KEK versions: create, re-wrap inside the HSM, retire; other openers notice new keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pkcs11 import Attribute, ObjectClass
from structlog.testing import capture_logs

from hsm import Algorithm, Hsm, InvalidSeedRequest, KeyNotFound, KeyPurpose
from hsm.keys import create_kek, key_label
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


def test_self_test_finds_every_mechanism(spare: Hsm) -> None:
    results = spare.self_test()
    assert results == dict.fromkeys(results)
    assert len(results) == 6


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


def _kek_copies(hsm: Hsm) -> list[str]:
    """Labels of the KEK copies in every session of this process (session objects are
    visible to all of them)."""
    return hsm._run(
        lambda session: sorted(
            label
            for obj in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})
            if (label := obj[Attribute.LABEL] or "").endswith(" copy")
        )
    )


def test_a_retired_kek_lives_on_in_no_session_copy(spare: Hsm, tokens: SoftHsmTokens) -> None:
    """Seeds are unwrapped by session copies of their KEK; retiring the KEK destroys the
    copy at once in the process that retires it, and at its next key scan in any other."""
    now = [0.0]
    # no cached seed objects: each call unwraps, so a seed under a retired KEK is refused
    retiring = Hsm(tokens.config(tokens.spare, key_refresh_interval=3600.0, seed_cache_size=0))
    other = Hsm(
        tokens.config(tokens.spare, key_refresh_interval=60.0, seed_cache_size=0),
        clock=lambda: now[0],
    )
    seed = spare.import_seed(RFC_SEEDS["SHA1"], Algorithm.SHA1)
    old = seed.kek_version
    new = spare.create_kek()
    codes = retiring.otp_values(seed, Algorithm.SHA1, 6, [0, 1])
    assert other.otp_values(seed, Algorithm.SHA1, 6, [0, 1]) == codes
    # `spare` scans the token on every call (no refresh interval): it keeps no copy
    assert _kek_copies(spare) == [f"otp-kek-v{old} copy"] * 2
    rewrapped = spare.rewrap_seeds([seed])[0]

    retiring.destroy_kek(old)
    assert _kek_copies(spare) == [f"otp-kek-v{old} copy"]  # the other opener's, for now
    with pytest.raises(KeyNotFound, match=f"otp-kek-v{old}"):
        retiring.otp_values(seed, Algorithm.SHA1, 6, [0])

    now[0] += 61.0  # the other opener scans the token again on its next call
    assert other.otp_values(rewrapped, Algorithm.SHA1, 6, [0, 1]) == codes
    assert _kek_copies(spare) == [f"otp-kek-v{new} copy"]
    with pytest.raises(KeyNotFound, match=f"otp-kek-v{old}"):
        other.otp_values(seed, Algorithm.SHA1, 6, [0])
    other.close()  # destroys its copy
    retiring.close()
    assert _kek_copies(spare) == []


def test_a_kek_that_may_not_be_copied_unwraps_the_seeds_itself(
    spare: Hsm, tokens: SoftHsmTokens
) -> None:
    """An HSM may refuse to copy a key (CKA_COPYABLE false): seeds are then unwrapped by
    the token key, which closing the session leaves alone."""
    version = _kek_versions(spare)[-1] + 1
    spare._run(lambda session: create_kek(session, version, copyable=False))
    assert (
        spare._run(
            lambda session: session.get_key(label=key_label(KeyPurpose.SEED_WRAPPING, version))[
                Attribute.COPYABLE
            ]
        )
        is False
    )
    now = [0.0]
    opener = Hsm(
        tokens.config(tokens.spare, key_refresh_interval=60.0, seed_cache_size=0),
        clock=lambda: now[0],
    )
    seed = opener.import_seed(RFC_SEEDS["SHA1"], Algorithm.SHA1)
    assert seed.kek_version == version
    expected = [v for _, v in load_vectors("rfc4226-hotp.txt")]
    with capture_logs() as logs:
        assert opener.otp_values(seed, Algorithm.SHA1, 6, range(10)) == expected
        now[0] += 61.0  # a new scan of the token: the HSM is not asked again
        assert opener.otp_values(seed, Algorithm.SHA1, 6, range(10)) == expected
    refused = [e for e in logs if e["event"] == "hsm.kek_not_copied"]
    assert [(e["version"], e["log_level"], e["problem"]) for e in refused] == [
        (version, "warning", "Unmapped error code 0x1b")  # CKR_ACTION_PROHIBITED
    ]
    assert _kek_copies(spare) == []
    opener.close()
    assert version in _kek_versions(spare)
    assert spare.otp_values(seed, Algorithm.SHA1, 6, range(10)) == expected
