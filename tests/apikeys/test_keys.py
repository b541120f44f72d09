"""The key format: generation, parsing of presented keys, and the keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import secrets

import pytest

from rodistaa.apikeys import keys

HMAC_KEY = b"k" * 32
KEY_SHAPE = re.compile(r"rk_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}")


def test_new_keys_have_the_documented_shape_and_differ() -> None:
    made = [keys.new_key() for _ in range(50)]
    for new in made:
        assert KEY_SHAPE.fullmatch(new.key), new.key
        assert new.key.startswith(keys.public_prefix(new.prefix) + "_")
        assert keys.prefix_of(new.key) == new.prefix
    assert len({new.prefix for new in made}) == 50
    assert len({new.key for new in made}) == 50


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "rk_",
        "Bearer something",
        "xx_abcdefghijkl_" + "a" * 43,  # wrong marker
        "rk_abcdefghijkl-" + "a" * 43,  # wrong separator
        "rk_abcdefghij_l_" + "a" * 43,  # "_" inside the prefix
        "rk_abcdefghijkl_" + "a" * 42,  # too short
        "rk_abcdefghijkl_" + "a" * 44,  # too long
        "rk_abcdéfghijkl_" + "a" * 43,  # not ASCII
    ],
)
def test_malformed_keys_have_no_prefix(presented: str) -> None:
    assert keys.prefix_of(presented) is None


def test_a_secret_containing_underscores_still_parses() -> None:
    presented = "rk_abcdefghijkl_" + "_" * 43
    assert keys.prefix_of(presented) == "abcdefghijkl"


def test_the_hash_is_hmac_sha256_of_the_whole_key_and_matches_only_it() -> None:
    new = keys.new_key()
    stored = keys.key_hash(HMAC_KEY, new.key)
    assert stored == hmac.new(HMAC_KEY, new.key.encode(), hashlib.sha256).hexdigest()
    assert new.key not in stored
    assert keys.matches(HMAC_KEY, new.key, stored)
    assert not keys.matches(HMAC_KEY, new.key[:-1] + ("A" if new.key[-1] != "A" else "B"), stored)
    assert not keys.matches(b"other-key" * 4, new.key, stored)


def test_a_prefix_that_reads_as_a_phone_number_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ten digits in a row look like a mobile number to the log masker and the audit log.
    drawn = itertools.chain("9876543210ab", "abcdefghijkl")
    monkeypatch.setattr(secrets, "choice", lambda _alphabet: next(drawn))
    assert keys.new_key().prefix == "abcdefghijkl"
