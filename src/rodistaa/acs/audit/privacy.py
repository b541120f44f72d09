"""The audit log keeps ids, hashes and numbers, never raw personal data (ACS.md §5).

An entry is permanent: personal data written into it could never be erased. So `data` is
refused (ValueError) when any key or string value is something `mask_text` would mask (a
phone number, e-mail, Aadhaar, PAN, long digit run, token, OTP), and when an integer has the
shape of a mobile or Aadhaar number. The error names the path, never the value, so the refusal
itself cannot leak what it refused.

Two shapes skip the text rules, because they are not personal data and random digits inside
them would trip the 10-digit rule by chance (about one SHA-256 hex digest in five has a run
of ten decimal digits): hex digests (32-128 hex characters with at least one letter), and
prefixed ULID ids (`PREFIX-<ULID>`), whose prefix is still checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from rodistaa.security.pii import mask_text

_HEX_DIGEST_RE: Final = re.compile(r"(?=[0-9a-f]*[a-f])[0-9a-f]{32,128}")
_PREFIXED_ULID_RE: Final = re.compile(r"(?P<prefix>[A-Z0-9]+(?:-[A-Z0-9]+)*)-[0-7][0-9A-HJKMNP-TV-Z]{25}")
_MAX_DEPTH: Final = 16
_AMOUNT_SUFFIXES: Final = ("Paise", "_paise")


def ensure_no_personal_data(data: Mapping[str, object]) -> None:
    """Raise ValueError naming the first offending path (e.g. ``data.payer.contact``).

    Only JSON types are accepted (str, int, float, bool, None, lists and string-keyed maps).
    """
    _check(data, "data", 0)


def _check(value: object, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError(f"{path}: nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | float):
        return
    if isinstance(value, int):
        _check_int(value, path)
    elif isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: keys must be strings")
            _check_text(key, f"{path} (key)")
            _check(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth + 1)
    else:
        raise ValueError(f"{path}: {type(value).__name__} is not a JSON value")


def _check_int(value: int, path: str) -> None:
    if path.rsplit(".", 1)[-1].endswith(_AMOUNT_SUFFIXES):
        return  # a money amount named as such (a ₹6-crore balance is 10 digits starting with 6)
    digits = str(abs(value))
    # Amounts, counts and epoch seconds stay allowed; a 10-digit number starting 6-9 is an
    # Indian mobile, a 12-digit one (91 + mobile, or Aadhaar) is refused as well.
    if (len(digits) == 10 and digits[0] in "6789") or len(digits) == 12:
        raise ValueError(f"{path}: looks like a phone or Aadhaar number; store an id or a hash")


def _check_text(text: str, path: str) -> None:
    if _HEX_DIGEST_RE.fullmatch(text):
        return
    ulid_id = _PREFIXED_ULID_RE.fullmatch(text)
    checked = ulid_id["prefix"] if ulid_id else text
    if mask_text(checked) != checked:
        raise ValueError(f"{path}: contains personal data or a secret; store an id or a hash")
