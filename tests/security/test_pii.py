from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rodistaa.security.pii import (
    SENSITIVE_KEYS,
    is_sensitive_key,
    mask_pii_processor,
    mask_text,
    mask_value,
)

NATIONAL_NUMBERS = st.from_regex(r"[6-9][0-9]{9}", fullmatch=True)
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJVU1ItU0gtMDFBUlozTkRFS1RTVjRSUkZGUTY5RzVGQVYifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # phones, every accepted shape reported as +91******XXXX
        ("call +919876543210 now", "call +91******3210 now"),
        ("+91 98765 43210", "+91******3210"),
        ("+91-98765-43210", "+91******3210"),
        ("919876543210", "+91******3210"),
        ("09876543210", "+91******3210"),
        ("mobile=9876543210;", "mobile=+91******3210;"),
        ("mobile9876543210", "mobile+91******3210"),
        ("98765 43210 and 70000 00001", "+91******3210 and +91******0001"),
        # e-mails
        ("mail ravi.kumar+loads@example.co.in now", "mail ***@*** now"),
        ("<A_B%1@sub.example.com>", "<***@***>"),
        # Aadhaar
        ("aadhaar 2345 6789 0123", "aadhaar XXXX-XXXX-0123"),
        ("aadhaar 2345-6789-0123.", "aadhaar XXXX-XXXX-0123."),
        ("aadhaar 234567890123", "aadhaar XXXX-XXXX-0123"),
        # PAN and GSTIN (the PAN inside a GSTIN)
        ("PAN ABCDE1234F.", "PAN *********F."),
        ("pan abcde1234f", "pan *********f"),
        ("GSTIN 22ABCDE1234F1Z5", "GSTIN 22*********F1Z5"),
        # other long digit runs
        ("account 001234567890123", "account ******0123"),
        # credentials
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [REDACTED]"),
        ("authorization: bearer opaque_token_value", "authorization: bearer [REDACTED]"),
        (f"token {JWT} leaked", "token [REDACTED_JWT] leaked"),
        ("GET /reset?token=abc123&next=/home", "GET /reset?token=[REDACTED]&next=/home"),
        ('{"password": "hunter2", "ok": 1}', '{"password": "[REDACTED]", "ok": 1}'),
        ("{'refresh_token': 'zz-top'}", "{'refresh_token': '[REDACTED]'}"),
        ("clientSecret=s3cr3t", "clientSecret=[REDACTED]"),
        # one-time codes
        ("otp=123456", "otp=******"),
        ("code: 123456", "code: ******"),
        ("OTP is 123456", "OTP is ******"),
        ("Your OTP for login is 482913.", "Your OTP for login is ******."),
        ("devOtp=654321", "devOtp=******"),
        ("otp_code=111222", "otp_code=******"),
        ("PIN 424242", "PIN ******"),
        ("passcode 987123", "passcode ******"),
        # left alone
        ("shipping 123456 kg", "shipping 123456 kg"),
        ("pincode 500001", "pincode 500001"),
        ("otp=1234567", "otp=1234567"),
        ("booked 123456 items", "booked 123456 items"),
        ("USR-SH-01ARZ3NDEKTSV4RRFFQ69G5FAV", "USR-SH-01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        ("TRK-MH12AB1234-01ARZ3NDEKTSV4RRFFQ69G5FAV", "TRK-MH12AB1234-01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        ("RID-20250101-0001", "RID-20250101-0001"),
        ("fee 175.00 for 10 t over 500 km", "fee 175.00 for 10 t over 500 km"),
        ("2025-01-01T10:00:00Z status 200", "2025-01-01T10:00:00Z status 200"),
        ("", ""),
    ],
)
def test_mask_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "masked",
    [
        "+91******3210",
        "***@***",
        "XXXX-XXXX-1234",
        "*********F",
        "22*********F1Z5",
        "******1234",
        "Bearer [REDACTED]",
        "[REDACTED_JWT]",
        "token=[REDACTED]",
        "otp=******",
    ],
)
def test_masked_forms_are_stable(masked: str) -> None:
    assert mask_text(masked) == masked


@given(
    before=st.text(max_size=30),
    after=st.text(max_size=30),
    national=NATIONAL_NUMBERS,
    prefix=st.sampled_from(["", "+91", "91", "0", "+91 ", "+91-"]),
)
def test_contiguous_mobile_never_survives(before: str, after: str, national: str, prefix: str) -> None:
    masked = mask_text(f"{before}{prefix}{national}{after}")
    assert national not in masked


@given(
    before=st.text(max_size=30).filter(lambda s: not s[-1:].isdigit()),
    after=st.text(max_size=30).filter(lambda s: not s[:1].isdigit()),
    national=NATIONAL_NUMBERS,
    prefix=st.sampled_from(["", "+91", "+91 ", "+91-", "0"]),
    separator=st.sampled_from([" ", "-"]),
)
def test_grouped_mobile_never_survives(
    before: str, after: str, national: str, prefix: str, separator: str
) -> None:
    grouped = f"{national[:5]}{separator}{national[5:]}"
    masked = mask_text(f"{before}{prefix}{grouped}{after}")
    assert grouped not in masked
    assert national not in masked


@given(
    before=st.text(max_size=20).filter(lambda s: not s[-1:].isdigit()),
    after=st.text(max_size=20).filter(lambda s: not s[:1].isdigit()),
    aadhaar=st.from_regex(r"[2-9][0-9]{11}", fullmatch=True),
    separator=st.sampled_from(["", " ", "-"]),
)
def test_aadhaar_keeps_at_most_the_last_four(before: str, after: str, aadhaar: str, separator: str) -> None:
    grouped = separator.join([aadhaar[:4], aadhaar[4:8], aadhaar[8:]])
    masked = mask_text(f"{before}{grouped}{after}")
    assert aadhaar[:8] not in masked
    assert f"{aadhaar[:4]}{separator}{aadhaar[4:8]}" not in masked


@given(st.text(max_size=200))
def test_mask_text_accepts_any_text(text: str) -> None:
    assert isinstance(mask_text(text), str)


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 200_000,
        "a" * 200_000 + "@",
        "a@" * 100_000,
        "1" * 200_000,
        "9 " * 100_000,
        "otp " * 50_000,
        "x" * 50 + "token" * 40_000,
        "a." * 100_000 + "@",
    ],
)
def test_mask_text_is_linear_on_hostile_input(hostile: str) -> None:
    started = time.perf_counter()
    mask_text(hostile)
    assert time.perf_counter() - started < 2.0


# --- keys -------------------------------------------------------------------------------------


def test_sensitive_keys_cover_the_agreed_names() -> None:
    agreed = {
        "otp",
        "code",
        "otp_code",
        "token",
        "access_token",
        "refresh_token",
        "refreshtoken",
        "authorization",
        "cookie",
        "set-cookie",
        "password",
        "secret",
        "api_key",
        "x-api-key",
        "jwt",
        "devotp",
    }
    assert agreed <= SENSITIVE_KEYS
    assert all(key == key.lower() for key in SENSITIVE_KEYS)


@pytest.mark.parametrize(
    "key",
    [
        "otp",
        "OTP",
        "Code",
        "Authorization",
        "Set-Cookie",
        "set_cookie",
        "X-API-KEY",
        "x_api_key",
        "refreshToken",
        "accessToken",
        "devOtp",
        "dev_otp",
        "csrf_token",
        "CSRF-TOKEN",
        "client_secret",
        "webhookSecret",
        "password",
    ],
)
def test_sensitive_key(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key", ["event", "mobile", "user_id", "token_type", "tokens_issued", "error_code", "secretary"]
)
def test_not_sensitive_key(key: str) -> None:
    assert not is_sensitive_key(key)


# --- values ---------------------------------------------------------------------------------


class Colour(Enum):
    RED = 1


@dataclass
class Profile:
    mobile: str
    email: str


def test_mask_value_recurses_and_redacts_by_key() -> None:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    ident = UUID(int=7)
    value: dict[Any, Any] = {
        "mobile": "+919876543210",
        "OTP": "not even digits",
        "nested": {
            "refreshToken": "rt-opaque",
            "items": ["ravi@example.com", ("ABCDE1234F", b"raw-bytes"), {"9876543210"}],
            "Set-Cookie": ["a=b"],
        },
        "count": 3,
        "ratio": 0.5,
        "amount": Decimal("1.50"),
        "flag": True,
        "missing": None,
        "when": when,
        "id": ident,
        "colour": Colour.RED,
        7: "call 9876543210",
        "+919876543210": "phone as a key",
    }
    assert mask_value(value) == {
        "mobile": "+91******3210",
        "OTP": "[REDACTED]",
        "nested": {
            "refreshToken": "[REDACTED]",
            "items": ["***@***", ("*********F", "[BYTES]"), ["+91******3210"]],
            "Set-Cookie": "[REDACTED]",
        },
        "count": 3,
        "ratio": 0.5,
        "amount": Decimal("1.50"),
        "flag": True,
        "missing": None,
        "when": when,
        "id": ident,
        "colour": Colour.RED,
        7: "call +91******3210",
        "+91******3210": "phone as a key",
    }


def test_mask_value_stringifies_and_masks_unknown_objects() -> None:
    assert mask_value(Profile("+919876543210", "a@b.in")) == (
        "Profile(mobile='+91******3210', email='***@***')"
    )
    assert mask_value(RuntimeError("failed for 9876543210")) == "failed for +91******3210"


@pytest.mark.parametrize("value", [b"abc", bytearray(b"abc"), memoryview(b"abc")])
def test_mask_value_hides_bytes(value: object) -> None:
    assert mask_value(value) == "[BYTES]"


def test_mask_value_survives_cycles() -> None:
    cyclic: list[object] = ["9876543210"]
    cyclic.append(cyclic)
    masked = mask_value(cyclic)
    assert isinstance(masked, list)
    assert masked[0] == "+91******3210"
    assert "9876543210" not in repr(masked)


# --- processor --------------------------------------------------------------------------------


def test_processor_masks_every_key_including_the_event() -> None:
    record = object()
    event_dict: dict[str, Any] = {
        "event": "login for +919876543210",
        "otp": "123456",
        "authorization": f"Bearer {JWT}",
        "payload": {"refreshToken": "rt", "email": "ravi@example.com"},
        "level": "info",
        "_record": record,
        "_from_structlog": True,
    }
    masked = mask_pii_processor(None, "info", event_dict)
    assert masked["event"] == "login for +91******3210"
    assert masked["otp"] == "[REDACTED]"
    assert masked["authorization"] == "[REDACTED]"
    assert masked["payload"] == {"refreshToken": "[REDACTED]", "email": "***@***"}
    assert masked["level"] == "info"
    # ProcessorFormatter's own bookkeeping passes through untouched.
    assert masked["_record"] is record
    assert masked["_from_structlog"] is True


def test_processor_masks_rendered_exception_text() -> None:
    event_dict = {"event": "boom", "exception": "Traceback ...\nValueError: for 9876543210"}
    masked = mask_pii_processor(None, "error", event_dict)
    assert masked["exception"] == "Traceback ...\nValueError: for +91******3210"


def test_processor_renders_and_masks_a_pending_exc_info() -> None:
    try:
        raise ValueError("no account for ravi@example.com / 9876543210")
    except ValueError:
        event_dict: dict[str, Any] = {"event": "boom", "exc_info": sys.exc_info()}
    masked = mask_pii_processor(None, "error", event_dict)
    assert "exc_info" not in masked
    assert "ValueError: no account for ***@*** / +91******3210" in masked["exception"]
    assert "9876543210" not in masked["exception"]
    assert "ravi@example.com" not in masked["exception"]
