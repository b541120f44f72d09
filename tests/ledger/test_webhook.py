"""The payment webhook's signature scheme and payload parsing as pure functions, and the
production refusal of a missing webhook secret."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rodistaa.core.errors import ValidationFailed
from rodistaa.ledger.errors import InvalidSignature
from rodistaa.ledger.webhook import (
    TOLERANCE,
    parse_event,
    payment_of,
    sign,
    signature_header,
    verify_signature,
)
from rodistaa.settings import Settings, UnsafeSettingsError, load_settings
from tests.test_settings import SAFE_PRODUCTION

SECRET = "whsec_unit_test_0123456789abcdef"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
BODY = b'{"id":"evt_1","type":"payment.succeeded","data":{}}'


def reason(header: str | None, body: bytes = BODY, *, secret: str = SECRET, now: datetime = NOW) -> str:
    with pytest.raises(InvalidSignature) as refused:
        verify_signature(secret, header, body, now=now)
    assert (refused.value.status, refused.value.code) == (401, "INVALID_SIGNATURE")
    assert refused.value.details is not None
    return str(refused.value.details["reason"])


class TestSignature:
    def test_mac_is_hmac_sha256_over_timestamp_dot_body(self) -> None:
        expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
        assert sign(SECRET, T, BODY) == expected
        assert signature_header(SECRET, T, BODY) == f"t={T},v1={expected}"

    def test_valid_signature_passes(self) -> None:
        verify_signature(SECRET, signature_header(SECRET, T, BODY), BODY, now=NOW)
        verify_signature(SECRET, f" t={T} , v0=legacy, v1={sign(SECRET, T, BODY)}", BODY, now=NOW)

    @pytest.mark.parametrize("offset", [TOLERANCE, -TOLERANCE])
    def test_edge_of_the_window_passes(self, offset: timedelta) -> None:
        verify_signature(SECRET, signature_header(SECRET, T, BODY), BODY, now=NOW + offset)

    @pytest.mark.parametrize("offset", [TOLERANCE + timedelta(seconds=1), -TOLERANCE - timedelta(seconds=1)])
    def test_outside_the_window_is_stale(self, offset: timedelta) -> None:
        assert reason(signature_header(SECRET, T, BODY), now=NOW + offset) == "stale"

    @pytest.mark.parametrize("header", [None, ""])
    def test_missing(self, header: str | None) -> None:
        assert reason(header) == "missing"

    @pytest.mark.parametrize(
        "header",
        [
            "t=1",
            "v1=" + "a" * 64,
            f"t={T},v1=" + "A" * 64,
            f"t={T},v1=" + "a" * 63,
            f"t=-{T},v1=" + "a" * 64,
            "t=12345678901,v1=" + "a" * 64,
            f"t={T};v1=" + "a" * 64,
            f"t={T},v1",
            f"t={T},t={T},v1=" + "a" * 64,
            f"t={T},v1=" + "a" * 64 + ",x" * 600,
        ],
    )
    def test_malformed(self, header: str) -> None:
        assert reason(header) == "malformed"

    def test_wrong_secret_tampered_body_or_moved_timestamp(self) -> None:
        assert reason(signature_header("other-secret", T, BODY)) == "mismatch"
        assert reason(signature_header(SECRET, T, BODY), BODY + b" ") == "mismatch"
        assert reason(f"t={T + 1},v1={sign(SECRET, T, BODY)}") == "mismatch"

    def test_empty_secret_verifies_nothing(self) -> None:
        assert reason(signature_header("", T, BODY), secret="") == "mismatch"


class TestParsing:
    def test_payment_in_paise_or_rupees(self) -> None:
        for data in (b'"amountPaise":12345', b'"amount":123.45', b'"amount":123.450,"amountPaise":12345'):
            body = b'{"id":"evt_9","type":"payment.succeeded","extra":1,"data":{"operatorId":"USR-OP-1",'
            body += data + b',"currency":"INR","reference":"pay_9"}}'
            payment = payment_of(parse_event(body))
            assert (payment.event_id, payment.operator_id, payment.amount_paise, payment.reference) == (
                "evt_9",
                "USR-OP-1",
                12345,
                "pay_9",
            )

    def test_rupees_keep_their_exact_digits(self) -> None:
        """A float would read 0.1000000000000000055 as 0.1; the decimal parse refuses it."""
        body = (
            b'{"id":"e","type":"payment.succeeded","data":{"operatorId":"O","currency":"INR",'
            b'"reference":"r","amount":0.1000000000000000055}}'
        )
        with pytest.raises(ValidationFailed) as refused:
            payment_of(parse_event(body))
        assert refused.value.details is not None
        assert refused.value.details["field"] == "data.amount"

    def test_unknown_type_is_parsed_without_looking_at_data(self) -> None:
        event = parse_event(b'{"id":"evt_2","type":"payout.created","data":"opaque"}')
        assert (event.event_id, event.event_type, event.data) == ("evt_2", "payout.created", "opaque")


class TestProductionSetting:
    @pytest.fixture(autouse=True)
    def isolated(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.chdir(tmp_path)
        for name in Settings.model_fields:
            monkeypatch.delenv(name.upper(), raising=False)

    @pytest.mark.parametrize("secret", ["", "change-me"])
    def test_production_refuses_a_missing_or_default_secret(self, secret: str) -> None:
        with pytest.raises(UnsafeSettingsError, match="PAYMENT_WEBHOOK_SECRET"):
            load_settings(**{**SAFE_PRODUCTION, "payment_webhook_secret": secret})

    def test_production_accepts_a_secret(self) -> None:
        settings = load_settings(**{**SAFE_PRODUCTION, "payment_webhook_secret": SECRET})
        assert settings.payment_webhook_secret == SECRET
        assert not [p for p in settings.production_problems() if "PAYMENT_WEBHOOK_SECRET" in p]
