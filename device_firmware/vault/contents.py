"""What is sealed inside the vault: `TokenData` as JSON, padded to hide how many users.

Schema, version 1::

    {"format": 1,
     "clock_offset": 12.5,
     "credentials": [{"credential_id": "...", "issuer": "...", "username": "...",
                      "display_name": "...", "algorithm": "SHA1", "digits": 6,
                      "period": 60, "seed": "<hex>",
                      "ocra_suite": "OCRA-1:...", "ocra_seed": "<hex>"}, ...]}

The two ``ocra_`` keys are written only for a credential that signs transfers, so the
document of one that does not (and every vault written before them) is unchanged.

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
        "credentials": [_item(c) for c in data.credentials],
    }
    text = json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return text + b" " * (-len(text) % PADDING)


def _item(credential: Credential) -> dict[str, Any]:
    item: dict[str, Any] = {
        "credential_id": credential.credential_id,
        "issuer": credential.issuer,
        "username": credential.username,
        "display_name": credential.display_name,
        "algorithm": credential.algorithm.value,
        "digits": credential.digits,
        "period": credential.period,
        "seed": credential.seed.hex(),
    }
    if credential.ocra_suite is not None and credential.ocra_seed is not None:
        item["ocra_suite"] = credential.ocra_suite
        item["ocra_seed"] = credential.ocra_seed.hex()
    return item


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
        ocra_suite=None if "ocra_suite" not in item else str(item["ocra_suite"]),
        ocra_seed=None if "ocra_seed" not in item else bytes.fromhex(item["ocra_seed"]),
    )
