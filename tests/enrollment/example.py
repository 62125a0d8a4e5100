"""`python -m tests.enrollment.example`: make the worked example of docs/protocol.md.

It runs a real server (in-process) on a fresh SoftHSM token, activates a token whose test-only
private scalar is fixed, and writes the JSON example between the markers in the doc.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from unittest import mock

from cryptography.hazmat.primitives.asymmetric import ec

EXAMPLE_SCALAR = 0x2B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFE
EXAMPLE_CREDENTIAL_ID = "cred_1ceefb19e61cb7e76912"
"""The credential of every example so far: the verify API's OpenAPI example names it
(`server/domain/verification/controllers.py`), so a regenerated example keeps it."""
EXAMPLE_QUESTION = "00000012500000054321"
"""§6's first transfer: 1,250.00 to an account ending in 00054321."""
DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def make_example() -> dict[str, object]:
    from litestar.testing import TestClient

    from hsm import Hsm, HsmConfig
    from server.app import create_app
    from server.db.migrate import upgrade
    from server.domain.enrollment import binding
    from softhsm_config import create_token
    from tests.enrollment.token_client import TokenClient
    from tests.oracles import oath_ocra
    from tests.server.conftest import fast_settings

    tmp = Path(tempfile.mkdtemp(prefix="protocol-example-"))
    token_files = create_token(tmp / "hsm", "example", secrets_dir=tmp / "secrets")
    os.environ["SOFTHSM2_CONF"] = str(token_files.conf_path)
    so_pin = token_files.so_pin()
    hsm = Hsm(
        HsmConfig(token_files.module, token_files.label, token_files.user_pin(), so_pin=so_pin)
    )
    hsm.ensure_keys()
    url = f"sqlite:///{tmp}/example.sqlite3"
    upgrade(url)
    app = create_app(fast_settings(url, outbox_dir=tmp / "outbox"), hsm=hsm)
    services = app.state.services
    with services.db.transaction() as session:
        services.customers.add(
            session, "ana.perez", "ana@example.com", "example-password", "Ana Pérez"
        )
    with (
        TestClient(app) as client,
        mock.patch.object(binding, "new_public_id", lambda: EXAMPLE_CREDENTIAL_ID),
    ):
        token = TokenClient(client, key=ec.derive_private_key(EXAMPLE_SCALAR, ec.SECP256R1()))
        token.first_contact()
        issued = client.post(
            "/api/v1/activations",
            auth=("ana.perez", "example-password"),
            json={"device_id": token.device_id, "token_kind": "emulator"},
        )
        code = issued.json()["activation_code"]
        response = token.redeem(code)
        method, path, body, headers = token.last_request  # type: ignore[misc]
        provisioned = token.provisioned(response)
    return {
        "token_private_scalar_hex": f"{EXAMPLE_SCALAR:064x}",
        "device_id": token.device_id,
        "provisioning_public_key": client_key(token),
        "redeem_request": {
            "method": method,
            "path": path,
            "body": body.decode(),
            "headers": {k: v for k, v in headers.items() if k.startswith("X-OTP")},
        },
        "bundle": provisioned.bundle,
        "seed_hex": provisioned.seed.hex(),
        "ocra_seed_hex": (provisioned.ocra_seed or b"").hex(),
        "code_at_server_time": provisioned.totp().at(provisioned.bundle["server_time"]),
        "ocra_question": EXAMPLE_QUESTION,
        "ocra_response_at_server_time": oath_ocra(
            provisioned.bundle["ocra_suite"],
            provisioned.ocra_seed or b"",
            EXAMPLE_QUESTION,
            time_step=provisioned.bundle["server_time"] // 60,
        ),
    }


def client_key(token: object) -> str:
    from tests.enrollment.token_client import b64url

    return b64url(token.pinned)  # type: ignore[attr-defined]


def main() -> None:
    example = json.dumps(make_example(), indent=2, ensure_ascii=False)
    text = DOC.read_text()
    new = re.sub(
        r"```json\n.*?\n```", lambda _: f"```json\n{example}\n```", text, count=1, flags=re.DOTALL
    )
    DOC.write_text(new)
    print(f"wrote the example into {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
