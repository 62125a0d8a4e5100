"""A KEK that only the security officer could have made (docs/hsm.md, "Trusted KEKs").

A seed unwrapped under a KEK may be wrapped again only under a key with `CKA_TRUSTED`
(`hsm.attributes`), and only a security-officer session may set that attribute. So a KEK
is made in two halves:

1. **The officer's half**, in a child process (`python -m hsm.trusted_kek`, reading
   `{"module", "token_label", "so_pin", "label"}` as JSON on stdin, so the SO PIN is on no
   command line): an SO session generates the AES-256 key, trusted, with the unwrap
   template. An SO session can create public objects only, so it is public, under the
   label `<label> pending`. A child process, because PKCS#11 lets one process be logged in
   as one user at a time, and the caller is logged in as the user.
2. **The user's half** (`adopt_kek`): the user session copies it as a private,
   non-modifiable token object under its real label, checks what the copy reads back as,
   and destroys the public original.

SoftHSM keeps public objects unencrypted in its files: between the two halves (a fraction
of a second) the new KEK's value lies in plaintext on disk. A `pending` key left behind by
a crash is destroyed before the next attempt, and the extraction proof reports one it finds.

Exit status 0 when the key is made; 1 with the reason on stderr (never the PIN).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pkcs11
import pkcs11.exceptions as p11e
from pkcs11 import Attribute, Mechanism, ObjectClass

from hsm.attributes import KEK_READS_BACK, changed, kek_copy_template, kek_template, mismatches
from hsm.cryptoki import Cryptoki, handle_of
from hsm.errors import HsmUnavailable, KeyNotFound, OfficerNeeded

PENDING_SUFFIX = " pending"
_TIMEOUT = 60.0


def pending_label(label: str) -> str:
    """The label of the officer's public half of KEK `label`."""
    return label + PENDING_SUFFIX


def generate_as_officer(
    module: Path, token_label: str, so_pin: str | None, label: str, mechanism: Mechanism
) -> None:
    """Run the officer's half in a child process; the KEK may wrap with `mechanism` only
    (the module's RFC 5649: `hsm.wire_format`).

    Raises:
        OfficerNeeded: no SO PIN was given, or the HSM refused it.
        HsmUnavailable: the child could not reach the HSM.
    """
    if not so_pin:
        raise OfficerNeeded(
            "a new KEK is made by the security officer: give the SO PIN "
            "(OTP_HSM_SO_PIN_FILE, or --so-pin-file)"
        )
    request = {
        "module": str(module),
        "token_label": token_label,
        "so_pin": so_pin,
        "label": label,
        "mechanism": int(mechanism),
    }
    try:
        result = subprocess.run(
            [sys.executable, "-m", "hsm.trusted_kek"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            env=_without_pins(os.environ),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HsmUnavailable(
            f"the security officer's session did not finish in {_TIMEOUT:.0f} s"
        ) from exc
    if result.returncode == 0:
        return
    reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no reason given"
    if "PinIncorrect" in reason or "PinLocked" in reason:
        raise OfficerNeeded(f"the HSM refused the security officer's PIN ({reason})")
    raise HsmUnavailable(f"the security officer's session failed: {reason}")


def _without_pins(environment: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment for the child, less any PIN it holds (OTP_HSM_PIN, ...):
    the child needs the module's own settings (SOFTHSM2_CONF), not the user's PIN."""
    return {name: value for name, value in environment.items() if "PIN" not in name.upper()}


def _pending(session: pkcs11.Session, label: str) -> list[Any]:
    """The officer's halves of KEK `label` on the token (one, when all goes well)."""
    return list(
        session.get_objects(
            {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: pending_label(label)}
        )
    )


def discard_pending(session: pkcs11.Session, label: str) -> int:
    """Destroy what a crashed attempt left of KEK `label` (its public half); returns how
    many objects went."""
    found = _pending(session, label)
    for obj in found:
        obj.destroy()
    return len(found)


def adopt_kek(session: pkcs11.Session, direct: Cryptoki, label: str, mechanism: Mechanism) -> None:
    """The user's half: copy the officer's public KEK as private and non-modifiable under
    `label`, check the copy (and that it wraps with `mechanism` only), destroy the original.

    Raises:
        KeyNotFound: the officer's half is not on the token.
        HsmUnavailable: the copy does not read back as a KEK must (it is destroyed).
    """
    found = _pending(session, label)
    handle, copy = handle_of(session), None
    try:
        if len(found) != 1:  # none, or someone made another: trust none of them
            raise KeyNotFound(
                f"the officer's half of {label} is not on the token as one key ({len(found)} found)"
            )
        copy = direct.copy(handle, handle_of(found[0]), kek_copy_template(label, mechanism))
        wrong = mismatches(KEK_READS_BACK, direct.flags(handle, copy, KEK_READS_BACK))
        allowed = direct.mechanism_list(handle, copy, Attribute.ALLOWED_MECHANISMS)
        if allowed != [mechanism]:
            wrong = ", ".join(filter(None, [wrong, f"ALLOWED_MECHANISMS={allowed}"]))
        if wrong:
            raise HsmUnavailable(f"the HSM made {label} with the wrong attributes: {wrong}")
        copy = None  # adopted
    finally:
        if copy is not None:  # not checked, or wrong: never left under the KEK's label
            direct.destroy(handle, copy)
        for original in found:
            original.destroy()


def generate_as_user(
    session: pkcs11.Session, direct: Cryptoki, label: str, mechanism: Mechanism
) -> None:
    """KEK `label` made by the user's session, for an HSM whose security officer cannot
    make keys: private, not modifiable, `mechanism` only, with the unwrap template if the
    HSM takes one - but not trusted, so nothing stops a seed unwrapped as extractable from
    being wrapped out. The extraction proof says what the HSM lets through.

    Raises:
        HsmUnavailable: the HSM refuses to make such a key.
    """
    template = dict(
        changed(
            kek_template(label, mechanism), {Attribute.PRIVATE: True, Attribute.MODIFIABLE: False}
        )
    )
    del template[Attribute.TRUSTED]
    # what an HSM may not take on a token key, dropped in this order until it takes the
    # rest (NSS softokn: CKR_GENERAL_ERROR for CKA_ALLOWED_MECHANISMS); the format stays
    # recorded in CKA_ID, and the extraction proof reports what is not enforced
    optional = [Attribute.ALLOWED_MECHANISMS, Attribute.UNWRAP_TEMPLATE]
    while True:
        try:
            direct.generate_key(handle_of(session), Mechanism.AES_KEY_GEN, template)
            return
        except (p11e.AttributeTypeInvalid, p11e.TemplateInconsistent, p11e.GeneralError):
            if not optional:
                raise
            del template[optional.pop(0)]


def _officer_session(request: dict[str, Any]) -> None:
    lib = pkcs11.lib(request["module"])
    token = lib.get_token(token_label=request["token_label"])
    with token.open(rw=True, so_pin=request["so_pin"]) as session:
        direct = Cryptoki(Path(request["module"]))
        template = kek_template(pending_label(request["label"]), Mechanism(request["mechanism"]))
        direct.generate_key(handle_of(session), Mechanism.AES_KEY_GEN, template)


def main() -> int:
    try:
        request = json.loads(sys.stdin.read())
        _officer_session(request)
    except (ValueError, KeyError, TypeError) as exc:
        print(f"bad request: {type(exc).__name__}", file=sys.stderr)
        return 1
    except p11e.PKCS11Error as exc:
        print(f"the HSM answered {type(exc).__name__} {exc}".strip(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
