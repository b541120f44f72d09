"""INR amounts: exact integer paise inside, rupees only at the API edge (PRODUCT.md §2).

Rounding is always ``ROUND_HALF_UP`` (ties away from zero, so ``-2.5`` becomes ``-3``), never
Python's ``round()``, which rounds ties to even *and* works on binary floats.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

PAISE_PER_RUPEE = 100
# Ledger columns are BIGINT; anything wider could never be stored.
MAX_ABS_PAISE = 2**63 - 1
# Above 2**53 a float can no longer hold every integer number of paise exactly.
_MAX_FLOAT_EXACT_PAISE = 2**53
# Enough digits for any BIGINT amount times any sane percentage without context rounding.
_WORKING_PRECISION = 60


def round_half_up(value: Decimal, places: int = 2) -> Decimal:
    """Round *value* to *places* decimals, ties away from zero.

    Raises ``ValueError`` for NaN or infinity.
    """
    _require_finite(value)
    quantum = Decimal(1).scaleb(-places)
    with localcontext() as ctx:
        ctx.prec = max(_WORKING_PRECISION, value.adjusted() + places + 2)
        return value.quantize(quantum, rounding=ROUND_HALF_UP)


def rupees_to_paise(rupees: Decimal | int | float | str) -> int:
    """Convert an API rupee amount to exact integer paise.

    Floats go through ``Decimal(str(x))`` so ``0.1`` means ten paise, not the binary
    approximation. Strings must be plain decimals (``"175"``, ``"-68.25"``): no exponent,
    underscores or surrounding whitespace. Trailing zeros are fine (``"1.500"`` is 150 paise);
    what is refused is a value that is not a whole number of paise.

    Raises ``ValueError`` for bool, any other type, NaN/infinity, more than 2 decimal places of
    value, or an amount outside the BIGINT range.
    """
    amount = _to_decimal(rupees)
    _require_finite(amount)
    paise = _exact_paise(amount)
    if abs(paise) > MAX_ABS_PAISE:
        raise ValueError("amount is too large")
    return paise


def paise_to_rupees(paise: int) -> Decimal:
    """Return the rupee amount with exactly 2 decimal places (17500 -> ``Decimal("175.00")``)."""
    _require_int(paise)
    digits = tuple(int(d) for d in str(abs(paise)))
    # Built from the digit tuple so no arithmetic context can round it.
    return Decimal((1 if paise < 0 else 0, digits, -2))


def paise_to_rupees_number(paise: int) -> float:
    """Return rupees as a float for JSON output: 17500 -> ``175.0``, 6825 -> ``68.25``.

    Always a float (never an int) so API schemas have one numeric type. The float is the one
    closest to the 2-dp value, and float repr (used by orjson and json) prints it back as that
    value. Raises ``ValueError`` beyond 2**53 paise, where a float would silently lose paise.
    """
    _require_int(paise)
    if abs(paise) > _MAX_FLOAT_EXACT_PAISE:
        raise ValueError("amount is too large to be represented exactly as a JSON number")
    return float(paise_to_rupees(paise))


def percent_of_paise(paise: int, percent: Decimal) -> int:
    """Return ``percent`` % of *paise*, rounded half up to whole paise.

    Raises ``ValueError`` for a non-int *paise* or a non-finite *percent*, ``TypeError`` for a
    float *percent* (its binary value is not the rate anyone meant).
    """
    _require_int(paise)
    if not isinstance(percent, Decimal):
        raise TypeError("percent must be a Decimal")
    _require_finite(percent)
    with localcontext() as ctx:
        ctx.prec = _WORKING_PRECISION
        share = Decimal(paise) * percent / PAISE_PER_RUPEE
    return int(round_half_up(share, 0))


def _to_decimal(rupees: object) -> Decimal:
    # bool is an int subclass; True must not silently become one rupee.
    if isinstance(rupees, bool):
        raise ValueError("amount must be a number, not a boolean")
    if isinstance(rupees, Decimal):
        return rupees
    if isinstance(rupees, int):
        return Decimal(rupees)
    if isinstance(rupees, float):
        return Decimal(str(rupees))
    if isinstance(rupees, str):
        return _parse_decimal_string(rupees)
    raise ValueError("amount must be a number")


def _parse_decimal_string(text: str) -> Decimal:
    body = text[1:] if text[:1] in "+-" else text
    whole, _, fraction = body.partition(".")
    if not (whole.isascii() and whole.isdigit()) or (
        fraction and not (fraction.isascii() and fraction.isdigit())
    ):
        raise ValueError("amount must be a plain decimal number")
    return Decimal(text)


def _exact_paise(amount: Decimal) -> int:
    """Integer paise for *amount*, computed on its digits so no context rounding can occur."""
    if amount.is_zero():
        return 0
    if amount.adjusted() > len(str(MAX_ABS_PAISE)):
        # Refuse before building a huge power of ten from an exponent like 1E+999999.
        raise ValueError("amount is too large")
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by the caller
    coefficient = int("".join(map(str, digits)))
    scale = exponent + 2
    while scale < 0 and coefficient % 10 == 0:
        coefficient //= 10
        scale += 1
    if scale < 0:
        raise ValueError("amount must have at most 2 decimal places")
    paise: int = coefficient * 10**scale
    return -paise if sign else paise


def _require_finite(value: Decimal) -> None:
    if not value.is_finite():
        raise ValueError("amount must be a finite number")


def _require_int(paise: object) -> None:
    if isinstance(paise, bool) or not isinstance(paise, int):
        raise ValueError("paise must be an integer")
