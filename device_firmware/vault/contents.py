"""What is sealed inside the vault: `TokenData` as JSON, padded to hide how many users.

Schema, version 1::

    {"format": 1,
     "clock_offset": 12.5,
     "credentials": [{"credential_id": "...", "issuer": "...", "username": "...",
                      "display_name": "...", "algorithm": "SHA1", "digits": 6,
                      "period": 60, "seed": "<hex>"}, ...]}

followed by spaces up to a multiple of `PADDING` bytes, so the file's size says little about
the number of users.
"""

from __future__ import annotations

import json
from typing import Any

from device_firmware.core.errors import InvalidRecord, VaultUnreadable
from device_firmware.core.records import Algorithm, Credential, TokenData

CONTENTS_VERSION = 1
PADDING = 1024


def encode(data: TokenData) -> bytes:
    """The sealed form of `data`."""
    document = {
        "format": CONTENTS_VERSION,
        "clock_offset": data.clock_offset,
        "credentials": [
            {
                "credential_id": c.credential_id,
                "issuer": c.issuer,
                "username": c.username,
                "display_name": c.display_name,
                "algorithm": c.algorithm.value,
                "digits": c.digits,
                "period": c.period,
                "seed": c.seed.hex(),
            }
            for c in data.credentials
        ],
    }
    text = json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return text + b" " * (-len(text) % PADDING)


def decode(blob: bytes) -> TokenData:
    """The `TokenData` in a decrypted vault.

    Raises:
        VaultUnreadable: it is not a version-1 document of the expected shape.
    """
    try:
        document = json.loads(blob.decode("ascii"))
        if document["format"] != CONTENTS_VERSION:
            raise VaultUnreadable(f"vault contents version {document['format']} unsupported")
        credentials = tuple(_credential(item) for item in document["credentials"])
        return TokenData(credentials, clock_offset=float(document["clock_offset"]))
    except VaultUnreadable:
        raise
    except (ValueError, KeyError, TypeError, InvalidRecord) as exc:
        raise VaultUnreadable(f"the vault's contents are malformed: {exc}") from exc


def _credential(item: dict[str, Any]) -> Credential:
    return Credential(
        credential_id=str(item["credential_id"]),
        issuer=str(item["issuer"]),
        username=str(item["username"]),
        display_name=str(item["display_name"]),
        seed=bytes.fromhex(item["seed"]),
        algorithm=Algorithm(item["algorithm"]),
        digits=int(item["digits"]),
        period=int(item["period"]),
    )
