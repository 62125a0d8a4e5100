"""Transaction signing: the one rule that turns a transfer into an OCRA question.

Both ends compute it: the server from the transfer its verify API is sent, the token from
what the customer types on its keypad; the response is OCRA (RFC 6287) over the question
with the credential's OCRA seed. One digit of difference and every signature fails, so the
rule is written once, here, in a package that imports nothing of ours (nor anything outside
the standard library): the server may not import the token's code nor the token the
server's (docs/design.md §1), and both may import this. docs/protocol.md, "Transaction
signing (OCRA)", is the rule in words, with worked examples the tests check.
"""

from transaction_signing.question import (
    AMOUNT_DIGITS,
    DEFAULT_CURRENCY,
    MAX_AMOUNT,
    PAYEE_DIGITS,
    QUESTION_LENGTH,
    SUITE,
    TIME_STEP,
    TransactionRefused,
    amount_in_cents,
    payee_reference,
    question,
)

__all__ = [
    "AMOUNT_DIGITS",
    "DEFAULT_CURRENCY",
    "MAX_AMOUNT",
    "PAYEE_DIGITS",
    "QUESTION_LENGTH",
    "SUITE",
    "TIME_STEP",
    "TransactionRefused",
    "amount_in_cents",
    "payee_reference",
    "question",
]
