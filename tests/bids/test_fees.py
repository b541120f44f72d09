"""The bidding fee (PRODUCT §6): the product's worked examples, and half-up rounding to whole
paise for every amount (never banker's rounding, never binary floats)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rodistaa.bids.fees import bidding_fee_paise

PER_TONNE = Decimal("5.00")
PER_KM = Decimal("0.25")


def fee(tonnage: str, distance_km: str) -> int:
    return bidding_fee_paise(Decimal(tonnage), Decimal(distance_km), per_tonne=PER_TONNE, per_km=PER_KM)


class TestProductExamples:
    def test_ten_tonnes_over_500_km_is_175_rupees(self) -> None:
        assert fee("10", "500") == 17_500

    def test_seven_and_a_half_tonnes_over_123_km_is_68_25(self) -> None:
        assert fee("7.5", "123") == 6_825

    def test_a_tie_at_half_a_paisa_rounds_up(self) -> None:
        # 5 x 0.1 + 0.25 x 0.01 = 0.5025 rupees = 50.25 paise -> 50; 0.25 x 0.02 -> 50.5 -> 51.
        assert fee("0.1", "0.01") == 50
        assert fee("0.1", "0.02") == 51

    def test_banker_rounding_would_differ(self) -> None:
        # 0.25 x 0.1 = 0.025 rupees: half-up gives 3 paise where round-half-even gives 2.
        assert bidding_fee_paise(Decimal(0), Decimal("0.1"), per_tonne=PER_TONNE, per_km=PER_KM) == 3

    def test_zero_constants_cost_nothing(self) -> None:
        assert bidding_fee_paise(Decimal(10), Decimal(500), per_tonne=Decimal(0), per_km=Decimal(0)) == 0

    @pytest.mark.parametrize(
        "factors",
        [
            (Decimal(-1), Decimal(1), PER_TONNE, PER_KM),
            (Decimal(1), Decimal("NaN"), PER_TONNE, PER_KM),
            (Decimal(1), Decimal(1), Decimal("Infinity"), PER_KM),
            (Decimal(1), Decimal(1), PER_TONNE, Decimal("-0.25")),
        ],
    )
    def test_impossible_factors_are_refused(self, factors: tuple[Decimal, Decimal, Decimal, Decimal]) -> None:
        tonnage, distance, per_tonne, per_km = factors
        with pytest.raises(ValueError, match="fee factors"):
            bidding_fee_paise(tonnage, distance, per_tonne=per_tonne, per_km=per_km)

    def test_floats_are_refused(self) -> None:
        with pytest.raises(ValueError, match="fee factors"):
            bidding_fee_paise(10.0, Decimal(500), per_tonne=PER_TONNE, per_km=PER_KM)  # type: ignore[arg-type]


# Tonnage as bookings store it (2 dp, 0.1 to 100 t); distance in 2 dp km up to 5000 km.
tonnages = st.integers(min_value=10, max_value=10_000).map(lambda n: Decimal(n).scaleb(-2))
distances = st.integers(min_value=0, max_value=500_000).map(lambda n: Decimal(n).scaleb(-2))


class TestRoundingProperty:
    @given(tonnage=tonnages, distance=distances)
    def test_matches_exact_half_up_at_the_configured_rates(self, tonnage: Decimal, distance: Decimal) -> None:
        exact = PER_TONNE * tonnage + PER_KM * distance  # exact: few digits, default context
        expected = int(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)
        assert bidding_fee_paise(tonnage, distance, per_tonne=PER_TONNE, per_km=PER_KM) == expected

    @given(
        whole_paise=st.integers(min_value=0, max_value=10**9),
        third_decimal=st.integers(min_value=0, max_value=9),
    )
    def test_every_third_decimal_rounds_half_up(self, whole_paise: int, third_decimal: int) -> None:
        """Inputs whose exact rupee value is `whole_paise` paise plus `third_decimal` tenths of a
        paisa: 0-4 tenths keep the paisa, 5-9 (x.xx5 included) add one."""
        # per_tonne x 1 t carries the whole paise; per_km x 1 km carries the tenths of a paisa.
        per_tonne = Decimal(whole_paise).scaleb(-2)
        per_km = Decimal(third_decimal).scaleb(-3)
        result = bidding_fee_paise(Decimal(1), Decimal(1), per_tonne=per_tonne, per_km=per_km)
        assert result == whole_paise + (1 if third_decimal >= 5 else 0)

    @given(
        tonnage=tonnages,
        fourth_hundredths=st.integers(min_value=0, max_value=125_000),
    )
    def test_an_exact_half_paisa_always_rounds_up(self, tonnage: Decimal, fourth_hundredths: int) -> None:
        """At the configured rates every tonnage costs whole paise (₹5 x 0.01 t = 5 paise) and
        a distance of 0.02 + 0.04k km costs k paise plus exactly half a paisa: a tie, every
        time, which half up resolves upwards."""
        distance = Decimal("0.02") + Decimal(4 * fourth_hundredths).scaleb(-2)
        tonnage_paise = int(PER_TONNE * tonnage * 100)
        result = bidding_fee_paise(tonnage, distance, per_tonne=PER_TONNE, per_km=PER_KM)
        assert result == tonnage_paise + fourth_hundredths + 1
