"""ACS facts for the fleet's events (`truck.create`, `doc.uploaded`), per the context contract
(`rodistaa.acs.contract`).

Chassis numbers reach ACS only as SHA-256 fingerprints (`truck.chassisNumberInRegistry`,
`doc.ocr.chassisNumber`): RF11 compares them for equality, which fingerprints answer just as
well, and the evaluated context is stored for backtests where a clear chassis number must not
end up (it is encrypted everywhere else).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rodistaa.acs.facts import Answerer
from rodistaa.db.engine import Database
from rodistaa.fleet import repo
from rodistaa.fleet.repo import TruckRecord


def chassis_fingerprint(normalised_chassis: str) -> str:
    """The hash kept next to the encrypted chassis number, and what ACS compares."""
    return hashlib.sha256(normalised_chassis.encode()).hexdigest()


def epoch_ms(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1000) if at is not None else None


def truck_names(truck: TruckRecord, *, registry_chassis: str | None = None) -> dict[str, Any]:
    """`truck` as the contract names it; `chassisNumberInRegistry` is a fingerprint or None."""
    return {
        "id": truck.id,
        "registrationNumber": truck.registration_number,
        "operatorId": truck.operator_id,
        "status": truck.effective_status.value,
        "vehicleType": truck.vehicle_type,
        "bodyType": truck.body_type,
        "tyres": truck.tyres,
        "capacityTonnes": float(truck.capacity_tonnes),
        "modelYear": truck.model_year,
        "emission": truck.emission,
        "permitType": truck.permit_type,
        "chassisNumberInRegistry": chassis_fingerprint(registry_chassis) if registry_chassis else None,
        "lastInspectionAt": epoch_ms(truck.last_inspected_at),
    }


def operator_names(operator_id: str, *, status: str, kyc_status: str, active_trucks: int) -> dict[str, Any]:
    # The ledger arrives with bidding; no fleet rule reads the balance.
    return {
        "id": operator_id,
        "status": status,
        "kycStatus": kyc_status,
        "ledgerBalance": None,
        "activeTrucks": active_trucks,
    }


def fleet_answerers(db: Database) -> Mapping[str, Answerer]:
    """Data-backed functions the fleet rules call (RF12, RF22). Each answers with one query on
    its own read-only connection, before evaluation starts."""

    async def trucks_by_operator(args: tuple[Any, ...]) -> int | None:
        if len(args) != 1 or not isinstance(args[0], str):
            return None
        async with db.read() as conn:
            return await repo.count_counted_trucks(conn, args[0])

    async def maintenance_window_active(args: tuple[Any, ...]) -> bool | None:
        if len(args) != 2 or not isinstance(args[1], int | float) or not isinstance(args[0], str | None):
            return None
        at = datetime.fromtimestamp(args[1] / 1000, UTC)
        async with db.read() as conn:
            return await repo.maintenance_window_active(conn, args[0], at)

    return {
        "db.count.trucksByOperator": trucks_by_operator,
        "operator.maintenanceWindowActive": maintenance_window_active,
    }
