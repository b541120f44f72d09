"""Freight fixtures written straight into the database, for tests of one step of the trip
(tracking, delivery, shipment moves) that should not replay the whole marketplace to get there.
The end-to-end test (`test_freight_journey.py`) drives every step over HTTP instead.

Users are real (they sign in and hold tokens); their KYC is marked VERIFIED by inserting
verified documents, as the KYC admin's decision would leave them."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from rodistaa.bids.tables import bids
from rodistaa.bookings.tables import bookings
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.drivers.tables import drivers
from rodistaa.kyc.status import REQUIRED_DOCUMENTS
from rodistaa.kyc.tables import kyc_documents
from rodistaa.shipments.status import EN_ROUTE_STATUSES, ShipmentStatus
from rodistaa.shipments.tables import shipments
from tests.api.booking_flows import DELHI, MUMBAI
from tests.api.flows import Session, create_user_directly, sign_in, sign_up
from tests.api.onboarding_setup import insert_truck
from tests.conftest import Harness

_numbers = itertools.count(1)


def next_mobile() -> str:
    """Phones of the +9194 block, which no other test module uses."""
    return f"+9194{next(_numbers) % 100_000_000:08d}"


def next_registration() -> str:
    n = next(_numbers)
    return f"KA{n % 100:02d}FR{n % 10_000:04d}"


async def mark_kyc_verified(h: Harness, user_id: str, role: Role) -> None:
    now = h.clock.now()
    async with h.app.state.services.db.transaction() as conn:
        for document_type in REQUIRED_DOCUMENTS[role]:
            digest = hashlib.sha256(f"{user_id}:{document_type}".encode()).hexdigest()
            await conn.execute(
                kyc_documents.insert().values(
                    id=new_id("KYC"),
                    user_id=user_id,
                    document_type=document_type,
                    status="VERIFIED",
                    number_ciphertext="seeded",
                    number_masked="XXXX",
                    number_hash=digest,
                    storage_key=f"seeded/{digest}",
                    content_type="application/pdf",
                    size_bytes=1,
                    reviewed_by="seed",
                    reviewed_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )


async def verified_user(h: Harness, role: Role, *, name: str | None = None) -> Session:
    """A signed-in user of `role` with verified KYC (drivers are not created here: see
    `fleet_driver`)."""
    mobile = next_mobile()
    if role in (Role.SHIPPER, Role.OPERATOR):
        session = await sign_up(h, mobile, role=role, name=name or f"{role.value.title()} Co")
    else:
        await create_user_directly(h, mobile, role, name or f"{role.value.title()} User")
        session = await sign_in(h, mobile)
    await mark_kyc_verified(h, session.user_id, role)
    return session


async def fleet_driver(h: Harness, operator_id: str, *, verified: bool = True) -> Session:
    """A driver of `operator_id`'s fleet, signed in on a device of their own."""
    mobile = next_mobile()
    user_id = await create_user_directly(h, mobile, Role.DRIVER, "Ravi Kumar")
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            drivers.insert().values(
                user_id=user_id,
                operator_id=operator_id,
                licence_ciphertext="seeded",
                licence_masked="XXXX",
                licence_hash=hashlib.sha256(user_id.encode()).hexdigest(),
                licence_expiry=h.clock.now().date().replace(year=h.clock.now().year + 2),
                created_at=h.clock.now(),
            )
        )
    if verified:
        await mark_kyc_verified(h, user_id, Role.DRIVER)
    return await sign_in(h, mobile, device_id=f"DEV-{user_id[-12:]}")


async def active_fleet_truck(h: Harness, operator_id: str) -> str:
    return await insert_truck(
        h,
        operator_id,
        registration=next_registration(),
        unit_id=None,
        status="ACTIVE",
        last_inspected_at=h.clock.now(),
    )


def place_values(place: dict[str, Any], prefix: str) -> dict[str, Any]:
    """An API `Location` as the `<prefix>_*` columns of bookings and shipments."""
    return {
        f"{prefix}_address": place["address"],
        f"{prefix}_city": place["city"],
        f"{prefix}_state": place["state"],
        f"{prefix}_pincode": place["pincode"],
        f"{prefix}_lat": place["coordinates"]["lat"],
        f"{prefix}_lng": place["coordinates"]["lng"],
    }


async def insert_booking(
    h: Harness,
    shipper_id: str,
    *,
    block: str,
    tonnage: Decimal,
    distance_km: Decimal,
    expected_paise: int,
    min_paise: int,
    max_paise: int,
    status: str = "OPEN",
    auto_finalize_at: datetime | None = None,
    finalized_at: datetime | None = None,
) -> str:
    """A Mumbai -> Delhi booking of cement as the bookings API stores it, with exact figures
    (the API computes the distance from coordinates). Ids use the day's `<block>` letter, a
    range no API booking can take; the default deadline is 24 h from now."""
    now = h.clock.now()
    booking_id = f"RID-{now:%Y%m%d}-{block}{next(_numbers):06d}"
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            bookings.insert().values(
                id=booking_id,
                shipper_id=shipper_id,
                **place_values(MUMBAI, "pickup"),
                **place_values(DELHI, "drop"),
                goods_type="Cement",
                goods_weight=None,
                goods_packaging=None,
                tonnage=tonnage,
                distance_km=distance_km,
                expected_price_paise=expected_paise,
                price_min_paise=min_paise,
                price_max_paise=max_paise,
                pickup_date=None,
                status=status,
                auto_finalize_at=auto_finalize_at or now + timedelta(hours=24),
                finalized_at=finalized_at,
                created_at=now,
                updated_at=now,
            )
        )
    return booking_id


@dataclass
class Trip:
    """A finalized booking and its shipment, with every party signed in."""

    shipper: Session
    operator: Session
    driver: Session | None
    truck_id: str | None
    booking_id: str
    bid_id: str
    shipment_id: str
    extra: dict[str, Any] = field(default_factory=dict)


async def seeded_trip(
    h: Harness,
    *,
    status: ShipmentStatus = ShipmentStatus.IN_TRANSIT,
    shipper: Session | None = None,
    operator: Session | None = None,
    driver: Session | None = None,
    agreed_price_paise: int = 15_000_000,
    started_at: datetime | None = None,
) -> Trip:
    """A Mumbai -> Delhi trip of 5 t whose shipment is stored in `status`. From
    DRIVER_PENDING_APPROVAL on it has a driver and an ACTIVE truck; en route it has a start
    time (default: now). No delivery OTP is issued here."""
    shipper = shipper or await verified_user(h, Role.SHIPPER)
    operator = operator or await verified_user(h, Role.OPERATOR)
    with_driver = status is not ShipmentStatus.ASSIGNED
    if with_driver and driver is None:
        driver = await fleet_driver(h, operator.user_id)
    truck_id = await active_fleet_truck(h, operator.user_id) if with_driver else None
    now = h.clock.now()
    booking_id = await insert_booking(
        h,
        shipper.user_id,
        block="S",
        tonnage=Decimal("5.00"),
        distance_km=Decimal("1491.58"),
        expected_paise=agreed_price_paise,
        min_paise=agreed_price_paise // 2,
        max_paise=agreed_price_paise * 2,
        status="FINALIZED",
        auto_finalize_at=now,
        finalized_at=now,
    )
    bid_id, shipment_id = new_id("BK"), new_id("SH")
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            bids.insert().values(
                id=bid_id,
                booking_id=booking_id,
                operator_id=operator.user_id,
                truck_id=None,
                amount_paise=agreed_price_paise,
                fee_paise=0,
                notes=None,
                status="ACCEPTED",
                created_at=now,
                updated_at=now,
            )
        )
        en_route = status in EN_ROUTE_STATUSES or status is ShipmentStatus.COMPLETED
        await conn.execute(
            shipments.insert().values(
                id=shipment_id,
                booking_id=booking_id,
                bid_id=bid_id,
                shipper_id=shipper.user_id,
                operator_id=operator.user_id,
                driver_id=driver.user_id if with_driver and driver else None,
                truck_id=truck_id,
                **place_values(MUMBAI, "pickup"),
                **place_values(DELHI, "drop"),
                goods_type="Cement",
                tonnage=Decimal("5.00"),
                distance_km=Decimal("1491.58"),
                agreed_price_paise=agreed_price_paise,
                status=status.value,
                driver_approved_at=now
                if status not in (ShipmentStatus.ASSIGNED, ShipmentStatus.DRIVER_PENDING_APPROVAL)
                else None,
                started_at=(started_at or now) if en_route else None,
                created_at=now,
                updated_at=now,
            )
        )
    return Trip(shipper, operator, driver if with_driver else None, truck_id, booking_id, bid_id, shipment_id)
