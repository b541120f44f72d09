"""Typed errors of the operator ledger."""

from __future__ import annotations

from rodistaa.core.errors import AppError, Conflict


class InsufficientBalance(AppError):
    """The debit would take the balance below zero; nothing was written."""

    status, code, message = 422, "INSUFFICIENT_BALANCE", "Insufficient ledger balance"


class ReferenceAlreadyUsed(Conflict):
    """An idempotency key (external reference) already names a different deposit."""

    message = "This external reference already records a different deposit"


class InvalidSignature(AppError):
    """A payment webhook without a valid, fresh signature. Every cause answers the same way
    (the reason in `details` names the check, never a secret or an expected value)."""

    status, code, message = 401, "INVALID_SIGNATURE", "The webhook signature is missing or invalid"


class WebhookPayloadTooLarge(AppError):
    status, code, message = 413, "PAYLOAD_TOO_LARGE", "The webhook body is too large"
