"""The token's link to the bank over HTTP(S): docs/protocol.md, client side.

This package is the only token code that imports httpx. `HttpServerLink` implements the
core's `ServerLink` port:

- `token_key`: the `TokenKey` Protocol. The link is given a *source* of the token's key (a
  callable, `FileVault.identity` on the Pi and in the emulator) and uses only the key's
  public half, `sign(bytes)` and `exchange(peer)`: it never sees the private key's bytes,
  so a secure element can hold the key behind the same Protocol.
- `signing`: the X-OTP-* headers of a signed request (protocol §2).
- `pinning`: the provisioning key bundles must be signed by, and `ProvisioningTrust`: how
  the token knows it. The key or its fingerprint comes from the configuration (required);
  trust on first use only as a development setting. The key read at first contact is kept
  in the vault directory (``provisioning-key.json``, which survives a wipe). See the module.
- `bundle`: a provisioning bundle checked (signature under the pinned key, addressed to this
  token's key and device ID) and opened (ECDH, the AES counter KDF, RFC 5649 unwrap).
- `http_link`: the requests, the clock offset, and the bank's answers mapped to the core's
  `LinkError` tree.
"""

from device_firmware.link.http_link import HttpServerLink, InsecureServerUrl, check_server_url
from device_firmware.link.pinning import (
    MemoryPinStore,
    PinnedKeyFile,
    PinStore,
    ProvisioningKey,
    ProvisioningTrust,
)
from device_firmware.link.token_key import KeySource, TokenKey

__all__ = [
    "HttpServerLink",
    "InsecureServerUrl",
    "KeySource",
    "MemoryPinStore",
    "PinStore",
    "PinnedKeyFile",
    "ProvisioningKey",
    "ProvisioningTrust",
    "TokenKey",
    "check_server_url",
]
