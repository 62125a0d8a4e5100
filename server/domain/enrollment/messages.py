"""The e-mails enrollment sends, in Spanish and in English (one message, both languages:
the bank does not know which one the customer reads). Pure text; the services send them.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.domain.enrollment.device_id import group


@dataclass(frozen=True)
class Message:
    """A plain-text e-mail's subject and body. The body may hold a code: never log it."""

    subject: str
    body: str


def registration_code(issuer: str, display_name: str, code: str, ttl_seconds: int) -> Message:
    """The code a self-registration is confirmed with, and how long it is good for."""
    minutes = ttl_seconds // 60
    return Message(
        f"{issuer}: código de registro / registration code",
        f"Hola {display_name}:\n\nSu código para registrar el token es: "
        f"{code}\nVence en {minutes} minutos.\n\n"
        f"Your code to register the token is: {code}\n"
        f"It expires in {minutes} minutes.\n\n"
        "Si no fue usted, no comparta este código. / If this was not you, do not "
        "share this code.\n",
    )


def new_token_registered(issuer: str, display_name: str, device_id: str) -> Message:
    """The notice that a new token replaced the customer's previous one."""
    return Message(
        f"{issuer}: nuevo token activado / new token",
        f"Hola {display_name}:\n\nSu token {group(device_id)} fue "
        "registrado. El token anterior ya no genera códigos válidos. Si no fue usted, "
        "comuníquese con su banco.\n\n"
        f"Your token {group(device_id)} was registered. Your previous token no "
        "longer gives valid codes. If this was not you, call your bank.\n",
    )
