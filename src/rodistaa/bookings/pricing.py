"""The booking price estimator (PRODUCT §6), as pure functions.

* Road distance = great-circle (haversine) distance * 1.3, rounded half up to 2 dp (km).
* Expected price = rate per tonne-km * tonnage * road distance, rounded half up to whole paise.
* Proposed range = 90 % and 110 % of the expected price, each rounded half up to whole paise.

Everything after the haversine is exact decimal arithmetic (`rodistaa.core.money`), never
binary floats. The haversine itself is trigonometry on floats; its result enters the decimal
world through its shortest repr, so the 2-dp rounding is applied to the value a reader sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, localcontext

from rodistaa.core.money import percent_of_paise, round_half_up, rupees_to_paise

# IUGG mean Earth radius, the one ACS's `distance()` uses, so a rule comparing distances and
# the booking's own figure agree.
EARTH_RADIUS_KM = 6371.0088
ROAD_FACTOR = Decimal("1.3")
RANGE_LOW_PERCENT = Decimal(90)
RANGE_HIGH_PERCENT = Decimal(110)
_EXACT_PRECISION = 80


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lng: float


@dataclass(frozen=True)
class Quote:
    """What the estimator proposes for one booking; amounts in paise."""

    distance_km: Decimal
    expected_price_paise: int
    proposed_min_paise: int
    proposed_max_paise: int


def great_circle_km(a: GeoPoint, b: GeoPoint) -> float:
    """Haversine distance in km between two points given in degrees."""
    lat1, lng1, lat2, lng2 = (math.radians(v) for v in (a.lat, a.lng, b.lat, b.lng))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    # min() guards asin against a rounding error pushing h a hair above 1 for antipodes.
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def road_distance_km(pickup: GeoPoint, drop: GeoPoint) -> Decimal:
    """Haversine * road factor, half up to 2 dp."""
    return round_half_up(Decimal(repr(great_circle_km(pickup, drop))) * ROAD_FACTOR, 2)


def expected_price_paise(*, rate_per_tonne_km: Decimal, tonnage: Decimal, distance_km: Decimal) -> int:
    """rate * tonnage * distance in rupees, half up to whole paise.

    Raises ``ValueError`` for a negative or non-finite factor."""
    for factor in (rate_per_tonne_km, tonnage, distance_km):
        if not factor.is_finite() or factor < 0:
            raise ValueError("price factors must be finite and not negative")
    with localcontext() as ctx:
        # Wide enough that the product is exact before the one rounding that is meant.
        ctx.prec = _EXACT_PRECISION
        rupees = rate_per_tonne_km * tonnage * distance_km
    return rupees_to_paise(round_half_up(rupees, 2))


def proposed_range_paise(expected_paise: int) -> tuple[int, int]:
    """(90 %, 110 %) of the expected price, each rounded half up on its own: rounding the
    10 % share first and subtracting it would round the lower bound the other way on ties."""
    return (
        percent_of_paise(expected_paise, RANGE_LOW_PERCENT),
        percent_of_paise(expected_paise, RANGE_HIGH_PERCENT),
    )


def quote(pickup: GeoPoint, drop: GeoPoint, *, tonnage: Decimal, rate_per_tonne_km: Decimal) -> Quote:
    distance_km = road_distance_km(pickup, drop)
    expected = expected_price_paise(
        rate_per_tonne_km=rate_per_tonne_km, tonnage=tonnage, distance_km=distance_km
    )
    low, high = proposed_range_paise(expected)
    return Quote(distance_km, expected, low, high)
