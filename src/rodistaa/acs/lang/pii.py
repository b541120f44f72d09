"""Detection of contact details and identity numbers in free text (``textContainsPII``).

Recognised: Indian mobile numbers (optionally prefixed by ``+91``, ``0091``, ``91`` or ``0``, with
digits separated by spaces, dashes or dots -- ``9 8 7 6 5 4 3 2 1 0`` -- and written with any
Unicode decimal digits), e-mail addresses (also ``name (at) host (dot) com``), Aadhaar numbers
(12 digits, optionally grouped 4-4-4 by spaces or dashes) and PAN numbers (``ABCDE1234F``, any
case, since lower-casing is an obvious evasion).
"""

from __future__ import annotations

import re
import unicodedata

_SEP = r"[\s.\-]{0,3}"
_MOBILE = re.compile(
    r"(?<![0-9])"  # not the tail of a longer digit run
    r"(?:\(?(?:\+|00)?91\)?" + _SEP + r"|0" + _SEP + r")?"
    r"[6-9](?:" + _SEP + r"[0-9]){9}(?![0-9])"
)
_AADHAAR = re.compile(r"(?<![0-9])[0-9]{4}[ \-]?[0-9]{4}[ \-]?[0-9]{4}(?![0-9])")
# Bounded repetitions keep the search linear on long inputs (no catastrophic backtracking).
_DOT = r"\s{0,3}(?:\.|\(dot\)|\[dot\])\s{0,3}"
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]{1,64}\s{0,3}(?:@|\(at\)|\[at\])\s{0,3}"
    r"[A-Za-z0-9\-]{1,63}(?:" + _DOT + r"[A-Za-z0-9\-]{1,63}){0,8}" + _DOT + r"[A-Za-z]{2,24}\b",
    re.IGNORECASE,
)
_PAN = re.compile(r"\b[A-Z]{5}[0-9]{4}[A-Z]\b", re.IGNORECASE)


def _ascii_digits(text: str) -> str:
    """Map every Unicode decimal digit (Devanagari, full-width, ...) to its ASCII digit."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def text_contains_pii(text: object) -> bool:
    """True when ``text`` is a string containing any recognised PII pattern."""
    if not isinstance(text, str) or not text:
        return False
    normalised = _ascii_digits(text)
    # Cheap prefilters skip the regex scans for ordinary text (few digits, no '@').
    digits = len(normalised) - len(normalised.translate(_DELETE_DIGITS))
    if digits >= 10 and (_MOBILE.search(normalised) or _AADHAAR.search(normalised)):
        return True
    if digits >= 4 and _PAN.search(normalised):
        return True
    return _may_hold_email(normalised) and _EMAIL.search(normalised) is not None


_DELETE_DIGITS = str.maketrans("", "", "0123456789")


def _may_hold_email(text: str) -> bool:
    if "@" in text:
        return True
    lowered = text.lower()
    return "(at)" in lowered or "[at]" in lowered
