"""An HSM that cannot be used gives HsmUnavailable with a message naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from hsm import Algorithm, Hsm, HsmConfig, HsmUnavailable
from tests.conftest import SoftHsmTokens


def test_missing_module_file(tokens: SoftHsmTokens) -> None:
    hsm = Hsm(tokens.config(module=Path("/nonexistent/libpkcs11.so")))
    with pytest.raises(HsmUnavailable, match=r"module /nonexistent/libpkcs11.so does not exist"):
        hsm.status()


def test_file_that_is_not_a_pkcs11_module(tokens: SoftHsmTokens, tmp_path: Path) -> None:
    fake = tmp_path / "libfake.so"
    fake.write_bytes(b"not a shared library")
    with pytest.raises(HsmUnavailable, match="cannot be loaded or initialised"):
        Hsm(tokens.config(module=fake)).status()


def test_unknown_token_label_lists_what_exists(tokens: SoftHsmTokens, hsm: Hsm) -> None:
    with pytest.raises(HsmUnavailable, match=r"no token labelled 'nope'.*'otp-test'"):
        Hsm(tokens.config(token_label="nope")).status()


def test_wrong_pin_on_a_token_nobody_is_logged_in_to(tokens: SoftHsmTokens) -> None:
    hsm = Hsm(tokens.config(token_label=tokens.spare.label, user_pin="wrong-pin-1234"))
    with pytest.raises(HsmUnavailable, match="user PIN for token 'otp-spare' was refused") as err:
        hsm.status()
    assert "wrong-pin-1234" not in str(err.value)
    assert tokens.spare.user_pin() not in str(err.value)


def test_wrong_pin_while_the_process_is_logged_in(tokens: SoftHsmTokens, hsm: Hsm) -> None:
    hsm.status()  # the process is logged in with the right PIN
    with pytest.raises(HsmUnavailable, match="was refused"):
        Hsm(tokens.config(user_pin="another-pin-5678")).status()


def test_right_pin_on_the_spare_token_opens(tokens: SoftHsmTokens) -> None:
    spare = Hsm(tokens.config(token_label=tokens.spare.label, user_pin=tokens.spare.user_pin()))
    spare.ensure_keys()
    assert spare.status().token_label == "otp-spare"
    spare.close()


def test_failure_is_remembered_for_the_reconnect_interval(tokens: SoftHsmTokens) -> None:
    now = [100.0]
    config = HsmConfig(
        module=Path("/nonexistent.so"), token_label="x", user_pin="1234", reconnect_interval=5.0
    )
    hsm = Hsm(config, clock=lambda: now[0])
    with pytest.raises(HsmUnavailable) as first:
        hsm.status()
    now[0] += 1.0
    with pytest.raises(HsmUnavailable) as second:
        hsm.status()
    assert second.value is first.value  # failed fast, no new attempt
    now[0] += 5.0
    with pytest.raises(HsmUnavailable) as third:
        hsm.status()
    assert third.value is not first.value


def test_pin_is_not_in_the_config_repr() -> None:
    config = HsmConfig(module=Path("/x.so"), token_label="t", user_pin="s3cret-pin")
    assert "s3cret-pin" not in repr(config)


def test_lost_session_is_reopened(hsm: Hsm) -> None:
    wrapped = hsm.generate_seed(Algorithm.SHA1)
    before = hsm.otp_values(wrapped, Algorithm.SHA1, 6, [5])
    hsm._run(lambda session: session.close())  # the session handle becomes invalid
    assert hsm.otp_values(wrapped, Algorithm.SHA1, 6, [5]) == before


def test_finalised_library_is_initialised_again(hsm: Hsm) -> None:
    wrapped = hsm.generate_seed(Algorithm.SHA256)
    before = hsm.otp_values(wrapped, Algorithm.SHA256, 6, [9])
    hsm._executor.call(lambda: hsm._conn._lib.finalize())  # C_Finalize under our feet
    assert hsm.otp_values(wrapped, Algorithm.SHA256, 6, [9]) == before
    assert hsm.generate_seed(Algorithm.SHA1).kek_version == 1
