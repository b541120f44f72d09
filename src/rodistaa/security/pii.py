"""Masking of personal data and secrets in free text and structured values.

Used by the logging pipeline (so no log line carries a phone number, e-mail, Aadhaar, PAN, OTP
or credential) and anywhere else text may carry personal data. Masking errs on the side of
over-masking: hiding a harmless number costs a little debugging; leaking a phone number or a
token cannot be undone.

Masked forms (each keeps at most what PRODUCT.md allows to be shown):

- phone ``+91******3210`` (every accepted input shape is reported in this one form)
- e-mail ``***@***``
- Aadhaar ``XXXX-XXXX-1234``
- PAN ``*********F`` (only the last character survives; GSTINs keep their non-PAN parts)
- any other run of 10+ digits (bank accounts, card numbers, glued phone numbers) ``******1234``
- ``Bearer [REDACTED]``, ``[REDACTED_JWT]``, ``password=[REDACTED]`` style pairs
- 6-digit codes after otp/code/pin ``otp=******``

The masked forms themselves are left alone by ``mask_text``, so masking twice (the logging
pipeline does) is safe. Known limit: a phone number written in groups (``98765 43210``) and glued
to a preceding digit is not recognised, because it cannot be told apart from a longer number;
written contiguously it is always masked (by the phone rule or the 10+ digit rule).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Final
from uuid import UUID

from structlog.processors import format_exc_info
from structlog.typing import EventDict, WrappedLogger

REDACTED: Final = "[REDACTED]"
REDACTED_JWT: Final = "[REDACTED_JWT]"
BYTES_PLACEHOLDER: Final = "[BYTES]"
TOO_DEEP_PLACEHOLDER: Final = "[TOO_DEEP]"

SENSITIVE_KEYS: Final[frozenset[str]] = frozenset(
    {
        "otp",
        "code",
        "otp_code",
        "token",
        "access_token",
        "accesstoken",
        "refresh_token",
        "refreshtoken",
        "authorization",
        "cookie",
        "set-cookie",
        "password",
        "passwd",
        "secret",
        "api_key",
        "apikey",
        "x-api-key",
        "jwt",
        "devotp",
        "pin",
        "totp",
        "totp_code",
        "private_key",
    }
)
# Compared without "_" and "-" so dev_otp, devOtp, x_api_key and set_cookie all match.
_COMPACT_SENSITIVE_KEYS: Final = frozenset(key.replace("_", "").replace("-", "") for key in SENSITIVE_KEYS)
_SENSITIVE_SUFFIXES: Final = ("_token", "_secret", "-token", "-secret")
_SENSITIVE_CAMEL_SUFFIXES: Final = ("Token", "Secret")

# Structlog's ProcessorFormatter bookkeeping: must reach the formatter untouched.
_PROCESSOR_META_KEYS: Final = frozenset({"_record", "_from_structlog"})
# Values the JSON renderer prints natively and that cannot hold free text.
_PASSTHROUGH_TYPES: Final = (int, float, Decimal, date, time, timedelta, UUID, Enum)
# Deeper nesting is almost certainly a cycle; stop instead of raising RecursionError mid-log.
_MAX_DEPTH: Final = 32

_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _last4(match: re.Match[str]) -> str:
    digits = re.sub(r"[^0-9]", "", match.group(0))
    return digits[-4:]


_BEARER_RE = re.compile(r"\b(bearer)\s+[^\s\"',;]+", re.IGNORECASE)
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Anchored at the start of a run of local-part characters, so a long run is scanned once
# rather than once per position (quadratic time on hostile input).
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# Key-value pairs in text such as query strings (?token=...) or JSON dumps ("password": "...").
_SECRET_PAIR_RE = re.compile(
    r"(?<![A-Za-z0-9_-])([A-Za-z0-9_-]{0,40}?(?:token|secret|password|passwd|api[_-]?key|jwt))"
    r"([\"']?\s*[=:]\s*[\"']?)([^\s&\"',;}]+)",
    re.IGNORECASE,
)
# Digits only as boundaries: a phone glued to letters ("mobile9876543210") is still masked.
_PHONE_RE = re.compile(r"(?<![0-9])(?:\+?91[ -]?|0)?[6-9](?:[ -]?[0-9]){9}(?![0-9])")
_AADHAAR_RE = re.compile(r"(?<![0-9])[0-9]{4}([ -]?)[0-9]{4}\1[0-9]{4}(?![0-9])")
_LONG_DIGITS_RE = re.compile(r"(?<![0-9])[0-9]{10,}(?![0-9])")
_GSTIN_RE = re.compile(
    r"(?<![A-Za-z0-9])([0-9]{2})[A-Za-z]{5}[0-9]{4}([A-Za-z])([0-9A-Za-z]{3})(?![A-Za-z0-9])"
)
_PAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{5}[0-9]{4}([A-Za-z])(?![A-Za-z0-9])")
# The keyword may start a word or a camelCase hump (devOtp) but not sit inside a word
# (shipping, barcode); up to 20 non-digit characters may separate it from the code
# ("OTP for login is 123456").
_OTP_RE = re.compile(
    r"((?:(?<![A-Za-z])(?i:otp|code|pin|passcode)|(?<=[a-z])(?:Otp|OTP|Code|Pin|PIN))"
    r"(?![a-z])[^0-9\n]{0,20}?)(?<![0-9])[0-9]{6}(?![0-9])"
)

# Order matters: credentials and e-mails first (they may contain digits), then phones before
# the 12-digit Aadhaar rule (+919876543210 is a phone), then the catch-all digit runs.
_RULES: Final[tuple[_Rule, ...]] = (
    (_BEARER_RE, lambda m: f"{m.group(1)} {REDACTED}"),
    (_JWT_RE, lambda m: REDACTED_JWT),
    (_SECRET_PAIR_RE, lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}"),
    (_EMAIL_RE, lambda m: "***@***"),
    (_PHONE_RE, lambda m: f"+91******{_last4(m)}"),
    (_AADHAAR_RE, lambda m: f"XXXX-XXXX-{_last4(m)}"),
    (_LONG_DIGITS_RE, lambda m: f"******{_last4(m)}"),
    (_GSTIN_RE, lambda m: f"{m.group(1)}*********{m.group(2)}{m.group(3)}"),
    (_PAN_RE, lambda m: f"*********{m.group(1)}"),
    (_OTP_RE, lambda m: f"{m.group(1)}******"),
)


def mask_text(text: str) -> str:
    """Return *text* with personal data and secrets replaced by their masked forms."""
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    return text


def is_sensitive_key(key: str) -> bool:
    """True if values under *key* must be redacted whatever they contain (case-insensitive)."""
    lowered = key.lower()
    if lowered.replace("_", "").replace("-", "") in _COMPACT_SENSITIVE_KEYS:
        return True
    return lowered.endswith(_SENSITIVE_SUFFIXES) or key.endswith(_SENSITIVE_CAMEL_SUFFIXES)


def mask_value(value: object) -> object:
    """Mask *value* recursively.

    Mappings: values under sensitive keys become ``"[REDACTED]"``, string keys are masked like
    text. Lists, tuples and sets keep their shape (sets become lists, which JSON can render).
    Strings go through ``mask_text``; bytes become ``"[BYTES]"``; numbers, None, dates, UUIDs
    and enums pass unchanged. Any other object is rendered with ``str()`` and masked, because
    its text is what a log renderer would print.
    """
    return _mask(value, 0)


def mask_pii_processor(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Structlog processor: mask every key of the event dict, including ``event`` itself.

    A still-unrendered ``exc_info`` is rendered here first, so a traceback can never reach the
    renderer without passing through ``mask_text``.
    """
    if event_dict.get("exc_info"):
        event_dict = format_exc_info(logger, method_name, event_dict)
    masked: EventDict = {}
    for key, value in event_dict.items():
        if key in _PROCESSOR_META_KEYS:
            masked[key] = value
        elif is_sensitive_key(key):
            masked[key] = REDACTED
        else:
            masked[key] = _mask(value, 0)
    return masked


def _mask(value: object, depth: int) -> object:
    if depth > _MAX_DEPTH:
        return TOO_DEEP_PLACEHOLDER
    if isinstance(value, str):
        return mask_text(value)
    if value is None or isinstance(value, _PASSTHROUGH_TYPES):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return BYTES_PLACEHOLDER
    if isinstance(value, Mapping):
        return _mask_mapping(value, depth)
    if isinstance(value, tuple):
        return tuple(_mask(item, depth + 1) for item in value)
    if isinstance(value, list | set | frozenset):
        return [_mask(item, depth + 1) for item in value]
    return mask_text(str(value))


def _mask_mapping(mapping: Mapping[Any, Any], depth: int) -> dict[Any, object]:
    masked: dict[Any, object] = {}
    for key, item in mapping.items():
        if isinstance(key, str):
            masked[mask_text(key)] = REDACTED if is_sensitive_key(key) else _mask(item, depth + 1)
        else:
            masked[key] = _mask(item, depth + 1)
    return masked
