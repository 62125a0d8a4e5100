"""The service around the adapters: configuration, the link factory, the command line."""

from __future__ import annotations

import configparser
import logging
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from device_firmware.__main__ import main
from device_firmware.core.fakes import FakeClock
from device_firmware.core.keys import Key
from device_firmware.core.records import VaultProtection
from device_firmware.emulator.software_tpm import SoftwareTpm
from device_firmware.link import HttpServerLink, ProvisioningKey, ProvisioningTrust
from device_firmware.link.signing import b64url
from device_firmware.pi.config import (
    ClockConfig,
    DisplayConfig,
    KeypadConfig,
    ServiceConfig,
    VaultConfig,
    load_config,
    parse_config,
)
from device_firmware.pi.errors import (
    ConfigError,
    DisplayUnavailable,
    LinkUnavailable,
    VaultMissing,
)
from device_firmware.pi.link import DemoBank, make_link
from device_firmware.pi.service import open_vault, run_service, token_config
from device_firmware.vault import DeviceIdentity, FileVault
from device_firmware.vault.tpm_vault import TpmVault

PI = Path(__file__).resolve().parents[3] / "device_firmware" / "pi"
FINGERPRINT = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
BY_FINGERPRINT = ProvisioningTrust(fingerprint=FINGERPRINT)
EXAMPLE = PI / "config.example.toml"
UNIT = PI / "otp-token.service"

FILE_VAULT = VaultConfig(kind="file")


def test_the_example_configuration_holds_the_defaults() -> None:
    assert load_config(EXAMPLE) == ServiceConfig(server_url="demo:")


def test_a_full_configuration() -> None:
    config = parse_config(
        tomllib.loads(
            """
            server_url = "demo:"
            vault_dir = "/srv/token"
            pin_attempts = 3
            [keypad]
            layout = "4x3"
            rows = [17, 27, 22, 23]
            debounce = 0.02
            [display]
            driver = "sh1106"
            bus = "spi"
            rotate = 2
            contrast = 80
            blank_after = 30
            [clock]
            source = "rtc"
            """
        )
    )
    assert config.pin_attempts == 3 and config.vault_dir == Path("/srv/token")
    assert config.keypad.keys == ("123", "456", "789", "*0#")
    assert config.keypad.columns == (12, 16, 20)  # the 4x3 default: three columns
    assert config.keypad.hold[Key.STAR] is Key.C  # a 4x3 keypad holds * for C
    assert config.display == DisplayConfig(
        driver="sh1106", bus="spi", rotate=2, contrast=80, blank_after=30.0
    )
    assert config.clock == ClockConfig(source="rtc")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("", "server_url is required"),
        ('server_url = "demo:"\ndebounce = 1', "unknown key 'debounce'"),
        ('server_url = "demo:"\n[keypad]\ndebunce = 0.1', "unknown key 'keypad.debunce'"),
        ('server_url = "demo:"\npin_attempts = "3"', "pin_attempts must be a int"),
        ('server_url = "demo:"\n[display]\ndriver = "ssd1309"', "display.driver"),
        ('server_url = "demo:"\n[display]\nrotate = 1', "display.rotate"),
        ('server_url = "demo:"\n[display]\ni2c_address = 0x90', "not a 7-bit address"),
        ('server_url = "demo:"\n[keypad]\nrows = [5, 6, 13]', "3 row pins for 4 rows"),
        ('server_url = "demo:"\n[keypad]\nrows = [5, 6, 13, 12]', "used twice"),
        ('server_url = "demo:"\n[keypad]\nrows = [5, 6, 13, 40]', "not a BCM GPIO"),
        ('server_url = "demo:"\n[keypad]\nkeys = ["123A", "456B", "789C", "*0#E"]', "'E'"),
        ('server_url = "demo:"\n[keypad]\nkeys = ["123A", "456B", "789C", "*0#1"]', "twice"),
        ('server_url = "demo:"\n[keypad]\nlayout = "4x3"\n[keypad.hold]\nA = "B"', "not on"),
        ('server_url = "demo:"\n[clock]\nsource = "gps"', "clock.source"),
        ('server_url = "demo:"\npin_attempts = 0', "at least 1"),
        ('server_url = "demo:"\nprovisioning_key = "BAAA"', "provisioning_key must be"),
        ('server_url = "demo:"\nprovisioning_key = "9f86d0"', "SHA-256 fingerprint in hex"),
        ('server_url = "https://otp.bank.example"', "provisioning_key is required"),
        ('server_url = "http://127.0.0.1:8000"', "refuses to enroll without it"),
        (
            f'server_url = "https://otp.bank.example"\nprovisioning_key = "{FINGERPRINT}"\n'
            "allow_trust_on_first_use = true",
            "exclude each other",
        ),
        ('server_url = "demo:"\nallow_trust_on_first_use = "yes"', "must be a bool"),
    ],
)
def test_bad_configurations_say_what_is_wrong(toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(tomllib.loads(toml))


def test_a_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("server_url = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_the_link_factory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    vault = FileVault(tmp_path / "token")
    link = make_link("https://otp.bank.example", clock, vault, trust=BY_FINGERPRINT)
    assert isinstance(link, HttpServerLink)
    link.close()
    with pytest.raises(LinkUnavailable, match="the token's vault"):
        make_link("https://otp.bank.example", clock, trust=BY_FINGERPRINT)
    with pytest.raises(LinkUnavailable, match="refuses to enroll without it"):
        make_link("https://otp.bank.example", clock, vault)  # no key: no trust on first use
    with pytest.raises(LinkUnavailable, match="https:// only"):
        # the password would go in clear
        make_link("http://otp.bank.example", clock, vault, trust=BY_FINGERPRINT)
    with pytest.raises(LinkUnavailable, match="neither"):
        make_link("ftp://bank", clock, vault)
    link = make_link("demo:", clock)
    assert isinstance(link, DemoBank)
    public_key = b"demo-key"
    from device_firmware.core import device_id

    with caplog.at_level(logging.WARNING):
        handle = link.start_registration("ana", "clave1", public_key, device_id.make(public_key))
    code = link.bank.last_email_code("ana")
    assert f"your code is {code}" in caplog.text  # what the customer would read by e-mail
    provisioned = link.confirm_registration(handle, code)
    assert provisioned.credential.username == "ana"


def test_the_provisioning_key_from_the_configuration(tmp_path: Path) -> None:
    point = DeviceIdentity.generate().public_key_der[-65:]  # a P-256 point: the SPKI's tail
    config = parse_config(
        {"server_url": "https://otp.bank.example", "provisioning_key": b64url(point)}
    )
    assert config.provisioning_trust == ProvisioningTrust.of_key(ProvisioningKey(point))
    link = make_link(
        config.server_url,
        FakeClock(),
        FileVault(tmp_path / "token"),
        trust=config.provisioning_trust,
    )
    assert isinstance(link, HttpServerLink)
    link.close()
    by_fingerprint = parse_config(
        {"server_url": "https://otp.bank.example", "provisioning_key": FINGERPRINT.upper()}
    )
    assert by_fingerprint.provisioning_trust == BY_FINGERPRINT


def test_trust_on_first_use_only_when_allowed_and_then_shown(tmp_path: Path) -> None:
    vault = FileVault(tmp_path / "token")
    configured = parse_config(
        {"server_url": "https://otp.bank.example", "provisioning_key": FINGERPRINT}
    )
    assert token_config(configured, vault).trust_on_first_use is False
    development = parse_config(
        {"server_url": "https://otp.bank.example", "allow_trust_on_first_use": True}
    )
    assert development.provisioning_trust == ProvisioningTrust.on_first_use()
    shown = token_config(development, vault)
    assert shown.trust_on_first_use is True  # the screens say "(desarrollo)"
    assert shown.vault_protection is vault.protection
    demo = parse_config({"server_url": "demo:", "allow_trust_on_first_use": True})
    assert demo.provisioning_trust is None  # the demo bank pins nothing
    assert token_config(demo, vault).trust_on_first_use is False


def test_the_service_refuses_to_start_without_a_link_before_touching_hardware(
    tmp_path: Path,
) -> None:
    for url in ("ftp://bank", "http://otp.bank.example"):
        config = ServiceConfig(
            server_url=url,
            provisioning_key=BY_FINGERPRINT,
            vault_dir=tmp_path / "token",
            vault=FILE_VAULT,
        )
        with pytest.raises(LinkUnavailable):
            run_service(config, lambda: False)


def test_the_service_keeps_the_vault_in_the_configured_tpm(
    tmp_path: Path, swtpm: SoftwareTpm
) -> None:
    config = parse_config(
        {
            "server_url": "demo:",
            "vault_dir": str(tmp_path / "token"),
            "vault": {"tcti": swtpm.tcti, "tpm_max_tries": 7, "tpm_recovery_hours": 2},
        }
    )
    vault = open_vault(config)
    assert isinstance(vault, TpmVault) and vault.protection is VaultProtection.TPM
    state = vault.lockout_state()
    assert (state.max_tries, state.recovery_seconds, state.lockout_auth_set) == (7, 7200, True)
    assert token_config(config, vault).vault_protection is VaultProtection.TPM
    file_config = parse_config({"server_url": "demo:", "vault": {"kind": "file"}})
    assert file_config.vault == FILE_VAULT


def test_without_a_tpm_the_service_says_how_to_fit_one_or_choose_the_file_vault(
    tmp_path: Path,
) -> None:
    config = ServiceConfig(
        server_url="demo:",
        vault_dir=tmp_path / "token",
        vault=VaultConfig(tcti="swtpm:host=127.0.0.1,port=9"),  # nothing listens there
    )
    with pytest.raises(VaultMissing, match=r'cannot be reached.*kind = "file"'):
        run_service(config, lambda: False)
    with pytest.raises(ConfigError, match=r"vault\.kind"):
        parse_config({"server_url": "demo:", "vault": {"kind": "cloud"}})


def test_the_service_says_when_there_is_no_display(tmp_path: Path) -> None:
    config = ServiceConfig(
        server_url="demo:",
        vault_dir=tmp_path / "token",
        vault=FILE_VAULT,
        display=DisplayConfig(i2c_port=97),  # no /dev/i2c-97 on any machine
        keypad=KeypadConfig(),
    )
    with pytest.raises(DisplayUnavailable, match="I2C bus 97 address 0x3c"):
        run_service(config, lambda: False)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read the configuration" in capsys.readouterr().err
    assert main(["--config", str(EXAMPLE), "--check-config"]) == 0
    assert "is valid" in capsys.readouterr().out
    plain = tmp_path / "plain.toml"
    plain.write_text(
        f'server_url = "http://otp.bank.example"\nvault_dir = "{tmp_path / "token"}"\n'
        f'provisioning_key = "{FINGERPRINT}"\n[vault]\nkind = "file"\n'
    )
    assert main(["--config", str(plain)]) == 1
    assert "https:// only" in capsys.readouterr().err
    keyless = tmp_path / "keyless.toml"
    keyless.write_text('server_url = "https://otp.bank.example"\n')
    assert main(["--config", str(keyless), "--check-config"]) == 2  # refused at start-up
    err = capsys.readouterr().err
    assert "provisioning_key is required" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["--config", str(EXAMPLE), "--dir", "x"])  # --dir is the emulator's


def test_the_emulator_still_runs_from_the_package(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "device_firmware", "--emulator", "--dir", str(tmp_path / "t")],
        input="q",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Bienvenido" in out.stdout


def test_the_systemd_unit_runs_the_package_with_the_default_configuration() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    service = unit["Service"]
    assert service["ExecStart"].endswith("-m device_firmware --config /etc/otp-token/config.toml")
    assert service["StateDirectory"] == "otp-token"  # /var/lib/otp-token, the default vault_dir
    assert set(service["SupplementaryGroups"].split()) == {"gpio", "i2c", "spi", "tss"}
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_emulator_keeps_its_vault_in_a_software_tpm(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "device_firmware", "--emulator", "--dir", str(tmp_path / "t"),
         "--swtpm", str(tmp_path / "tpm-state")],
        input="q", capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "Bienvenido" in out.stdout
    assert any((tmp_path / "tpm-state").iterdir())  # the identity was made in the TPM
    assert not (tmp_path / "t" / "identity.der").exists()
