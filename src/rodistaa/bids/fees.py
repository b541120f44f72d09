"""The bidding fee (PRODUCT §6): `round_half_up(per_tonne * tonnage + per_km * distance_km, 2)`
rupees, returned as exact integer paise.

The constants are configuration (`Settings.bid_fee_per_tonne`, `Settings.bid_fee_per_km`), so
the fee is a pure function of the booking and the settings: the same booking always costs the
same, whoever bids. The product is computed exactly (a context wide enough that nothing is
rounded before the one rounding that is meant), then rounded half up, never banker's rounding.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from rodistaa.core.money import round_half_up, rupees_to_paise

_EXACT_PRECISION = 80


def bidding_fee_paise(tonnage: Decimal, distance_km: Decimal, *, per_tonne: Decimal, per_km: Decimal) -> int:
    """The fee in paise: 10 t over 500 km at ₹5/t and ₹0.25/km is 17500 (₹175.00); 7.5 t over
    123 km is 6825 (₹68.25).

    Raises ``ValueError`` for a negative or non-finite factor (no booking or setting has one)."""
    for factor in (tonnage, distance_km, per_tonne, per_km):
        if not isinstance(factor, Decimal) or not factor.is_finite() or factor < 0:
            raise ValueError("fee factors must be finite, non-negative Decimals")
    with localcontext() as ctx:
        ctx.prec = _EXACT_PRECISION
        rupees = per_tonne * tonnage + per_km * distance_km
    return rupees_to_paise(round_half_up(rupees, 2))
