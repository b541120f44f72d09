"""Prefixed ULID identifiers (PRODUCT.md §2).

Every entity id is ``<PREFIX>-<ULID>``: the prefix tells a human (and a support agent reading a
log line) what kind of thing the id names, and the ULID sorts by creation time, which keeps
B-tree inserts append-mostly. Booking ids (``RID-YYYYMMDD-NNNN``) come from a database counter,
not from here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from ulid import ULID

USER_ROLE_CODES: Mapping[str, str] = MappingProxyType(
    {
        "SHIPPER": "SH",
        "OPERATOR": "OP",
        "DRIVER": "DR",
        "ADMIN": "AD",
        "FRANCHISE_UNIT": "FU",
        "FRANCHISE_DISTRICT": "FD",
        "KYC_ADMIN": "KA",
    }
)

# Crockford base32 without I, L, O, U; a leading digit above 7 would overflow 128 bits.
_ULID_PATTERN = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
_ULID_RE = re.compile(_ULID_PATTERN)
# Upper-case segments joined by single dashes, so a prefix can never smuggle in a second ULID
# or an empty segment.
_PREFIX_RE = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")
# Same rule as PRODUCT.md §2; the id embeds the registration, so it must already be normalised.
_REGISTRATION_RE = re.compile(r"[A-Z]{2}[0-9]{1,2}[A-Z]{1,3}[0-9]{4}")


def new_id(prefix: str) -> str:
    """Return ``f"{prefix}-{ULID}"``.

    Raises ``ValueError`` if *prefix* is not upper-case alphanumeric segments joined by dashes.
    """
    _require_prefix(prefix)
    return f"{prefix}-{ULID()}"


def new_user_id(role: str) -> str:
    """Return ``USR-<role code>-<ULID>``; ``ValueError`` for a role not in ``USER_ROLE_CODES``."""
    code = USER_ROLE_CODES.get(role)
    if code is None:
        raise ValueError(f"unknown user role: {role!r}")
    return new_id(f"USR-{code}")


def new_truck_id(registration: str) -> str:
    """Return ``TRK-<REGNO>-<ULID>`` for an already normalised registration number.

    Raises ``ValueError`` if *registration* is not in normalised form (upper case, no spaces
    or dashes, ``^[A-Z]{2}[0-9]{1,2}[A-Z]{1,3}[0-9]{4}$``).
    """
    if not isinstance(registration, str) or not _REGISTRATION_RE.fullmatch(registration):
        raise ValueError("truck registration must be normalised before building an id")
    return new_id(f"TRK-{registration}")


def is_prefixed_ulid(value: str, prefix: str) -> bool:
    """True only for exactly ``prefix + "-" + <26-char upper-case Crockford ULID>``."""
    if not isinstance(value, str) or not isinstance(prefix, str):
        return False
    head = f"{prefix}-"
    if not value.startswith(head):
        return False
    return _ULID_RE.fullmatch(value[len(head) :]) is not None


def _require_prefix(prefix: str) -> None:
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"invalid id prefix: {prefix!r}")
