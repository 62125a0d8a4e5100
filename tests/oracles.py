"""Independent OTP implementations and the RFC vectors, to check our HSM path against."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pyotp

VECTORS = Path(__file__).parent / "vectors"
RFC_SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}


def load_vectors(name: str) -> list[list[str]]:
    """Rows of a whitespace-separated vector file, comments skipped."""
    rows = []
    for line in (VECTORS / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split())
    return rows


def oathtool_totp(seed: bytes, algorithm: str, digits: int, period: int, unix_time: int) -> str:
    """The code `oathtool` (Debian package) computes for this seed and time."""
    out = subprocess.run(
        [
            "oathtool",
            f"--totp={algorithm}",
            "-s",
            str(period),
            "-d",
            str(digits),
            "-N",
            f"@{unix_time}",
            seed.hex(),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def oathtool_hotp(seed: bytes, digits: int, counter: int) -> str:
    out = subprocess.run(
        ["oathtool", "--hotp", "-c", str(counter), "-d", str(digits), seed.hex()],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def pyotp_totp(seed: bytes, algorithm: str, digits: int, period: int) -> pyotp.TOTP:
    digest = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}[algorithm]
    return pyotp.TOTP(
        base64.b32encode(seed).decode(), digits=digits, interval=period, digest=digest
    )


def oath_ocra(
    suite: str,
    key: bytes,
    question: str,
    *,
    counter: int | None = None,
    time_step: int | None = None,
    pin: str | None = None,
    session: bytes | None = None,
) -> str:
    """The OCRA response python-oath (PyPI `oath`, an implementation of its own) computes.

    It hashes the PIN itself (its `P_digest` argument fails in 1.4.5). A question longer
    than the suite's is sent as mutual challenge-response's two challenges (RFC 6287 §7.3),
    which is how python-oath takes those."""
    import oath  # imported here: the other oracles do without it

    ocra = oath.str2ocrasuite(suite)
    inputs: dict[str, object] = {"C": counter, "P": pin, "S": session}
    if time_step is not None:
        inputs["T_precomputed"] = time_step
    mutual = len(question) > ocra.data_input.Q[1]
    inputs["Qsc" if mutual else "Q"] = question
    return str(ocra(key, **{k: v for k, v in inputs.items() if v is not None}))
