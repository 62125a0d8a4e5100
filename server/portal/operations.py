"""The operations a code approves (the INVEX Clave list). Business logic stays minimal:
the point is a real approval, audited with what was approved."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from server.domain.verification.purposes import Purpose

MAX_AMOUNT = Decimal("1000000")
"""The largest amount an operation may carry: the portal's own limit, well under the most
a token can sign (`server.domain.verification.transfers.MAX_AMOUNT`), so that every
transfer the form accepts can be signed."""


_TYPED_AMOUNT = re.compile(r"([0-9]+)(?:[.,]([0-9]{1,2}))?")
"""Digits, and for cents a point or a comma (the decimal mark of either language) and one or
two digits. No thousands separator: "1.250" is 1250 to a Spanish reader and 1.25 to an
English one, and a customer would sign the other."""


def _amount(value: str) -> Decimal | None:
    """The number typed, or None for one written otherwise than `_TYPED_AMOUNT`."""
    typed = _TYPED_AMOUNT.fullmatch(value)
    if typed is None:
        return None
    whole, cents = typed.groups()
    return Decimal(f"{whole}.{cents or '0'}")


def _amount_refusal(amount: Decimal) -> str | None:
    """Why an amount cannot be approved, as a catalog key; None when it can."""
    if amount <= 0:
        return "field.amount.positive"
    if amount > MAX_AMOUNT:
        return "field.amount.too_large"
    return None


@dataclass(frozen=True)
class Field:
    """One form field: its name, label key, input kind and check."""

    name: str
    label: str
    kind: str = "text"  # text | amount | select | checkbox
    options: tuple[tuple[str, str], ...] = ()
    pattern: str = r"^.{1,64}$"

    def clean(self, raw: str | None) -> str | None:
        """The value to keep, or None when it is not acceptable."""
        value = (raw or "").strip()
        if self.kind == "amount":
            amount = _amount(value)
            if amount is None or _amount_refusal(amount) is not None:
                return None
            return f"{amount:.2f}"
        if self.kind == "select":
            return value if value in {key for key, _ in self.options} else None
        if self.kind == "checkbox":
            return "yes" if value == "yes" else None
        return value if re.fullmatch(self.pattern, value) else None

    def refusal(self, raw: str | None) -> str:
        """Why `clean` refuses `raw`, as a catalog key (its values: `field`, the field's
        label, and `maximum`, `MAX_AMOUNT`): an amount says what is wrong with it."""
        if self.kind != "amount":
            return "field.invalid"
        amount = _amount((raw or "").strip())
        return (
            "field.amount.format" if amount is None else _amount_refusal(amount) or "field.invalid"
        )


@dataclass(frozen=True)
class Operation:
    slug: str
    purpose: Purpose
    title: str
    fields: tuple[Field, ...] = field(default_factory=tuple)

    def new_reference(self) -> str:
        """A reference for an approved operation, to show the customer: ``TRA-1A2B3C4D``."""
        return f"{self.slug[:3].upper()}-{secrets.token_hex(4).upper()}"

    def read(self, form: Mapping[str, str]) -> tuple[dict[str, str], Field | None]:
        """The form's values as `Field.clean` keeps them, and the first field it refuses
        (None: every field is accepted)."""
        values: dict[str, str] = {}
        for item in self.fields:
            value = item.clean(form.get(item.name))
            if value is None:
                return values, item
            values[item.name] = value
        return values, None


MONTHS = tuple((f"2026-{m:02d}", f"2026-{m:02d}") for m in range(6, 12))

OPERATIONS: dict[str, Operation] = {
    op.slug: op
    for op in (
        Operation(
            "transfer",
            Purpose.TRANSFER,
            "ops.transfer",
            (
                Field("amount", "field.amount", "amount"),
                Field("account", "field.account", pattern=r"^[0-9]{10,18}$"),
                Field("concept", "field.concept", pattern=r"^[\w .,-]{1,40}$"),
            ),
        ),
        Operation(
            "statement",
            Purpose.STATEMENT,
            "ops.statement",
            (Field("month", "field.month", "select", MONTHS),),
        ),
        Operation(
            "limits",
            Purpose.LIMITS,
            "ops.limits",
            (Field("daily_limit", "field.daily_limit", "amount"),),
        ),
        Operation(
            "notification",
            Purpose.NOTIFICATION,
            "ops.notification",
            (
                Field(
                    "medium",
                    "field.medium",
                    "select",
                    (("email", "field.medium.email"), ("sms", "field.medium.sms")),
                ),
                Field("destination", "field.destination", pattern=r"^[\w.+@ -]{3,80}$"),
            ),
        ),
        Operation(
            "new_keys",
            Purpose.NEW_KEYS,
            "ops.new_keys",
            (Field("confirm", "field.confirm", "checkbox"),),
        ),
    )
}
