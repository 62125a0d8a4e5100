"""A SoftHSM2 token for testers and for `make run`, made in one call.

`create_token` writes a `softhsm2.conf` for a directory, initialises a token in it and keeps
its PINs in files readable by the owner only. It is idempotent: run it again and it checks
that the existing token opens with the PINs it has, and refuses to touch a token whose PINs
differ.
"""

from softhsm_config.token import (
    SOFTHSM_MODULE,
    SoftHsmToken,
    TokenSetupError,
    create_token,
)

__all__ = ["SOFTHSM_MODULE", "SoftHsmToken", "TokenSetupError", "create_token"]
