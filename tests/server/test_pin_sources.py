"""The HSM user PIN kept out of the server's reach where the platform allows it: read once
from a file descriptor (then closed), or from a systemd credential."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hsm import Hsm
from server.settings import Settings, SettingsError
from tests.conftest import SoftHsmTokens
from tests.server.processes import free_port, server_env, wait_for


def _pipe_with(text: str) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, text.encode() + b"\n")
    os.close(write_end)
    return read_end


def test_the_pin_is_read_once_from_a_descriptor_which_is_then_closed(
    tokens: SoftHsmTokens,
) -> None:
    pin = tokens.main.user_pin()
    fd = _pipe_with(pin)
    settings = Settings(hsm_pin_fd=fd, hsm_pin_file=None)
    assert settings.hsm_config().user_pin == pin
    with pytest.raises(OSError):
        os.fstat(fd)  # closed: nothing in the process can read it again
    assert settings.hsm_config().user_pin == pin  # kept for a second look


def test_an_unreadable_descriptor_is_a_settings_error_without_the_pin() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with pytest.raises(SettingsError, match=r"OTP_HSM_PIN_FD: cannot read the PIN from"):
        Settings(hsm_pin_fd=write_end).hsm_config()


def test_the_pin_comes_from_a_systemd_credential(
    tokens: SoftHsmTokens, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "otp-hsm-pin").write_text(tokens.main.user_pin() + "\n")
    (credentials / "otp-hsm-pin").chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    settings = Settings(hsm_pin_credential="otp-hsm-pin", hsm_pin_file=None)
    assert settings.hsm_config().user_pin == tokens.main.user_pin()
    with pytest.raises(SettingsError, match="cannot read the credential 'other'"):
        Settings(hsm_pin_credential="other").hsm_config()
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(SettingsError, match=r"LoadCredential=otp-hsm-pin:"):
        settings.hsm_config()


@pytest.mark.slow
def test_a_server_given_its_pin_on_a_descriptor_keeps_it_nowhere_readable(
    tokens: SoftHsmTokens, hsm: Hsm, database_url: str
) -> None:
    pin = tokens.main.user_pin()
    env = {k: v for k, v in server_env(tokens, database_url).items() if k != "OTP_HSM_PIN_FILE"}
    read_end = _pipe_with(pin)  # pass_fds keeps its number in the child
    env.update({"OTP_HSM_PIN_FILE": "/nonexistent", "OTP_HSM_PIN_FD": str(read_end)})
    pipe = f"pipe:[{os.fstat(read_end).st_ino}]"
    port = free_port()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, "OTP_LOG_FORMAT": "json", **env},
            pass_fds=(read_end,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        os.close(read_end)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/health/live")
        ready = httpx.get(f"{base}/health/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        environ = Path(f"/proc/{process.pid}/environ").read_bytes()
        assert pin.encode() not in environ
        assert pipe not in _open_files(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _open_files(pid: int) -> list[str]:
    """What each open descriptor of `pid` points at (one closed while listing is skipped)."""
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            targets.append(os.readlink(fd))
        except FileNotFoundError:  # the server closed it (a socket, a pipe) between list and read
            continue
    return targets


def test_the_server_never_reads_the_officers_pin(tokens: SoftHsmTokens) -> None:
    settings = Settings(hsm_so_pin_file=tokens.main.so_pin_file)
    assert settings.hsm_config().so_pin is None
    assert settings.hsm_config(officer=True).so_pin == tokens.main.so_pin()


def test_two_pin_sources_or_a_bad_credential_name_stop_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTP_HSM_PIN", "123456")
    monkeypatch.setenv("OTP_HSM_PIN_FD", "3")
    with pytest.raises(SettingsError) as refused:
        Settings.from_environment()
    assert "give the HSM PIN one way, not OTP_HSM_PIN and OTP_HSM_PIN_FD" in str(refused.value)
    assert "123456" not in str(refused.value)
    monkeypatch.delenv("OTP_HSM_PIN")
    monkeypatch.delenv("OTP_HSM_PIN_FD")
    monkeypatch.setenv("OTP_HSM_PIN_CREDENTIAL", "../../etc/shadow")
    with pytest.raises(SettingsError, match=r"OTP_HSM_PIN_CREDENTIAL: .*systemd credential name"):
        Settings.from_environment()


def test_a_descriptor_that_holds_no_text_is_refused_without_quoting_it() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"\xff\xfe12")
    os.close(write_end)
    with pytest.raises(SettingsError) as refused:
        Settings(hsm_pin_fd=read_end).hsm_config()
    assert str(refused.value) == f"OTP_HSM_PIN_FD: descriptor {read_end} holds no UTF-8 text"
