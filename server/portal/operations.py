"""The operations a code approves (the INVEX Clave list). Business logic stays minimal:
the point is a real approval, audited with what was approved."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from server.domain.verification.purposes import Purpose


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
            try:
                amount = Decimal(value.replace(",", ""))
            except InvalidOperation:
                return None
            if not amount.is_finite():
                return None
            if not Decimal("0.01") <= amount <= Decimal("1000000") or amount != round(amount, 2):
                return None
            return f"{amount:.2f}"
        if self.kind == "select":
            return value if value in {key for key, _ in self.options} else None
        if self.kind == "checkbox":
            return "yes" if value == "yes" else None
        return value if re.fullmatch(self.pattern, value) else None


@dataclass(frozen=True)
class Operation:
    slug: str
    purpose: Purpose
    title: str
    fields: tuple[Field, ...] = field(default_factory=tuple)


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
