"""Login one-time codes: 6 digits from the CSPRNG, stored only as an HMAC keyed by a server
secret, so a database reader cannot recover a live code by trying the million candidates."""

from __future__ import annotations

import hashlib
import hmac
import secrets

OTP_DIGITS = 6


def generate_otp() -> str:
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


def hash_otp(key: bytes, mobile: str, code: str) -> str:
    # Binding the phone into the MAC stops a code hash from being replayed for another phone.
    message = f"rodistaa-otp-v1\n{mobile}\n{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
