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
