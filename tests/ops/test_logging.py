from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
import structlog

from rodistaa.ops.logging import configure_logging, get_logger

PHONE = "+919876543210"
NATIONAL = "9876543210"
EMAIL = "ravi.kumar@example.com"
AADHAAR = "2345 6789 0123"
PAN = "ABCDE1234F"
OTP = "482913"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJVU1ItU0gtMSJ9.c2lnbmF0dXJlLXZhbHVl"
REFRESH_TOKEN = "rt_8f3c2a9d7e6b5a4c"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    structlog.contextvars.clear_contextvars()
    configure_logging("DEBUG", stream=buffer)
    yield buffer
    structlog.contextvars.clear_contextvars()
    # Leave the process as an application would have it, writing to stdout.
    configure_logging()


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in buffer.getvalue().splitlines() if line]


def test_nothing_personal_escapes_from_any_logger(stream: io.StringIO) -> None:
    log = get_logger("rodistaa.test")
    log.info(
        f"login for {PHONE}",
        email=EMAIL,
        aadhaar=AADHAAR,
        note=f"PAN {PAN} on file",
        otp=OTP,
        authorization=f"Bearer {JWT}",
        body={"user": {"refreshToken": REFRESH_TOKEN, "contacts": [NATIONAL]}},
    )
    logging.getLogger("uvicorn.error").warning("login for %s", PHONE)
    try:
        raise RuntimeError(f"no account for {PHONE}")
    except RuntimeError:
        log.exception("login failed")
    try:
        raise LookupError(f"no row for {EMAIL}")
    except LookupError:
        logging.getLogger("sqlalchemy.engine").exception("query failed")

    text = stream.getvalue()
    for raw in (NATIONAL, EMAIL, AADHAAR, "234567890123", PAN, OTP, JWT, REFRESH_TOKEN):
        assert raw not in text

    records = lines(stream)
    assert len(records) == 4
    app_line, uvicorn_line, app_error, stdlib_error = records

    assert app_line["event"] == "login for +91******3210"
    assert app_line["email"] == "***@***"
    assert app_line["aadhaar"] == "XXXX-XXXX-0123"
    assert app_line["note"] == "PAN *********F on file"
    assert app_line["otp"] == "[REDACTED]"
    assert app_line["authorization"] == "[REDACTED]"
    assert app_line["body"] == {"user": {"refreshToken": "[REDACTED]", "contacts": ["+91******3210"]}}
    assert app_line["level"] == "info"
    assert app_line["logger"] == "rodistaa.test"

    assert uvicorn_line["event"] == "login for +91******3210"
    assert uvicorn_line["level"] == "warning"
    assert uvicorn_line["logger"] == "uvicorn.error"

    assert app_error["event"] == "login failed"
    assert app_error["level"] == "error"
    assert "Traceback (most recent call last)" in app_error["exception"]
    assert "RuntimeError: no account for +91******3210" in app_error["exception"]

    assert stdlib_error["logger"] == "sqlalchemy.engine"
    assert "LookupError: no row for ***@***" in stdlib_error["exception"]


def test_every_line_has_a_utc_iso_timestamp(stream: io.StringIO) -> None:
    get_logger("rodistaa.test").info("one")
    logging.getLogger("alembic").warning("two")
    for record in lines(stream):
        assert record["ts"].endswith("Z")
        parsed = datetime.fromisoformat(record["ts"])
        assert parsed.utcoffset() == timedelta(0)


def test_contextvars_are_merged_and_masked(stream: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(request_id="req-1", mobile=PHONE, token=REFRESH_TOKEN)
    get_logger("rodistaa.test").info("with context")
    (record,) = lines(stream)
    assert record["request_id"] == "req-1"
    assert record["mobile"] == "+91******3210"
    assert record["token"] == "[REDACTED]"


def test_objects_are_rendered_masked(stream: io.StringIO) -> None:
    class Customer:
        def __str__(self) -> str:
            return f"Customer({EMAIL}, {PHONE})"

    get_logger("rodistaa.test").info("customer", customer=Customer(), raw=b"\x00secret")
    (record,) = lines(stream)
    assert record["customer"] == "Customer(***@***, +91******3210)"
    assert record["raw"] == "[BYTES]"


def test_level_applies_to_structlog_and_stdlib() -> None:
    buffer = io.StringIO()
    try:
        configure_logging("warning", stream=buffer)
        get_logger("rodistaa.test").info("quiet")
        logging.getLogger("uvicorn.error").info("quiet too")
        get_logger("rodistaa.test").warning("loud")
        logging.getLogger("uvicorn.error").error("loud too")
    finally:
        configure_logging()
    assert [record["event"] for record in lines(buffer)] == ["loud", "loud too"]


def test_uvicorn_access_lines_are_dropped(stream: io.StringIO) -> None:
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /v1/health HTTP/1.1" 200')
    assert stream.getvalue() == ""
    assert logging.getLogger("uvicorn.access").level == logging.WARNING


def test_uvicorn_own_handlers_are_replaced_by_the_masking_one() -> None:
    leaked = io.StringIO()
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(logging.StreamHandler(leaked))
    uvicorn_logger.propagate = False
    buffer = io.StringIO()
    try:
        configure_logging("INFO", stream=buffer)
        logging.getLogger("uvicorn.error").warning("started for %s", PHONE)
    finally:
        configure_logging()
    assert leaked.getvalue() == ""
    assert lines(buffer)[0]["event"] == "started for +91******3210"


def test_reconfiguring_replaces_the_handler_instead_of_adding_one() -> None:
    first, second = io.StringIO(), io.StringIO()
    try:
        configure_logging("INFO", stream=first)
        configure_logging("INFO", stream=second)
        get_logger("rodistaa.test").info("once")
        ours = [h for h in logging.getLogger().handlers if h.get_name() == "rodistaa"]
    finally:
        configure_logging()
    assert first.getvalue() == ""
    assert [record["event"] for record in lines(second)] == ["once"]
    assert len(ours) == 1


def test_console_renderer_masks_too() -> None:
    buffer = io.StringIO()
    try:
        configure_logging("INFO", json=False, stream=buffer)
        log = get_logger("rodistaa.test")
        try:
            raise ValueError(f"bad {EMAIL}")
        except ValueError:
            log.exception("console", mobile=PHONE, otp=OTP)
    finally:
        configure_logging()
    text = buffer.getvalue()
    assert "console" in text
    assert "+91******3210" in text
    assert "ValueError: bad ***@***" in text
    for raw in (NATIONAL, EMAIL, OTP):
        assert raw not in text
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text.splitlines()[0])


def test_get_logger_without_name_uses_the_calling_module(stream: io.StringIO) -> None:
    get_logger().info("anonymous")
    (record,) = lines(stream)
    assert record["logger"] == __name__


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("CHATTY", stream=io.StringIO())
