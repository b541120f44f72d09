"""Indian mobile numbers: one normalised form (``+91XXXXXXXXXX``) and one masked form.

Error messages never repeat the input: validation errors end up in responses and logs, and a
phone number is personal data.
"""

from __future__ import annotations

import re

COUNTRY_CODE = "+91"
_MASK = "******"
# Digit groups separated by single spaces or dashes, with an optional leading "+".
# Separators are mandatory inside the repeated group, so matching stays linear.
_SHAPE_RE = re.compile(r"\+?[0-9]+(?:[ -][0-9]+)*")
# Indian mobile numbers start with 6, 7, 8 or 9 (National Numbering Plan).
_NATIONAL_RE = re.compile(r"[6-9][0-9]{9}")
_E164_RE = re.compile(r"\+91[6-9][0-9]{9}")
# Generous upper bound: "+91 98765 43210" with a separator between every digit is 26 chars.
_MAX_INPUT_LEN = 32


class InvalidPhoneNumber(ValueError):
    """The input is not an Indian mobile number; the message never contains the input."""


def normalize_indian_mobile(raw: str) -> str:
    """Return ``+91`` followed by the 10-digit mobile number.

    Accepts the bare number, ``+91``/``91``/``0`` prefixes, and single spaces or dashes between
    digit groups (``+91 98765 43210``, ``+91-98765-43210``). Raises ``InvalidPhoneNumber`` for
    anything else, including other country codes and numbers not starting with 6-9.
    """
    compact = _compact(raw)
    national = _national_part(compact)
    if not _NATIONAL_RE.fullmatch(national):
        raise InvalidPhoneNumber("mobile number must be an Indian mobile number: 10 digits starting with 6-9")
    return COUNTRY_CODE + national


def mask_phone(e164: str) -> str:
    """Mask for display to other parties: ``+919876543210`` -> ``+91******3210``.

    Anything that is not a normalised number is masked harder (``******`` plus at most its
    last 2 characters, and only when it is long enough that 2 characters reveal little).
    """
    if not isinstance(e164, str):
        return _MASK
    if _E164_RE.fullmatch(e164):
        return f"{COUNTRY_CODE}{_MASK}{e164[-4:]}"
    if len(e164) >= 10:
        return _MASK + e164[-2:]
    return _MASK


def is_normalized_indian_mobile(value: str) -> bool:
    """True for exactly ``+91`` plus a 10-digit number starting with 6-9."""
    return isinstance(value, str) and _E164_RE.fullmatch(value) is not None


def _compact(raw: object) -> str:
    """Strip separators after checking the overall shape; digits and an optional "+" remain."""
    if not isinstance(raw, str):
        raise InvalidPhoneNumber("mobile number must be a string")
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber("mobile number is required")
    if len(text) > _MAX_INPUT_LEN or not _SHAPE_RE.fullmatch(text):
        raise InvalidPhoneNumber("mobile number may contain only digits, a leading +, spaces and dashes")
    return text.replace(" ", "").replace("-", "")


def _national_part(compact: str) -> str:
    if compact.startswith("+"):
        if not compact.startswith(COUNTRY_CODE):
            raise InvalidPhoneNumber("only Indian (+91) mobile numbers are accepted")
        return compact[len(COUNTRY_CODE) :]
    if len(compact) == 12 and compact.startswith("91"):
        return compact[2:]
    if len(compact) == 11 and compact.startswith("0"):
        return compact[1:]
    return compact
