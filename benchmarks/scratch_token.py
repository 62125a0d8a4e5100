"""A SoftHSM2 token of a suite's own, made in a scratch directory.

The PKCS#11 module reads `SOFTHSM2_CONF` once per process, so this points the process at the
new token's configuration: one suite per process (`python -m benchmarks` runs each in its
own when it runs several).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hsm import HsmConfig
from softhsm_config import SoftHsmToken, create_token


def scratch_token(directory: Path, label: str, **config: Any) -> tuple[SoftHsmToken, HsmConfig]:
    """A new token under `directory`, and the `HsmConfig` that opens it (with `config`'s
    other fields, e.g. the weaknesses accepted)."""
    token = create_token(directory / "hsm", label, secrets_dir=directory / "secrets")
    os.environ["SOFTHSM2_CONF"] = str(token.conf_path)
    return token, HsmConfig(
        module=token.module,
        token_label=token.label,
        user_pin=token.user_pin(),
        so_pin=token.so_pin(),
        **config,
    )


def server_env(token: SoftHsmToken) -> dict[str, str]:
    """What a server process (`python -m server`) needs in its environment to use `token`:
    its SoftHSM configuration, label and PIN file; and logs as JSON."""
    return {
        **token.env,
        "OTP_HSM_TOKEN_LABEL": token.label,
        "OTP_HSM_PIN_FILE": str(token.user_pin_file),
        "OTP_LOG_FORMAT": "json",
    }
