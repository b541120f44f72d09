"""Identity document numbers: normalisation, validation, masking and the duplicate-detection hash.

Each function is pure. Error messages describe the expected shape and never echo the input, so a
validation error (returned to the client and possibly logged) cannot carry the number itself.

Validation is deliberately stricter than a bare format check where India publishes a check
character: an Aadhaar number carries a Verhoeff check digit and never starts with 0 or 1, and a
GSTIN ends with a base-36 check character. Catching a mistyped digit at upload saves a KYC admin a
rejection round trip, and a number that cannot exist is not worth encrypting.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum
from typing import Final


class KycDocumentType(StrEnum):
    AADHAAR = "AADHAAR"
    PAN = "PAN"
    GSTIN = "GSTIN"
    LICENSE = "LICENSE"


# The short name inside this package and for importers; the class keeps the qualified name so the
# published OpenAPI schema does not collide with the fleet's truck DocumentType.
DocumentType = KycDocumentType


class InvalidDocumentNumber(ValueError):
    """The number does not have the shape (or check character) of its document type."""


# Separators people type when copying a number off a card: spaces (incl. non-breaking), dashes,
# slashes and dots. They carry no meaning in any of the four formats.
_SEPARATORS: Final = re.compile(r"[\s\-./\u00a0]+")
_AADHAAR_RE: Final = re.compile(r"[2-9][0-9]{11}")
_PAN_RE: Final = re.compile(r"[A-Z]{5}[0-9]{4}[A-Z]")
_GSTIN_RE: Final = re.compile(r"[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z]Z[0-9A-Z]")
# State code, two-digit RTO, year of issue (19xx/20xx) and a seven-digit serial (Sarathi format).
_LICENSE_RE: Final = re.compile(r"[A-Z]{2}[0-9]{2}(?:19|20)[0-9]{2}[0-9]{7}")
MAX_INPUT_LENGTH: Final = 40

_EXPECTED: Final = {
    DocumentType.AADHAAR: "must be a 12-digit Aadhaar number",
    DocumentType.PAN: "must be a PAN: 5 letters, 4 digits, 1 letter",
    DocumentType.GSTIN: "must be a 15-character GSTIN",
    DocumentType.LICENSE: "must be a driving licence number: state, RTO, year and 7 digits",
}

# Verhoeff (dihedral group D5) tables: multiplication, permutation, inverse.
_VERHOEFF_D: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INV: Final = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)
_BASE36: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _verhoeff_state(digits: str, *, offset: int) -> int:
    state = 0
    for position, digit in enumerate(reversed(digits)):
        state = _VERHOEFF_D[state][_VERHOEFF_P[(position + offset) % 8][int(digit)]]
    return state


def verhoeff_is_valid(digits: str) -> bool:
    """True when the last digit is the Verhoeff check digit of the others."""
    return digits.isdigit() and _verhoeff_state(digits, offset=0) == 0


def verhoeff_check_digit(digits: str) -> str:
    """The digit to append to `digits` so that the result passes `verhoeff_is_valid`."""
    return str(_VERHOEFF_INV[_verhoeff_state(digits, offset=1)])


def gstin_check_character(first14: str) -> str:
    """The 15th character of a GSTIN: weights 1,2,1,2,... over base-36 values, each product
    folded (quotient + remainder by 36), the check character completes the sum to 0 mod 36."""
    total = 0
    for position, char in enumerate(first14):
        product = _BASE36.index(char) * (1 if position % 2 == 0 else 2)
        total += product // 36 + product % 36
    return _BASE36[(36 - total % 36) % 36]


def normalise(document_type: DocumentType, raw: str) -> str:
    """The canonical form of a number: upper case, separators removed, validated for its type.

    Raises `InvalidDocumentNumber` with a message that names the expected shape only."""
    if len(raw) > MAX_INPUT_LENGTH:
        raise InvalidDocumentNumber(_EXPECTED[document_type])
    number = _SEPARATORS.sub("", raw).upper()
    if not _PATTERNS[document_type].fullmatch(number):
        raise InvalidDocumentNumber(_EXPECTED[document_type])
    if document_type is DocumentType.AADHAAR and not verhoeff_is_valid(number):
        raise InvalidDocumentNumber("is not a valid Aadhaar number (check digit)")
    if document_type is DocumentType.GSTIN and gstin_check_character(number[:14]) != number[14]:
        raise InvalidDocumentNumber("is not a valid GSTIN (check character)")
    return number


def mask(document_type: DocumentType, number: str) -> str:
    """The form stored and shown in clear (PRODUCT §4) for a normalised number:

    - Aadhaar ``XXXX-XXXX-1234`` (last four digits, as UIDAI's masked Aadhaar)
    - PAN ``ABCDE****F`` (the digits hidden)
    - GSTIN ``27ABCDE****F1Z5`` (its embedded PAN masked the same way)
    - licence ``MH12*******4567`` (state and RTO, last four digits)
    """
    if document_type is DocumentType.AADHAAR:
        return f"XXXX-XXXX-{number[-4:]}"
    if document_type is DocumentType.PAN:
        return _mask_pan(number)
    if document_type is DocumentType.GSTIN:
        return number[:2] + _mask_pan(number[2:12]) + number[12:]
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def _mask_pan(pan: str) -> str:
    return pan[:5] + "****" + pan[9:]


NUMBER_HASH_CONTEXT: Final = b"rodistaa-kyc-number-v1"


def number_hash(key: bytes, document_type: DocumentType, number: str) -> str:
    """HMAC-SHA-256 of the normalised number under the server's keyed-hash secret.

    A plain SHA-256 would not protect the number: there are only 10^11 Aadhaar numbers, which
    a single GPU hashes in seconds, so a leaked table would be as good as a list of numbers.
    Keyed, the hash still finds the same document on two accounts but is useless without the
    key, which never sits next to the data. The document type is bound in so the same digits
    in two different document types never compare equal."""
    message = NUMBER_HASH_CONTEXT + b"\n" + document_type.value.encode() + b"\n" + number.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


_PATTERNS: Final = {
    DocumentType.AADHAAR: _AADHAAR_RE,
    DocumentType.PAN: _PAN_RE,
    DocumentType.GSTIN: _GSTIN_RE,
    DocumentType.LICENSE: _LICENSE_RE,
}
