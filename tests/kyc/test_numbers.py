"""Document numbers: normalisation and validation per type, check characters, masking, and the
keyed duplicate-detection hash."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rodistaa.kyc.numbers import (
    DocumentType,
    InvalidDocumentNumber,
    gstin_check_character,
    mask,
    normalise,
    number_hash,
    verhoeff_check_digit,
    verhoeff_is_valid,
)
from rodistaa.security.pii import mask_text

AADHAAR = "234123412346"  # 23412341234 + Verhoeff check digit 6
GSTIN = "27AAPFU0939F1ZV"  # the GST portal's published example
KEY = b"k" * 32

digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=20)


class TestVerhoeff:
    @pytest.mark.parametrize(("body", "check"), [("236", "3"), ("12345", "1")])
    def test_published_check_digits(self, body: str, check: str) -> None:
        assert verhoeff_check_digit(body) == check
        assert verhoeff_is_valid(body + check)

    @given(digit_strings)
    def test_appending_the_check_digit_always_validates(self, body: str) -> None:
        assert verhoeff_is_valid(body + verhoeff_check_digit(body))

    @given(digit_strings, st.data())
    def test_every_single_digit_error_is_detected(self, body: str, data: st.DataObject) -> None:
        number = body + verhoeff_check_digit(body)
        position = data.draw(st.integers(0, len(number) - 1))
        wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
        assert not verhoeff_is_valid(number[:position] + wrong + number[position + 1 :])

    @given(digit_strings.filter(lambda s: len(s) >= 2), st.data())
    def test_every_adjacent_transposition_is_detected(self, body: str, data: st.DataObject) -> None:
        number = body + verhoeff_check_digit(body)
        i = data.draw(st.integers(0, len(number) - 2))
        if number[i] == number[i + 1]:
            return  # swapping equal digits changes nothing
        swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
        assert not verhoeff_is_valid(swapped)

    def test_non_digits_are_invalid(self) -> None:
        assert not verhoeff_is_valid("23412341234A")
        assert not verhoeff_is_valid("")


class TestGstinCheckCharacter:
    @pytest.mark.parametrize("gstin", [GSTIN, "29AAGCB7383J1Z4"])
    def test_published_gstins(self, gstin: str) -> None:
        assert gstin_check_character(gstin[:14]) == gstin[14]


class TestNormalise:
    @pytest.mark.parametrize(
        ("document_type", "raw", "expected"),
        [
            (DocumentType.AADHAAR, AADHAAR, AADHAAR),
            (DocumentType.AADHAAR, "2341 2341 2346", AADHAAR),
            (DocumentType.AADHAAR, " 2341-2341-2346 ", AADHAAR),
            (DocumentType.AADHAAR, "2341\u00a02341\u00a02346", AADHAAR),
            (DocumentType.PAN, "abcpe1234f", "ABCPE1234F"),
            (DocumentType.PAN, "ABCPE 1234 F", "ABCPE1234F"),
            (DocumentType.GSTIN, "27aapfu0939f1zv", GSTIN),
            (DocumentType.GSTIN, "27-AAPFU0939F-1ZV", GSTIN),
            (DocumentType.LICENSE, "MH12 20110012345", "MH1220110012345"),
            (DocumentType.LICENSE, "mh-12-2011-0012345", "MH1220110012345"),
            (DocumentType.LICENSE, "DL04 19990149646", "DL0419990149646"),
        ],
    )
    def test_accepted_forms(self, document_type: DocumentType, raw: str, expected: str) -> None:
        assert normalise(document_type, raw) == expected

    @pytest.mark.parametrize(
        ("document_type", "raw"),
        [
            (DocumentType.AADHAAR, "234123412345"),  # wrong check digit
            (DocumentType.AADHAAR, "134123412341"),  # UIDAI never issues a leading 0 or 1
            (DocumentType.AADHAAR, "23412341234"),  # 11 digits
            (DocumentType.AADHAAR, "2341234123466"),  # 13 digits
            (DocumentType.AADHAAR, "2341x2341x2346"),
            (DocumentType.PAN, "ABCP1234F"),
            (DocumentType.PAN, "ABCPE12345"),
            (DocumentType.PAN, "1BCPE1234F"),
            (DocumentType.GSTIN, "27AAPFU0939F1ZW"),  # wrong check character
            (DocumentType.GSTIN, "27AAPFU0939F0ZV"),  # entity code 0 does not exist
            (DocumentType.GSTIN, "27AAPFU0939F1YV"),  # 14th character must be Z
            (DocumentType.LICENSE, "MH1220110012"),
            (DocumentType.LICENSE, "MH1218110012345"),  # year 1811
            (DocumentType.LICENSE, "M1220110012345"),
            (DocumentType.AADHAAR, ""),
            (DocumentType.PAN, "A" * 41),
        ],
    )
    def test_refused_forms_name_the_shape_not_the_input(self, document_type: DocumentType, raw: str) -> None:
        with pytest.raises(InvalidDocumentNumber) as caught:
            normalise(document_type, raw)
        message = str(caught.value)
        assert message
        compact = raw.replace(" ", "").replace("-", "")
        assert not compact or compact.upper() not in message.upper()

    def test_a_separator_only_changes_nothing(self) -> None:
        with pytest.raises(InvalidDocumentNumber):
            normalise(DocumentType.PAN, " - . / ")


class TestMask:
    @pytest.mark.parametrize(
        ("document_type", "number", "masked"),
        [
            (DocumentType.AADHAAR, AADHAAR, "XXXX-XXXX-2346"),
            (DocumentType.PAN, "ABCPE1234F", "ABCPE****F"),
            (DocumentType.GSTIN, GSTIN, "27AAPFU****F1ZV"),
            (DocumentType.LICENSE, "MH1220110012345", "MH12*******2345"),
        ],
    )
    def test_masked_forms(self, document_type: DocumentType, number: str, masked: str) -> None:
        assert mask(document_type, number) == masked

    @pytest.mark.parametrize(
        ("document_type", "number"),
        [
            (DocumentType.AADHAAR, AADHAAR),
            (DocumentType.PAN, "ABCPE1234F"),
            (DocumentType.GSTIN, GSTIN),
            (DocumentType.LICENSE, "MH1220110012345"),
        ],
    )
    def test_masked_forms_pass_the_log_masker_unchanged(
        self, document_type: DocumentType, number: str
    ) -> None:
        """The stored masked form is already safe: the logging pipeline finds nothing in it to
        mask (it would otherwise hide it further, or it would still be personal data)."""
        masked = mask(document_type, number)
        assert mask_text(masked) == masked
        assert number not in masked

    @given(st.text(alphabet="0123456789", min_size=11, max_size=11).filter(lambda s: s[0] in "23456789"))
    def test_aadhaar_mask_shows_only_the_last_four(self, body: str) -> None:
        number = normalise(DocumentType.AADHAAR, body + verhoeff_check_digit(body))
        assert mask(DocumentType.AADHAAR, number) == "XXXX-XXXX-" + number[-4:]


class TestNumberHash:
    def test_is_a_keyed_hmac_not_a_plain_sha256(self) -> None:
        digest = number_hash(KEY, DocumentType.AADHAAR, AADHAAR)
        assert len(digest) == 64
        assert digest != hashlib.sha256(AADHAAR.encode()).hexdigest()
        assert digest != number_hash(b"j" * 32, DocumentType.AADHAAR, AADHAAR)

    def test_same_number_same_hash_and_bound_to_the_type(self) -> None:
        assert number_hash(KEY, DocumentType.PAN, "ABCPE1234F") == number_hash(
            KEY, DocumentType.PAN, normalise(DocumentType.PAN, "abcpe 1234 f")
        )
        assert number_hash(KEY, DocumentType.PAN, "ABCPE1234F") != number_hash(
            KEY, DocumentType.LICENSE, "ABCPE1234F"
        )
