"""The pure rules of idempotent requests: key syntax, principal, fingerprint, what is stored."""

from __future__ import annotations

import hashlib

import pytest

from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.idempotency.errors import InvalidIdempotencyKey
from rodistaa.idempotency.service import fingerprint, is_decided, parse_key, principal_of


class TestKey:
    @pytest.mark.parametrize("value", [b"a", b" spaced key ", b"~" * 255, b"order-2024/11#3"])
    def test_printable_ascii_up_to_255_characters(self, value: bytes) -> None:
        assert parse_key([value]) == value.decode()

    @pytest.mark.parametrize("values", [[], [b""], [b"x" * 256], [b"\xc3\xa9"], [b"a\nb"], [b"a", b"a"]])
    def test_anything_else_is_refused(self, values: list[bytes]) -> None:
        with pytest.raises(InvalidIdempotencyKey) as refused:
            parse_key(values)
        assert (refused.value.status, refused.value.code) == (400, "VALIDATION_ERROR")
        assert refused.value.details is not None
        assert refused.value.details["field"] == "header.Idempotency-Key"


class TestPrincipal:
    def test_a_session_is_its_user_and_a_partner_key_is_the_key(self) -> None:
        session = Actor("USR-OP-1", Role.OPERATOR, "SES-1")
        key = Actor("USR-OP-1", Role.OPERATOR, "APK-9", api_key_id="APK-9", scopes=frozenset())
        assert principal_of(session) == "user:USR-OP-1"
        assert principal_of(key) == "apikey:APK-9"


class TestFingerprint:
    def test_sha256_of_method_target_and_body(self) -> None:
        expected = hashlib.sha256(b"POST\n/v1/bids?a=1\n{}").hexdigest()
        assert fingerprint("POST", b"/v1/bids?a=1", b"{}") == expected

    def test_every_part_counts(self) -> None:
        base = fingerprint("POST", b"/v1/bids", b'{"amount":1}')
        variants = [
            fingerprint("PUT", b"/v1/bids", b'{"amount":1}'),
            fingerprint("POST", b"/v1/bids?x=1", b'{"amount":1}'),
            fingerprint("POST", b"/v1/bids", b'{"amount": 1}'),
        ]
        assert base not in variants and len(set(variants)) == len(variants)


class TestWhatIsStored:
    @pytest.mark.parametrize(
        ("status", "stored"),
        [
            (200, True),
            (201, True),
            (204, True),
            (400, True),
            (403, True),
            (404, True),
            (409, True),
            (422, True),
            (401, False),
            (429, False),
            (500, False),
            (503, False),
        ],
    )
    def test_decided_answers_are_stored_and_retryable_ones_release_the_key(
        self, status: int, stored: bool
    ) -> None:
        assert is_decided(status) is stored
