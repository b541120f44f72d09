"""The price estimator (PRODUCT §6): road distance = haversine x 1.3 (2 dp), expected price =
rate x tonnage x distance (half up to paise), proposed range = 90 % / 110 % (half up)."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rodistaa.acs.lang.functions import distance as acs_distance_m
from rodistaa.bookings.pricing import (
    GeoPoint,
    expected_price_paise,
    great_circle_km,
    proposed_range_paise,
    quote,
    road_distance_km,
)
from rodistaa.core.money import MAX_ABS_PAISE, paise_to_rupees_number, rupees_to_paise

MUMBAI = GeoPoint(19.076, 72.8777)
DELHI = GeoPoint(28.6139, 77.209)
RATE = Decimal("2.5")

points = st.builds(
    GeoPoint,
    lat=st.floats(min_value=-90, max_value=90, allow_nan=False),
    lng=st.floats(min_value=-180, max_value=180, allow_nan=False),
)


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places)


# The domain the API admits: settings bound the rate, the schema the tonnage, and the service
# refuses routes under 1 km; the longest road distance is half the globe x 1.3.
rates = decimals("0.1", "1000", 4)
tonnages = decimals("0.1", "100", 2)
distances = decimals("1", "26022", 2)


def half_up(value: Fraction) -> int:
    """Round a non-negative exact fraction half up to an integer, independently of `money`."""
    return math.floor(value + Fraction(1, 2))


def spherical_law_of_cosines_km(a: GeoPoint, b: GeoPoint) -> float:
    lat1, lng1, lat2, lng2 = (math.radians(v) for v in (a.lat, a.lng, b.lat, b.lng))
    cosine = math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(lng2 - lng1)
    return 6371.0088 * math.acos(max(-1.0, min(1.0, cosine)))


class TestRoadDistance:
    def test_one_degree_on_the_equator(self) -> None:
        # 6371.0088 x pi / 180 = 111.19508 km; x 1.3 = 144.5536 -> 144.55
        assert road_distance_km(GeoPoint(0, 0), GeoPoint(0, 1)) == Decimal("144.55")

    def test_mumbai_to_delhi(self) -> None:
        independent = Decimal(repr(spherical_law_of_cosines_km(MUMBAI, DELHI))) * Decimal("1.3")
        assert independent.quantize(Decimal("0.01")) == Decimal("1492.53")
        assert road_distance_km(MUMBAI, DELHI) == Decimal("1492.53")
        assert road_distance_km(DELHI, MUMBAI) == Decimal("1492.53")

    def test_the_same_point_is_zero(self) -> None:
        assert road_distance_km(MUMBAI, MUMBAI) == Decimal("0.00")

    def test_antipodes_are_half_the_globe(self) -> None:
        assert great_circle_km(GeoPoint(0, 0), GeoPoint(0, 180)) == pytest.approx(math.pi * 6371.0088)

    @given(points, points)
    def test_symmetric_bounded_and_two_places(self, a: GeoPoint, b: GeoPoint) -> None:
        there, back = road_distance_km(a, b), road_distance_km(b, a)
        assert there == back
        assert Decimal(0) <= there <= Decimal("26022")
        assert there == there.quantize(Decimal("0.01"))

    @given(points, points)
    def test_agrees_with_the_acs_distance_function(self, a: GeoPoint, b: GeoPoint) -> None:
        metres = acs_distance_m({"lat": a.lat, "lng": a.lng}, {"lat": b.lat, "lng": b.lng})
        assert metres is not None
        assert great_circle_km(a, b) == pytest.approx(metres / 1000, rel=1e-12, abs=1e-9)


class TestExpectedPrice:
    def test_a_tie_rounds_half_up(self) -> None:
        # 2.5 x 5 x 1492.53 = 18656.625 rupees: banker's rounding would say 18656.62.
        price = expected_price_paise(
            rate_per_tonne_km=RATE, tonnage=Decimal(5), distance_km=Decimal("1492.53")
        )
        assert price == 1_865_663

    def test_ten_tonnes_over_144_55_km(self) -> None:
        price = expected_price_paise(
            rate_per_tonne_km=RATE, tonnage=Decimal(10), distance_km=Decimal("144.55")
        )
        assert price == 361_375

    @given(rates, tonnages, distances)
    def test_exactly_half_up_of_the_true_product(self, rate: Decimal, tonnage: Decimal, km: Decimal) -> None:
        exact_paise = Fraction(rate) * Fraction(tonnage) * Fraction(km) * 100
        price = expected_price_paise(rate_per_tonne_km=rate, tonnage=tonnage, distance_km=km)
        assert price == half_up(exact_paise)

    @given(rates, tonnages, tonnages, distances)
    def test_more_tonnage_never_costs_less(
        self, rate: Decimal, first: Decimal, second: Decimal, km: Decimal
    ) -> None:
        light, heavy = sorted((first, second))
        assert expected_price_paise(
            rate_per_tonne_km=rate, tonnage=light, distance_km=km
        ) <= expected_price_paise(rate_per_tonne_km=rate, tonnage=heavy, distance_km=km)

    @pytest.mark.parametrize("bad", [Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
    def test_negative_or_non_finite_factors_are_refused(self, bad: Decimal) -> None:
        with pytest.raises(ValueError, match="finite"):
            expected_price_paise(rate_per_tonne_km=RATE, tonnage=bad, distance_km=Decimal(10))


class TestProposedRange:
    def test_both_ends_round_half_up(self) -> None:
        # 90 % of 361375 = 325237.5 -> 325238; 110 % = 397512.5 -> 397513 (not 397512).
        assert proposed_range_paise(361_375) == (325_238, 397_513)

    def test_mumbai_to_delhi_five_tonnes(self) -> None:
        assert proposed_range_paise(1_865_663) == (1_679_097, 2_052_229)

    @given(st.integers(min_value=1, max_value=10**15))
    def test_ten_percent_either_side(self, expected: int) -> None:
        low, high = proposed_range_paise(expected)
        assert low == half_up(Fraction(expected) * Fraction(9, 10))
        assert high == half_up(Fraction(expected) * Fraction(11, 10))
        assert 1 <= low <= expected <= high


class TestQuote:
    def test_mumbai_to_delhi_five_tonnes(self) -> None:
        priced = quote(MUMBAI, DELHI, tonnage=Decimal(5), rate_per_tonne_km=RATE)
        assert priced.distance_km == Decimal("1492.53")
        assert (priced.expected_price_paise, priced.proposed_min_paise, priced.proposed_max_paise) == (
            1_865_663,
            1_679_097,
            2_052_229,
        )

    def test_the_smallest_admitted_booking_costs_at_least_one_paisa(self) -> None:
        price = expected_price_paise(
            rate_per_tonne_km=Decimal("0.1"), tonnage=Decimal("0.1"), distance_km=Decimal(1)
        )
        assert price == 1
        assert proposed_range_paise(price) == (1, 1)

    @given(rates, tonnages, distances)
    def test_every_admitted_booking_has_a_storable_positive_range(
        self, rate: Decimal, tonnage: Decimal, km: Decimal
    ) -> None:
        expected = expected_price_paise(rate_per_tonne_km=rate, tonnage=tonnage, distance_km=km)
        low, high = proposed_range_paise(expected)
        # The database requires 0 < min <= max; the API needs exact JSON numbers.
        assert 0 < low <= high <= MAX_ABS_PAISE
        assert rupees_to_paise(paise_to_rupees_number(high)) == high
