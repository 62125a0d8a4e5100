"""The baseline for the verify benchmark: a bare Litestar endpoint checking a pyotp code
held in memory (no HSM, no database, no replay protection, no audit).

Run as `uvicorn benchmarks.bare_app:app`; it reads its users from BENCH_BARE_USERS
(a JSON object username -> base32 seed).
"""

from __future__ import annotations

import json
import os

import msgspec
import pyotp
from litestar import Litestar, post
from litestar.response import Response

_TOTPS = {
    name: pyotp.TOTP(secret, interval=60)
    for name, secret in json.loads(os.environ.get("BENCH_BARE_USERS", "{}")).items()
}


class Body(msgspec.Struct):
    username: str
    code: str
    purpose: str


@post("/api/v1/verify", sync_to_thread=False)
def verify(data: Body) -> Response[dict[str, str]]:
    totp = _TOTPS.get(data.username)
    ok = totp is not None and totp.verify(data.code, valid_window=1)
    return Response(
        {"result": "accepted" if ok else "rejected", "purpose": data.purpose},
        status_code=200 if ok else 403,
    )


app = Litestar([verify], logging_config=None)
