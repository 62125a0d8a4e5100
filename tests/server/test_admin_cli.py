"""`otp-admin` (in this process) end to end: customers, API keys, credentials, support actions,
audit."""

from __future__ import annotations

import base64
import os
import re
import secrets
import time

import httpx
import pyotp
import pytest

from tests.conftest import SoftHsmTokens
from tests.officer.conftest import admin_runner
from tests.oracles import oathtool_totp
from tests.server.processes import server_env, server_process


@pytest.fixture
def admin(tokens: SoftHsmTokens, database_url: str, hsm: object):  # type: ignore[no-untyped-def]
    env = server_env(tokens, database_url)
    run = admin_runner(env)
    run.env = {**os.environ, **env}  # type: ignore[attr-defined]
    return run


def test_help_on_every_command(admin) -> None:  # type: ignore[no-untyped-def]
    for args in ([], ["customer", "add"], ["credential", "import"], ["audit", "verify"]):
        result = admin(*args, "--help")
        assert "Usage:" in result.stdout


@pytest.mark.slow  # end to end: a real server process verifies the codes
def test_full_support_story(admin, database_url: str) -> None:  # type: ignore[no-untyped-def]
    assert "newest schema" in admin("db", "upgrade").stdout
    added = admin(
        "customer",
        "add",
        "Maria.Lopez",
        "--email",
        "maria@example.com",
        "--display-name",
        "María López",
    ).stdout
    password = re.search(r"password \(shown once\): (\S+)", added).group(1)  # type: ignore[union-attr]
    assert len(password) >= 12
    assert (
        "already"
        in admin("customer", "add", "maria.lopez", "--email", "m@example.com", ok=False).stderr
        + "exists already"
    )
    key = (
        admin("client", "add", "netbank", "--purpose", "login", "--purpose", "transfer")
        .stdout.strip()
        .splitlines()[-1]
    )
    assert key.startswith("otpk_")

    seed = secrets.token_bytes(20)
    imported = admin(
        "credential",
        "import",
        "maria.lopez",
        "--seed-format",
        "base32",
        stdin=base64.b32encode(seed).decode(),
    ).stdout
    credential_id = re.search(r"credential (cred_\w+) imported", imported).group(1)  # type: ignore[union-attr]
    listing = admin("credential", "list", "--username", "maria.lopez").stdout
    assert credential_id in listing and "active" in listing
    assert seed.hex() not in listing

    totp = pyotp.TOTP(base64.b32encode(seed).decode(), interval=60)
    with server_process(
        {k: v for k, v in admin.env.items() if k.startswith(("OTP_", "SOFTHSM"))}
    ) as base:

        def verify(code: str) -> str:
            response = httpx.post(
                f"{base}/api/v1/verify",
                headers={"Authorization": f"Bearer {key}"},
                json={"username": "maria.lopez", "code": code, "purpose": "transfer"},
            )
            return str(response.json()["result"])

        now = time.time()
        assert totp.at(now) == oathtool_totp(seed, "SHA1", 6, 60, int(now))
        assert verify(totp.at(now)) == "accepted"
        for _ in range(5):
            verify("000000" if totp.at(now) != "000000" else "111111")
        assert verify(totp.at(now + 60)) == "locked"
        assert "locked" in admin("credential", "list").stdout
        admin("credential", "unlock", credential_id)
        assert verify(totp.at(now + 60)) == "accepted"

        # the token drifted 30 minutes ahead: resync from two consecutive codes
        ahead = now + 1800
        assert verify(totp.at(ahead)) == "rejected"
        resynced = admin(
            "credential", "resync", credential_id, totp.at(ahead + 60), totp.at(ahead + 120)
        ).stdout
        assert "drift +3" in resynced  # 30 or 31 steps ahead, printed with its sign
        assert verify(totp.at(ahead + 180)) == "accepted"

        admin("credential", "revoke", credential_id)
        assert verify(totp.at(ahead + 240)) == "rejected"
        assert "is revoked already" in admin("credential", "revoke", credential_id, ok=False).stderr

    audit = admin("audit", "verify").stdout
    assert "audit chain OK" in audit


def test_bad_seed_and_unknown_things_are_clear_errors(admin) -> None:  # type: ignore[no-untyped-def]
    admin("customer", "add", "pat", "--email", "pat@example.com")
    assert "not valid hex" in admin("credential", "import", "pat", stdin="xyz", ok=False).stderr
    assert "16 to 128 bytes" in admin("credential", "import", "pat", stdin="00ff", ok=False).stderr
    assert (
        "no customer 'ghost'"
        in admin("credential", "import", "ghost", stdin="00" * 20, ok=False).stderr
    )
    assert (
        "no credential 'cred_nope'" in admin("credential", "unlock", "cred_nope", ok=False).stderr
    )
    assert (
        "is not an e-mail address"
        in admin("customer", "add", "x", "--email", "nope", ok=False).stderr
    )


def test_audit_verify_reports_the_first_bad_event(admin, database_url: str) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text

    admin("customer", "add", "quinn", "--email", "quinn@example.com")
    admin("client", "add", "portal", "--purpose", "login")
    admin("customer", "add", "ruth", "--email", "ruth@example.com")
    assert "3 events" in admin("audit", "verify").stdout
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET subject = 'mallory' WHERE seq = 2"))
    engine.dispose()
    bad = admin("audit", "verify", ok=False)
    assert bad.returncode == 1
    assert "BROKEN at event 2" in bad.stderr


def test_a_clients_transfers_above_an_amount_need_a_signature(admin, database_url: str) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text

    admin("client", "add", "netbank", "--purpose", "transfer", "--sign-transfers-above", "250")
    admin("client", "add", "branch", "--purpose", "transfer")
    engine = create_engine(database_url)

    def thresholds() -> dict[str, int | None]:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT name, sign_transfers_above FROM relying_parties")
            )
            return {name: above for name, above in rows}

    assert thresholds() == {"netbank": 25_000, "branch": None}
    assert (
        "above 0.50 must be signed" in admin("client", "signing", "branch", "--above", "0.5").stdout
    )
    assert (
        "above 0.00 must be signed"
        in admin("client", "signing", "netbank", "--above", "0.00").stdout
    )
    assert "plain code approves any" in admin("client", "signing", "netbank", "--never").stdout
    assert thresholds() == {"netbank": None, "branch": 50}
    assert admin("client", "list").stdout.splitlines() == [
        "branch\tactive\ttransfer\tsigned above 0.50",
        "netbank\tactive\ttransfer\tplain code for any transfer",
    ]
    for args, words in [
        (["branch", "--above", "1.001"], "at most 2 decimals"),
        (["branch", "--above", "-3"], "digits and at most one decimal point"),
        (["branch"], "--above AMOUNT or --never"),
        (["branch", "--above", "1", "--never"], "--above AMOUNT or --never"),
        (["ghost", "--never"], "no client named 'ghost'"),
    ]:
        assert words in admin("client", "signing", *args, ok=False).stderr
    assert "client.signing" in admin("audit", "export").stdout
    engine.dispose()
