"""Bookings through the API, for any test that needs a KYC-verified shipper or an open booking
(bids, finalization, shipments). Every step asserts its own status.

    kyc_admin = await kyc_admin_session(h)             # optional: reuse for several users
    shipper = await verified_shipper(h, kyc_admin=kyc_admin)
    booking = await create_booking(h, shipper)          # Mumbai -> Delhi, 5 t, estimator's range
    booking = await create_booking(h, shipper, tonnage=10, priceRange={"min": 20000, "max": 30000})
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from rodistaa.core.roles import Role
from tests.api.flows import Session, create_user_directly, sign_in, sign_up
from tests.api.kyc_flows import make_kyc_verified
from tests.conftest import Harness

_mobiles = itertools.count(1)

MUMBAI: dict[str, Any] = {
    "address": "123 Main Street",
    "city": "Mumbai",
    "state": "Maharashtra",
    "pincode": "400001",
    "coordinates": {"lat": 19.076, "lng": 72.8777},
}
DELHI: dict[str, Any] = {
    "address": "456 Park Avenue",
    "city": "Delhi",
    "state": "Delhi",
    "pincode": "110001",
    "coordinates": {"lat": 28.6139, "lng": 77.209},
}


def next_mobile() -> str:
    """Phones of the +9193 block, which no other test module uses."""
    return f"+9193{next(_mobiles) % 100_000_000:08d}"


async def shipper_session(h: Harness, mobile: str | None = None) -> Session:
    """A signed-up shipper whose KYC is NOT_SUBMITTED (ACS RF01 refuses their bookings)."""
    return await sign_up(h, mobile or next_mobile(), role=Role.SHIPPER, name="Patel Cements")


async def verified_shipper(
    h: Harness, *, kyc_admin: Session | None = None, mobile: str | None = None
) -> Session:
    """A shipper with Aadhaar and PAN uploaded and verified through the KYC API. Pass one
    `kyc_admin` session when a test verifies several users (see `make_kyc_verified`)."""
    session = await shipper_session(h, mobile)
    await make_kyc_verified(h, session, role=Role.SHIPPER, kyc_admin=kyc_admin)
    return session


async def session_with_role(h: Harness, role: Role) -> Session:
    """Any role, created the way staff and drivers are (not through self-sign-up)."""
    mobile = next_mobile()
    await create_user_directly(h, mobile, role)
    return await sign_in(h, mobile)


def booking_body(**overrides: Any) -> dict[str, Any]:
    """The contract's example request (Mumbai -> Delhi, 5 t of cement) without a price range,
    so the estimator proposes one; keyword arguments replace top-level fields."""
    body: dict[str, Any] = {
        "pickup": dict(MUMBAI, coordinates=dict(MUMBAI["coordinates"])),
        "drop": dict(DELHI, coordinates=dict(DELHI["coordinates"])),
        "goods": {"type": "Cement", "weight": 5000, "packaging": "Bags"},
        "tonnage": 5.0,
    }
    body.update(overrides)
    return body


async def post_booking(h: Harness, session: Session, body: dict[str, Any] | None = None) -> httpx.Response:
    return await h.client.post("/v1/bookings", json=body or booking_body(), headers=session.headers)


async def create_booking(h: Harness, session: Session, **overrides: Any) -> dict[str, Any]:
    """Create a booking (201 asserted) and return the Booking the API answered."""
    response = await post_booking(h, session, booking_body(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def cancel_booking(
    h: Harness, session: Session, booking_id: str, reason: str | None = None
) -> httpx.Response:
    body = {"reason": reason} if reason is not None else {}
    return await h.client.post(f"/v1/bookings/{booking_id}/cancel", json=body, headers=session.headers)
