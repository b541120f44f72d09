"""The payment provider's webhook: signature verification and payload parsing (no I/O).

Signature scheme (header `X-Payment-Signature`):

    X-Payment-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

- The MAC covers the exact bytes received, prefixed with the timestamp and a dot, so neither
  the body nor the timestamp can be changed without the secret.
- A timestamp more than `TOLERANCE` away from the server clock is refused: a captured
  delivery cannot be replayed later (a replay inside the window is harmless: deliveries are
  idempotent by provider event id).
- Several `v1=` values may be present (the provider signing with an old and a new secret
  during its rotation); one match is enough. Unknown keys (`v0=`...) are ignored.
- Comparison is constant-time (`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from rodistaa.core.errors import ValidationFailed
from rodistaa.core.money import rupees_to_paise
from rodistaa.http.errors import validation_details
from rodistaa.ledger.errors import InvalidSignature
from rodistaa.ledger.schemas import CURRENCY, OperatorId, Reference, check_deposit_paise

SIGNATURE_HEADER = "X-Payment-Signature"
TOLERANCE = timedelta(minutes=5)
MAX_BODY_BYTES = 64 * 1024
PAYMENT_SUCCEEDED = "payment.succeeded"

_MAX_HEADER_LENGTH = 1024
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
# Ten digits of unix seconds last until the year 2286; more is nonsense, not a timestamp.
_TIMESTAMP = re.compile(r"[0-9]{1,10}")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex MAC of `body` sent at `timestamp` (what the provider computes)."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify_signature(secret: str, header: str | None, body: bytes, *, now: datetime) -> None:
    """Raise `InvalidSignature` unless `header` carries a MAC of `body` made with `secret`
    at a time within `TOLERANCE` of `now`. An empty secret verifies nothing: anyone could
    compute a MAC with it."""
    if not header:
        raise InvalidSignature(details={"reason": "missing"})
    timestamp, candidates = _parse_header(header)
    expected = sign(secret, timestamp, body)
    # Every candidate is compared, so the time taken says nothing about which one was close.
    matched = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    if not secret or not any(matched):
        raise InvalidSignature(details={"reason": "mismatch"})
    if abs(now.timestamp() - timestamp) > TOLERANCE.total_seconds():
        raise InvalidSignature(details={"reason": "stale"})


def _parse_header(header: str) -> tuple[int, list[str]]:
    malformed = InvalidSignature(details={"reason": "malformed"})
    if len(header) > _MAX_HEADER_LENGTH:
        raise malformed
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise malformed
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                raise malformed
            timestamp = int(value)
        elif key == "v1":
            if not _HEX_SHA256.fullmatch(value):
                raise malformed
            candidates.append(value)
    if timestamp is None or not candidates:
        raise malformed
    return timestamp, candidates


@dataclass(frozen=True)
class ProviderEvent:
    event_id: str
    event_type: str
    data: Any


@dataclass(frozen=True)
class PaymentSucceeded:
    event_id: str
    operator_id: str
    amount_paise: int
    reference: str


class _Envelope(BaseModel):
    # Providers add fields (creation time, mode, api version); only these matter here.
    model_config = ConfigDict(extra="ignore")

    id: Reference
    type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    # Checked only for the event types acted on: an unknown type is acknowledged whatever it holds.
    data: Any = None


class _PaymentData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    operatorId: OperatorId
    amountPaise: int | None = None
    # Checked by `_rupees_in_paise`: a union type would report its members, not the field.
    amount: Any = None
    currency: str
    reference: Reference


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def parse_event(body: bytes) -> ProviderEvent:
    """The event's id, type and data; 400 naming the field when the body is not an event.
    Floats are read as decimals so a rupee amount keeps exactly the digits it was sent with."""
    try:
        document = json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ValidationFailed.for_field("body", "must be a JSON object") from None
    if not isinstance(document, dict):
        raise ValidationFailed.for_field("body", "must be a JSON object")
    try:
        envelope = _Envelope.model_validate(document, strict=True)
    except ValidationError as exc:
        raise ValidationFailed(details=validation_details([dict(err) for err in exc.errors()])) from None
    return ProviderEvent(envelope.id, envelope.type, envelope.data)


def payment_of(event: ProviderEvent) -> PaymentSucceeded:
    """The payment a `payment.succeeded` event reports; 400 naming the `data.` field that is
    missing or wrong. The amount comes as `amountPaise` (integer) or `amount` (rupees, at
    most 2 decimals); when both are sent they must agree."""
    if not isinstance(event.data, dict):
        raise ValidationFailed.for_field("data", "must be an object")
    try:
        data = _PaymentData.model_validate(event.data, strict=True)
    except ValidationError as exc:
        details = validation_details([{**err, "loc": ("data", *err["loc"])} for err in exc.errors()])
        raise ValidationFailed(details=details) from None
    if data.currency != CURRENCY:
        raise ValidationFailed.for_field("data.currency", f"must be {CURRENCY}")
    return PaymentSucceeded(event.event_id, data.operatorId, _amount_paise(data), data.reference)


def _amount_paise(data: _PaymentData) -> int:
    if data.amountPaise is None and data.amount is None:
        raise ValidationFailed.for_field("data.amountPaise", "amountPaise or amount is required")
    amounts: list[int] = []
    if data.amountPaise is not None:
        amounts.append(_within_limits("data.amountPaise", data.amountPaise))
    if data.amount is not None:
        amounts.append(_within_limits("data.amount", _rupees_in_paise(data.amount)))
    if len(set(amounts)) > 1:
        raise ValidationFailed.for_field("data.amount", "does not match amountPaise")
    return amounts[0]


def _rupees_in_paise(rupees: object) -> int:
    # Numbers only: the JSON was read with floats as Decimal, so a string here was a string.
    if isinstance(rupees, bool) or not isinstance(rupees, int | Decimal):
        raise ValidationFailed.for_field("data.amount", "must be a number")
    try:
        return rupees_to_paise(rupees)
    except ValueError as exc:
        raise ValidationFailed.for_field("data.amount", str(exc)) from None


def _within_limits(field: str, paise: int) -> int:
    try:
        return check_deposit_paise(paise)
    except ValueError as exc:
        raise ValidationFailed.for_field(field, str(exc)) from None
