from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from ulid import ULID

from rodistaa.core.ids import (
    USER_ROLE_CODES,
    is_prefixed_ulid,
    new_id,
    new_truck_id,
    new_user_id,
)

ULID_RE = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
VALID_ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def test_role_codes_match_the_product_spec() -> None:
    assert dict(USER_ROLE_CODES) == {
        "SHIPPER": "SH",
        "OPERATOR": "OP",
        "DRIVER": "DR",
        "ADMIN": "AD",
        "FRANCHISE_UNIT": "FU",
        "FRANCHISE_DISTRICT": "FD",
        "KYC_ADMIN": "KA",
    }


def test_role_codes_are_read_only() -> None:
    with pytest.raises(TypeError):
        USER_ROLE_CODES["HACKER"] = "HK"  # type: ignore[index]


@pytest.mark.parametrize("prefix", ["BK", "SH", "POD", "KYC", "BLK", "OVR", "LDG", "AUD", "TKT"])
def test_new_id_is_prefix_dash_ulid(prefix: str) -> None:
    value = new_id(prefix)
    assert re.fullmatch(rf"{prefix}-{ULID_RE}", value)
    assert is_prefixed_ulid(value, prefix)


def test_new_id_embeds_a_current_ulid() -> None:
    value = new_id("BK")
    created = ULID.from_str(value.removeprefix("BK-")).datetime
    assert abs(created - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize("prefix", ["", "bk", "BK-", "-BK", "B K", "BK--X", "BK_1", "ÄB"])
def test_new_id_rejects_malformed_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_id(prefix)


@pytest.mark.parametrize(("role", "code"), sorted(USER_ROLE_CODES.items()))
def test_new_user_id_uses_the_role_code(role: str, code: str) -> None:
    value = new_user_id(role)
    assert re.fullmatch(rf"USR-{code}-{ULID_RE}", value)
    assert is_prefixed_ulid(value, f"USR-{code}")
    assert not is_prefixed_ulid(value, "USR")


@pytest.mark.parametrize("role", ["", "shipper", "ROOT", "SH", "USR"])
def test_new_user_id_rejects_unknown_roles(role: str) -> None:
    with pytest.raises(ValueError, match="unknown user role"):
        new_user_id(role)


def test_new_truck_id_embeds_the_registration() -> None:
    value = new_truck_id("MH12AB1234")
    assert re.fullmatch(rf"TRK-MH12AB1234-{ULID_RE}", value)
    assert is_prefixed_ulid(value, "TRK-MH12AB1234")


@pytest.mark.parametrize("registration", ["mh12ab1234", "MH 12 AB 1234", "MH-12-AB-1234", "", "X"])
def test_new_truck_id_requires_a_normalised_registration(registration: str) -> None:
    with pytest.raises(ValueError, match="normalised"):
        new_truck_id(registration)


def test_ids_are_unique_over_ten_thousand() -> None:
    values = [new_id("BK") for _ in range(10_000)]
    assert len(set(values)) == 10_000


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        (f"BK-{VALID_ULID}", "SH"),  # wrong prefix
        (f"BKX-{VALID_ULID}", "BK"),  # prefix is not a whole segment
        (f"BK{VALID_ULID}", "BK"),  # no dash
        (f"BK-{VALID_ULID.lower()}", "BK"),  # must be upper case
        (f"BK-{VALID_ULID[:-1]}", "BK"),  # 25 chars
        (f"BK-{VALID_ULID}A", "BK"),  # 27 chars
        (f"BK-{VALID_ULID[:-1]}I", "BK"),  # I is not Crockford base32
        (f"BK-{VALID_ULID[:-1]}U", "BK"),  # U is not Crockford base32
        (f"BK-8{VALID_ULID[1:]}", "BK"),  # overflows 128 bits
        (f"BK-{VALID_ULID}\n", "BK"),  # trailing newline
        (f" BK-{VALID_ULID}", "BK"),
        ("BK-", "BK"),
        ("", "BK"),
    ],
)
def test_is_prefixed_ulid_rejects(value: str, prefix: str) -> None:
    assert not is_prefixed_ulid(value, prefix)


def test_is_prefixed_ulid_accepts_a_known_ulid() -> None:
    assert is_prefixed_ulid(f"BK-{VALID_ULID}", "BK")
    assert is_prefixed_ulid(f"USR-SH-{VALID_ULID}", "USR-SH")


def test_is_prefixed_ulid_is_false_for_non_strings() -> None:
    assert not is_prefixed_ulid(None, "BK")  # type: ignore[arg-type]
    assert not is_prefixed_ulid(b"BK-" + VALID_ULID.encode(), "BK")  # type: ignore[arg-type]
