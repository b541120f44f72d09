from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rodistaa.core.money import (
    MAX_ABS_PAISE,
    paise_to_rupees,
    paise_to_rupees_number,
    percent_of_paise,
    round_half_up,
    rupees_to_paise,
)

BIGINT = st.integers(min_value=-MAX_ABS_PAISE, max_value=MAX_ABS_PAISE)


# --- round_half_up ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.125", "0.13"),
        ("2.675", "2.68"),
        ("0.005", "0.01"),
        ("1.005", "1.01"),
        ("2.665", "2.67"),
        ("1.0049", "1.00"),
        ("-0.125", "-0.13"),  # ties go away from zero
        ("-2.675", "-2.68"),
        ("7", "7.00"),
        ("0", "0.00"),
    ],
)
def test_round_half_up_two_places(value: str, expected: str) -> None:
    result = round_half_up(Decimal(value))
    assert result == Decimal(expected)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("0.5", "1"), ("1.5", "2"), ("2.5", "3"), ("-2.5", "-3"), ("2.49", "2")]
)
def test_round_half_up_zero_places(value: str, expected: str) -> None:
    assert round_half_up(Decimal(value), 0) == Decimal(expected)


def test_builtin_rounding_would_be_wrong_for_these_cases() -> None:
    # Documents why the helper exists: round() gives 2.67 (binary float) and 0.12 (ties to even).
    assert round(2.675, 2) == 2.67
    assert round(Decimal("0.125"), 2) == Decimal("0.12")
    assert round_half_up(Decimal("2.675")) == Decimal("2.68")
    assert round_half_up(Decimal("0.125")) == Decimal("0.13")


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_round_half_up_rejects_non_finite(value: Decimal) -> None:
    with pytest.raises(ValueError, match="finite"):
        round_half_up(value)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_round_half_up_matches_integer_reference(thousandths: int) -> None:
    magnitude = (abs(thousandths) + 5) // 10  # half up on the absolute value, in hundredths
    expected = Decimal(-magnitude if thousandths < 0 else magnitude).scaleb(-2)
    assert round_half_up(Decimal(thousandths).scaleb(-3)) == expected


@pytest.mark.parametrize(
    ("tonnage", "distance_km", "fee"),
    [("10", "500", "175.00"), ("7.5", "123", "68.25")],
)
def test_bidding_fee_examples_from_product_spec(tonnage: str, distance_km: str, fee: str) -> None:
    raw = Decimal("5.00") * Decimal(tonnage) + Decimal("0.25") * Decimal(distance_km)
    result = round_half_up(raw)
    assert str(result) == fee
    assert rupees_to_paise(result) == int(Decimal(fee) * 100)


# --- rupees_to_paise ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rupees", "paise"),
    [
        (175, 17500),
        (0, 0),
        (-3, -300),
        (Decimal("68.25"), 6825),
        (Decimal("1.500"), 150),  # trailing zeros are still a whole number of paise
        (Decimal("-0.00"), 0),
        (Decimal("1E+2"), 10000),
        (0.1, 10),
        (0.29, 29),  # 0.29 * 100 == 28.999999999999996 in binary floats
        (68.25, 6825),
        (1e2, 10000),
        (-0.05, -5),
        ("175", 17500),
        ("175.00", 17500),
        ("+1.5", 150),
        ("-68.25", -6825),
        ("5.", 500),
        ("92233720368547758.07", MAX_ABS_PAISE),
    ],
)
def test_rupees_to_paise_accepts(rupees: Decimal | int | float | str, paise: int) -> None:
    result = rupees_to_paise(rupees)
    assert result == paise
    assert type(result) is int


@pytest.mark.parametrize(
    "rupees",
    [
        True,
        False,
        None,
        [1],
        b"1",
        1.005,
        1e-7,
        float("nan"),
        float("inf"),
        Decimal("0.001"),
        Decimal("1.005"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("1E+30"),
        Decimal("1E+999999"),
        Decimal("1E-999999"),
        "1.001",
        "",
        " 1",
        "1 ",
        "abc",
        "1e3",
        "1_000",
        "NaN",
        "Infinity",
        ".5",
        "-",
        "1,000",
        "١٢",  # non-ASCII digits
        "92233720368547758.08",  # one paisa beyond BIGINT
        2**63,
    ],
)
def test_rupees_to_paise_rejects(rupees: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - several distinct messages, all ValueError
        rupees_to_paise(rupees)  # type: ignore[arg-type]


def test_rupees_to_paise_error_names_the_rule() -> None:
    with pytest.raises(ValueError, match="at most 2 decimal places"):
        rupees_to_paise("10.999")


# --- paise_to_rupees -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paise", "rupees"),
    [
        (17500, "175.00"),
        (6825, "68.25"),
        (5, "0.05"),
        (-5, "-0.05"),
        (0, "0.00"),
        (MAX_ABS_PAISE, "92233720368547758.07"),
    ],
)
def test_paise_to_rupees_has_two_places(paise: int, rupees: str) -> None:
    assert str(paise_to_rupees(paise)) == rupees


@pytest.mark.parametrize(
    ("paise", "number", "json"),
    [(17500, 175.0, b"175.0"), (6825, 68.25, b"68.25"), (1, 0.01, b"0.01"), (-29, -0.29, b"-0.29")],
)
def test_paise_to_rupees_number_is_a_float_for_json(paise: int, number: float, json: bytes) -> None:
    result = paise_to_rupees_number(paise)
    assert type(result) is float
    assert result == number
    assert orjson.dumps(result) == json


def test_paise_to_rupees_number_refuses_amounts_a_float_cannot_hold() -> None:
    assert paise_to_rupees_number(2**53) == 2**53 / 100
    with pytest.raises(ValueError, match="too large"):
        paise_to_rupees_number(2**53 + 1)


@pytest.mark.parametrize("paise", [True, 1.0, "100", Decimal(100)])
def test_paise_conversions_require_int(paise: object) -> None:
    with pytest.raises(ValueError, match="integer"):
        paise_to_rupees(paise)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="integer"):
        paise_to_rupees_number(paise)  # type: ignore[arg-type]


@given(BIGINT)
def test_paise_rupees_round_trip_via_decimal(paise: int) -> None:
    assert rupees_to_paise(paise_to_rupees(paise)) == paise


@given(BIGINT)
def test_paise_rupees_round_trip_via_string(paise: int) -> None:
    assert rupees_to_paise(str(paise_to_rupees(paise))) == paise


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_paise_rupees_round_trip_via_json_float(paise: int) -> None:
    number = paise_to_rupees_number(paise)
    assert rupees_to_paise(number) == paise
    assert rupees_to_paise(orjson.loads(orjson.dumps(number))) == paise


# --- percent_of_paise -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paise", "percent", "expected"),
    [
        (17500, Decimal("18"), 3150),
        (17500, Decimal("0"), 0),
        (17500, Decimal("100"), 17500),
        (1, Decimal("50"), 1),  # 0.5 -> 1
        (5, Decimal("50"), 3),  # 2.5 -> 3 (banker's rounding would give 2)
        (3, Decimal("50"), 2),  # 1.5 -> 2
        (-5, Decimal("50"), -3),  # ties away from zero
        (6825, Decimal("2.5"), 171),  # 170.625 -> 171
        (6825, Decimal("12.5"), 853),  # 853.125 -> 853
        (MAX_ABS_PAISE, Decimal("100"), MAX_ABS_PAISE),  # no precision loss at BIGINT size
    ],
)
def test_percent_of_paise_rounds_half_up(paise: int, percent: Decimal, expected: int) -> None:
    result = percent_of_paise(paise, percent)
    assert result == expected
    assert type(result) is int


def test_percent_of_paise_refuses_float_and_non_finite_percent() -> None:
    with pytest.raises(TypeError):
        percent_of_paise(100, 18.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        percent_of_paise(100, Decimal("NaN"))
    with pytest.raises(ValueError, match="integer"):
        percent_of_paise(True, Decimal("10"))
