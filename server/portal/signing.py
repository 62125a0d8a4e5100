"""A transfer signed on the token (docs/protocol.md §6): the page that says exactly what to
type on it, and the check of the response the customer types back.

The token's "Firmar operación" / "Sign a transaction" asks for the amount (digits and the
`D` key, the decimal point), then the payee account's last 8 digits, reads the transfer
back and shows an 8-digit response. The page names those screens in the token's words and
shows the amount in the token's notation (``1.250,00``, ``1,250.00``).

The transfer's details travel between the form and this page as hidden fields, not in
the portal session: the response is verified against the details posted with it, and it
was computed over what the customer typed on the token, so a transfer changed on the way
(by hand, or by a script in the browser) is refused as a response for another amount or
payee is refused by the verify API. Nothing has to be kept between two requests, or
ended, or cleaned up. Only the amount and the payee are signed: the concept is not on the
token, and is approved as posted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from server.di import AppServices
from server.domain.verification.rules import Result, VerifyRequest
from server.domain.verification.transfers import Transfer, transfer_of
from server.portal.i18n import amount
from server.portal.operations import OPERATIONS, Operation
from server.portal.pages import (
    PORTAL_CLIENT,
    Form,
    approved_page,
    code_error,
    current_customer,
    language,
    minutes_to_wait,
    operation_page,
    page,
    signed_here,
    to_login,
)
from server.services import Services
from server.transport import client_address

SIGN_PATH = "/portal/operations/transfer/sign"
_RESPONSE = re.compile(r"[0-9]{6,10}")
"""A response as a token shows it (8 digits for the bank's tokens; an imported OCRA
token's suite may say 6 to 10)."""


@dataclass(frozen=True)
class ToType:
    """A transfer as the customer types it on the token and reads it on its screen."""

    amount: str
    """As the token shows it, in the page's language: ``1.250,00`` / ``1,250.00``."""
    whole: str
    """The digits typed before the decimal key: ``1250``."""
    decimals: str
    """The two digits typed after it: ``00``."""
    currency: str
    payee: str
    """The payee reference, the 8 digits typed: ``00054321``."""
    payee_shown: str
    """The same as the page shows the account's end: ``...0005 4321``."""


def to_type(transfer: Transfer, lang: str) -> ToType:
    """What the customer types on the token to sign `transfer`, in `lang`'s notation."""
    whole, cents = divmod(transfer.cents, 100)
    reference = transfer.payee_reference
    return ToType(
        amount=amount(transfer.cents, lang),
        whole=str(whole),
        decimals=f"{cents:02d}",
        currency=transfer.currency,
        payee=reference,
        payee_shown=f"...{reference[:4]} {reference[4:]}",
    )


def transfer_in(details: dict[str, str], currency: str) -> Transfer:
    """The transfer a transfer form's accepted `details` make (their `amount` and
    `account`), in the signing currency. The form's own checks are narrower than the
    signing rules (`operations.MAX_AMOUNT`, an account of 10 to 18 digits), so it can
    always be signed.

    Raises:
        TransactionRefused: never for details the form accepted.
    """
    return transfer_of(
        {"amount": details["amount"], "currency": currency, "payee": details["account"]},
        currency,
    )


def signing_page(
    request: Request[Any, Any, Any],
    services: Services,
    operation: Operation,
    details: dict[str, str],
    status_code: int = 200,
    error: str | None = None,
    minutes: int = 1,
) -> Template:
    """The page that shows what to type on the token for the transfer `details`, the
    details again as hidden fields, and the field for the response; with `error` (a
    catalog key) when the last response was refused."""
    transfer = transfer_in(details, services.settings.signing_currency)
    return page(
        request,
        "sign.html",
        status_code,
        operation=operation,
        details=details,
        sign=to_type(transfer, language(request)),
        action=SIGN_PATH,
        error=error,
        minutes=minutes,
    )


def sign_error(result: Result) -> str:
    """The catalog key of a refused response (it takes `minutes` when locked)."""
    return "sign.wrong" if result is Result.REJECTED else code_error(result)


class TransferSigningController(Controller):
    """The second step of a signed transfer: the response checked against the transfer."""

    path = SIGN_PATH
    include_in_schema = False

    @get("/", sync_to_thread=False)
    def form(self) -> Redirect:
        """A reload of the signing page after its answer: back to the transfer's form."""
        return Redirect("/portal/operations/transfer")

    @post("/", sync_to_thread=True)
    def sign(
        self, request: Request[Any, Any, Any], services: AppServices, data: Form
    ) -> Template | Redirect:
        customer = current_customer(request)
        if customer is None:
            return to_login(request)
        operation = OPERATIONS["transfer"]
        tokens = services.credentials.tokens(customer)
        details, refused = operation.read(data)  # the hidden fields, checked as the form
        if refused is not None:
            return operation_page(request, operation, tokens, data, refused, 400)
        if not signed_here(operation, tokens.ability):  # the token was replaced meanwhile
            return operation_page(request, operation, tokens, details, status_code=409)
        response = data.get("response", "").strip()
        if _RESPONSE.fullmatch(response) is None:
            return signing_page(request, services, operation, details, 400, "sign.response.bad")
        transfer = transfer_in(details, services.settings.signing_currency)
        outcome = services.verification.verify(
            VerifyRequest(
                username=customer.username,
                code="",
                purpose=operation.purpose.value,
                client=PORTAL_CLIENT,
                source=client_address(request),
                transaction=details,
                authenticated=True,  # a logged-in customer: its own budget (design §4)
                response=response,
                transfer=transfer,
            )
        )
        if outcome.result is Result.ACCEPTED:
            signed = to_type(transfer, language(request))
            return approved_page(request, operation, details, signed=signed)
        return signing_page(
            request,
            services,
            operation,
            details,
            403,
            sign_error(outcome.result),
            minutes_to_wait(outcome.retry_after),
        )
