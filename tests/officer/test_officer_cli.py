"""The officer tool as a whole: help everywhere, a tester's token, HSM status, a rotation
from the command line with its audit trail, and revoking a device."""

from __future__ import annotations

import getpass
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import structlog
from click.testing import CliRunner
from sqlalchemy import insert, text

from benchmarks.population import populate, seed_pool
from hsm import Hsm
from server.cli.admin import main
from server.db.engine import make_engine
from server.db.models import Credential, Device
from tests.officer.conftest import AdminRun


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def test_help_on_every_command() -> None:
    commands = _commands(main)
    assert len(commands) >= 25
    runner = CliRunner()
    logging_config = structlog.get_config()  # `main` configures structlog for the process
    try:
        for path in commands:
            result = runner.invoke(main, [*path, "--help"])
            assert result.exit_code == 0, (path, result.output)
            assert "Usage:" in result.output
    finally:
        structlog.configure(**logging_config)


@pytest.mark.slow  # subprocesses: a token made here is one SoftHSM in this process cannot see
def test_init_token_for_testers_then_status(tmp_path: Path) -> None:
    """As a tester runs it, in processes of its own: `init-token` makes a SoftHSM
    configuration and points its process's SOFTHSM2_CONF at it, which SoftHSM reads once."""
    env = {
        **os.environ,
        "OTP_DATABASE_URL": f"sqlite:///{tmp_path}/otp.sqlite3",
        "OTP_HSM_TOKEN_LABEL": "otp-tester",
    }

    def run(*args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server.cli", *args],
            env={**env, **(extra or {})},
            capture_output=True,
            text=True,
            check=False,
        )

    first = run("hsm", "init-token", "--dir", str(tmp_path / "softhsm"))
    assert first.returncode == 0, first.stderr
    assert "token 'otp-tester' created" in first.stdout
    assert "otp-kek-v1" in first.stdout
    exports = dict(re.findall(r"export (\w+)=(\S+)", first.stdout))
    pin_file = Path(exports["OTP_HSM_PIN_FILE"])
    assert pin_file.stat().st_mode & 0o777 == 0o600
    assert pin_file.read_text().strip() not in first.stdout + first.stderr
    again = run("hsm", "init-token", "--dir", str(tmp_path / "softhsm"))
    assert "exists; its PINs open it" in again.stdout and "all present" in again.stdout

    assert run("db", "upgrade", extra=exports).returncode == 0
    status = run("hsm", "status", extra=exports)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "FAILED" not in status.stdout
    assert "ok      AES_KEY_GEN + AES_KEY_WRAP_PAD" in status.stdout
    assert (
        "RFC 5649 wrap: AES_KEY_WRAP_PAD (AES_KEY_WRAP_PAD: rfc5649, zero-padded" in status.stdout
    )
    assert re.search(r"otp-kek-v1 +kek +v1 +AES .*not extractable +\(current\)", status.stdout)
    assert re.search(r"kek v1 +0 credential\(s\) +current", status.stdout)
    for guarantee in ("unwrap-readable", "unwrap-extractable", "wrap-out", "kek-decrypt"):
        assert re.search(rf"refused +{guarantee} +otp-kek-v1 +refused: ", status.stdout)
    # the one way out on SoftHSM, accepted for testing; nothing else
    allowed = [line for line in status.stdout.splitlines() if "ALLOWED" in line]
    assert len(allowed) == 1 and "ALLOWED (accepted)  key-store-readable" in allowed[0]


def test_rotation_from_the_command_line(
    officer_admin: AdminRun, officer_hsm: Hsm, database_url: str
) -> None:
    officer_hsm.reload_keys()
    pool = seed_pool(officer_hsm, 5)
    old = pool[0][1].kek_version
    populate(database_url, pool, 45)
    assert re.search(
        rf"kek v{old} +45 credential\(s\) +current", officer_admin("keys", "list").stdout
    )

    rotated = officer_admin("keys", "rotate", "--batch-size", "20")
    assert f"created KEK v{old + 1} (was v{old}); 45 credential(s) to re-wrap" in rotated.stdout
    assert "re-wrapped 45 credential(s) in 3 batch(es)" in rotated.stdout
    status = officer_admin("hsm", "status").stdout
    assert re.search(rf"kek v{old + 1} +45 credential\(s\) +\(active 45\) +current", status)
    assert re.search(rf"kek v{old} +0 credential\(s\) +\(unused: can be retired\)", status)

    too_soon = officer_admin("keys", "retire", str(old), ok=False)
    assert too_soon.returncode == 1 and "try again in" in too_soon.stderr
    officer_admin("keys", "retire", str(old), "--grace-seconds", "0")

    lines = officer_admin("audit", "keys").stdout.splitlines()
    me = f"officer:{getpass.getuser()}"
    assert all(me in line for line in lines)
    assert [line.split()[4] for line in lines] == [
        "key.create",
        "key.rotate",
        "key.rewrap",
        "key.rewrap",
        "key.rewrap",
        "key.rotate",
        "key.retire",
        "key.retire",
    ]
    assert "audit chain OK" in officer_admin("audit", "verify").stdout


def test_revoking_a_device_revokes_its_active_credentials(
    main_admin: AdminRun, hsm: Hsm, database_url: str
) -> None:
    main_admin("customer", "add", "carla", "--email", "carla@example.com")
    pool = seed_pool(hsm, 1)
    engine = make_engine(database_url)
    now = time.time()
    with engine.begin() as connection:
        connection.execute(
            insert(Device).values(
                id=7, device_id="4830192657381", public_key=b"\x04" * 65, created_at=now
            )
        )
        sealed = pool[0][1]
        for number, (device, status) in enumerate(
            [(7, "active"), (7, "active"), (7, "retired"), (None, "active")]
        ):
            connection.execute(
                insert(Credential).values(
                    public_id=f"cred_dev{number}",
                    customer_id=1,
                    device_id=device,
                    wrapped_seed=sealed.blob,
                    kek_version=sealed.kek_version,
                    seed_length=sealed.length,
                    last_step=-1,
                    status=status,
                    created_at=now,
                    updated_at=now,
                )
            )
    revoked = main_admin("device", "revoke", "4830 1926-5738 1")
    assert "credentials revoked: 2" in revoked.stdout
    assert "cred_dev0" in revoked.stdout and "cred_dev1" in revoked.stdout
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT public_id, status FROM credentials")).all()
        statuses = {public_id: status for public_id, status in rows}
        device_status = connection.execute(text("SELECT status FROM devices")).scalar()
        actions = [
            row[0]
            for row in connection.execute(text("SELECT action FROM audit_events ORDER BY seq"))
        ]
    engine.dispose()
    assert statuses == {
        "cred_dev0": "revoked",
        "cred_dev1": "revoked",
        "cred_dev2": "retired",
        "cred_dev3": "active",
    }
    assert device_status == "revoked"
    assert actions[-3:] == ["credential.revoke", "credential.revoke", "device.revoke"]
    assert "revoked already" in main_admin("device", "revoke", "4830192657381", ok=False).stderr
    assert "no device '999'" in main_admin("device", "revoke", "999", ok=False).stderr
