from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rodistaa.core.phone import (
    InvalidPhoneNumber,
    is_normalized_indian_mobile,
    mask_phone,
    normalize_indian_mobile,
)

NATIONAL_NUMBERS = st.from_regex(r"[6-9][0-9]{9}", fullmatch=True)


@pytest.mark.parametrize(
    "raw",
    [
        "9876543210",
        "+919876543210",
        "+91 98765 43210",
        "+91-98765-43210",
        "919876543210",
        "09876543210",
        "  9876543210  ",  # surrounding whitespace from copy-paste
        "+91 9876543210",
        "98765 43210",
        "98765-43210",
        "+91 987 654 3210",
    ],
)
def test_normalize_accepts(raw: str) -> None:
    assert normalize_indian_mobile(raw) == "+919876543210"


@pytest.mark.parametrize("first_digit", "6789")
def test_normalize_accepts_every_mobile_series(first_digit: str) -> None:
    number = first_digit + "123456789"
    assert normalize_indian_mobile(number) == f"+91{number}"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "5876543210",  # landline / unassigned series
        "0123456789",
        "1876543210",
        "987654321",  # 9 digits
        "98765432101",  # 11 digits, not a 0 prefix
        "9198765432101",  # 13 digits
        "+9198765432",  # too short after +91
        "+9109876543210",  # +91 and a trunk 0
        "0091 98765 43210",  # international dialling prefix
        "+1 98765 43210",  # other country code
        "+44 7911 123456",
        "+92 9876543210",
        "9876S43210",  # letter
        "98765 43210 ext 1",
        "tel:9876543210",
        "+91  98765 43210",  # double separator
        "+91 98765 43210-",
        "-9876543210",
        "+ 919876543210",
        "(+91) 9876543210",
        "+91.98765.43210",
        "98765\t43210",
        "９８７６５４３２１０",  # full-width digits
        "९८७६५४३२१०",  # Devanagari digits
        "+",
        "+91",
        "9" * 40,
    ],
)
def test_normalize_rejects(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as excinfo:
        normalize_indian_mobile(raw)
    message = str(excinfo.value)
    assert message
    compact = re.sub(r"[^0-9]", "", raw)
    if len(compact) >= 5:
        assert compact not in re.sub(r"[^0-9]", "", message)
    if len(raw.strip()) >= 5:
        assert raw.strip() not in message


@pytest.mark.parametrize("raw", [None, 9876543210, b"9876543210", ["9876543210"]])
def test_normalize_rejects_non_strings(raw: object) -> None:
    with pytest.raises(InvalidPhoneNumber, match="string"):
        normalize_indian_mobile(raw)  # type: ignore[arg-type]


def test_invalid_phone_number_is_a_value_error() -> None:
    # Pydantic turns ValueError raised in validators into a 400 with the field named.
    assert issubclass(InvalidPhoneNumber, ValueError)


@given(
    national=NATIONAL_NUMBERS,
    prefix=st.sampled_from(["", "+91", "+91 ", "+91-", "91", "0"]),
    separator=st.sampled_from(["", " ", "-"]),
)
def test_normalize_any_accepted_shape(national: str, prefix: str, separator: str) -> None:
    raw = f"{prefix}{national[:5]}{separator}{national[5:]}"
    normalised = normalize_indian_mobile(raw)
    assert normalised == f"+91{national}"
    assert is_normalized_indian_mobile(normalised)
    assert normalize_indian_mobile(normalised) == normalised


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+919876543210", "+91******3210"),
        ("+916000000001", "+91******0001"),
        ("9876543210", "******10"),  # not normalised: masked harder
        ("+911234567890", "******90"),  # not a mobile series
        ("+44791112345678", "******78"),
        ("12345", "******"),  # too short to show anything
        ("", "******"),
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize("value", [None, 9876543210, b"+919876543210"])
def test_mask_phone_non_strings(value: object) -> None:
    assert mask_phone(value) == "******"  # type: ignore[arg-type]


@given(NATIONAL_NUMBERS)
def test_mask_phone_keeps_only_the_last_four_digits(national: str) -> None:
    masked = mask_phone(f"+91{national}")
    assert masked == f"+91******{national[-4:]}"
    assert national[:6] not in masked


@given(st.text(max_size=40))
def test_mask_phone_never_reveals_more_than_four_characters(value: str) -> None:
    masked = mask_phone(value)
    revealed = masked.replace("******", "", 1).removeprefix("+91")
    assert len(revealed) <= 4
    assert value.endswith(revealed)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("+919876543210", True), ("9876543210", False), ("+91 9876543210", False), ("", False)],
)
def test_is_normalized_indian_mobile(value: str, expected: bool) -> None:
    assert is_normalized_indian_mobile(value) is expected
