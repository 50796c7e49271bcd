"""Payment providers: a small interface, and the simulated provider that development and tests use.

The card number is turned into a provider token at checkout (as a real provider's client-side
tokenisation would) and never stored: a booking keeps the token and the last four digits only.
A charge carries the booking id as its idempotency key, so a worker that dies after charging and is
run again does not charge twice at a provider that honours the key (every serious one does).

Test cards of the simulated provider:

=====================  ==========================================================
4242424242424242       approved at once
4000000000000002       declined (``payment_declined``)
4000000000000119       no answer within the timeout (``payment_timeout``)
4000000000000077       approved after ``PAYMENT_SLOW_SECONDS`` (a slow provider)
any other valid card   approved (the number must pass the Luhn check)
=====================  ==========================================================
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Protocol

from atomicseats.exceptions import Invalid
from atomicseats.extensions import booking_ext

CARD_APPROVED = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_TIMEOUT = "4000000000000119"
CARD_SLOW = "4000000000000077"


class PaymentTimeout(Exception):
    """The provider did not answer in time."""


@dataclass(frozen=True)
class CardToken:
    token: str
    last4: str


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    reference: str | None
    reason: str | None = None  # why it was declined, as a failure_reason code


class PaymentProvider(Protocol):
    def tokenize(self, card_number: str) -> CardToken: ...

    def charge(self, token: str, amount_cents: int, idempotency_key: str) -> ChargeResult: ...


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def normalise_card(card_number: str) -> str:
    """Digits only; 422 for anything that cannot be a card number."""
    digits = "".join(ch for ch in card_number if ch not in " -")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not _luhn_ok(digits):
        raise Invalid.field("payment.card_number", "is not a valid card number")
    return digits


class SimulatedProvider:
    """Behaves by test card number; the token encodes the behaviour, never the number."""

    _BEHAVIOUR = {CARD_DECLINED: "declined", CARD_TIMEOUT: "timeout", CARD_SLOW: "slow"}

    def tokenize(self, card_number: str) -> CardToken:
        digits = normalise_card(card_number)
        behaviour = self._BEHAVIOUR.get(digits, "ok")
        fingerprint = hashlib.sha256(digits.encode()).hexdigest()[:12]
        return CardToken(f"sim_{behaviour}_{fingerprint}", digits[-4:])

    def charge(self, token: str, amount_cents: int, idempotency_key: str) -> ChargeResult:
        behaviour = token.split("_")[1] if token.startswith("sim_") else "invalid"
        timeout = booking_ext.settings.payment_timeout_seconds
        if behaviour == "timeout":
            raise PaymentTimeout(f"no answer from the payment provider within {timeout} s")
        if behaviour == "slow":
            time.sleep(min(booking_ext.settings.payment_slow_seconds, timeout))
        if behaviour in ("declined", "invalid"):
            return ChargeResult(False, None, "payment_declined")
        reference = "sim_ch_" + hashlib.sha256(f"{idempotency_key}:{amount_cents}".encode()).hexdigest()[:20]
        return ChargeResult(True, reference)


_PROVIDERS: dict[str, PaymentProvider] = {"simulated": SimulatedProvider()}


def provider() -> PaymentProvider:
    """The configured provider (``PAYMENT_PROVIDER``); add a real one to ``_PROVIDERS``."""
    return _PROVIDERS[booking_ext.settings.payment_provider]
