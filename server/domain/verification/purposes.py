"""What a code approves: the operations the bank guides list, plus login."""

from __future__ import annotations

import enum


class Purpose(enum.StrEnum):
    """Purpose of a verification; it is part of every audit event."""

    LOGIN = "login"
    TRANSFER = "transfer"  # operaciones monetarias
    STATEMENT = "statement"  # consulta de estado de cuenta
    LIMITS = "limits"  # modificación de los límites de operación
    NOTIFICATION = "notification"  # modificación del medio de notificación
    NEW_KEYS = "new_keys"  # generación de nuevas claves
