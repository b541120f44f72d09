"""Seed the load test's population into an empty database, fast, and write it out as JSON.

    .venv/bin/python bench/load/seed.py --out var/load/population.json \
        --shippers 400 --operators 150 --drivers-per-operator 8

It runs with the server's environment (DATABASE_URL, secrets, REDIS_URL) and goes through the
services wherever a user could: accounts are created by the user service, operators' deposits
are recorded by the ledger service as an admin would, and every user signs in through the auth
service with a real SMS code (captured here instead of sent), so the tokens are real sessions.
Two things are written straight into the tables, as the test fixtures do, because the API path
needs human review: KYC documents marked VERIFIED, and trucks ACTIVE after a passed inspection
with valid papers.

This is a benchmark tool: it must never be pointed at a database that holds real users.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rodistaa.app import build_services
from rodistaa.core.clock import SystemClock
from rodistaa.core.ids import new_id, new_truck_id
from rodistaa.core.roles import Role
from rodistaa.db.tables import users
from rodistaa.drivers.tables import drivers
from rodistaa.fleet.status import REQUIRED_DOCUMENTS as TRUCK_DOCUMENTS
from rodistaa.fleet.tables import truck_documents, trucks
from rodistaa.http.services import Services
from rodistaa.kyc.status import REQUIRED_DOCUMENTS
from rodistaa.kyc.tables import kyc_documents
from rodistaa.ledger.service import LedgerService
from rodistaa.ops.logging import configure_logging
from rodistaa.settings import load_settings

DEPOSIT_PAISE = 50_000_000  # ₹5 lakh: thousands of bidding fees
PARALLEL = 8  # concurrent seeding tasks; the pool holds ten connections
_serial = itertools.count(1)

SHIPPER_NAMES = ("Patel Cements", "Shree Steel", "Kaveri Agro", "Deccan Textiles", "Sahyadri Foods")
OPERATOR_NAMES = ("Sharma Roadlines", "Verma Transport", "Singh Carriers", "Reddy Logistics")
DRIVER_NAMES = ("Ravi Kumar", "Ramesh Yadav", "Suresh Patil", "Manoj Singh", "Anil Gowda")


@dataclass
class Participant:
    """A signed-in user as the load generator needs them. `ip` is the client address the load
    generator claims through X-Forwarded-For (a trusted proxy's header), so per-IP limits see
    one address per person, as behind a real load balancer."""

    id: str
    mobile: str
    token: str
    refresh: str
    ip: str
    device: str | None = None


@dataclass
class Operator(Participant):
    fleet: list[dict[str, Any]] = field(default_factory=list)  # [{"driver": Participant, "truck": id}]


class CapturedCodes:
    """The OTP sender for seeding: keeps the last code per phone instead of sending an SMS."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}

    async def send(self, mobile: str, code: str, ttl_s: int) -> None:
        self.codes[mobile] = code


def next_mobile() -> str:
    return f"+9170{next(_serial):08d}"


def next_ip() -> str:
    n = next(_serial)
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


async def mark_kyc_verified(services: Services, user_id: str, role: Role) -> None:
    now = services.clock.now()
    async with services.db.transaction() as conn:
        for document_type in REQUIRED_DOCUMENTS.get(role, ()):
            digest = hashlib.sha256(f"load-seed:{user_id}:{document_type}".encode()).hexdigest()
            await conn.execute(
                kyc_documents.insert().values(
                    id=new_id("KYC"),
                    user_id=user_id,
                    document_type=document_type,
                    status="VERIFIED",
                    number_ciphertext="load-seed",
                    number_masked="XXXX",
                    number_hash=digest,
                    storage_key=f"load-seed/{digest}",
                    content_type="application/pdf",
                    size_bytes=1,
                    reviewed_by="load-seed",
                    reviewed_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )


async def sign_in(services: Services, codes: CapturedCodes, mobile: str, ip: str, device: str | None) -> Any:
    await services.auth.request_otp(mobile, client_ip=ip)
    result = await services.auth.login(mobile, codes.codes.pop(mobile), device_id=device, client_ip=ip)
    assert result.user is not None and result.tokens is not None, "seeded users exist"
    return result


async def new_participant(
    services: Services, codes: CapturedCodes, role: Role, name: str, *, device: bool = False
) -> Participant:
    mobile, ip = next_mobile(), next_ip()
    user = await services.users.create_user(
        mobile=mobile, name=name, role=role, email=None, created_by="load-seed"
    )
    await mark_kyc_verified(services, user.id, role)
    device_id = f"LOAD-{user.id[-12:]}" if device else None
    result = await sign_in(services, codes, mobile, ip, device_id)
    return Participant(
        user.id, mobile, result.tokens.access_token, result.tokens.refresh_token, ip, device_id
    )


async def add_driver(services: Services, codes: CapturedCodes, operator_id: str) -> Participant:
    mobile, ip = next_mobile(), next_ip()
    name = DRIVER_NAMES[next(_serial) % len(DRIVER_NAMES)]
    user = await services.users.create_user(
        mobile=mobile, name=name, role=Role.DRIVER, email=None, created_by="load-seed"
    )
    async with services.db.transaction() as conn:
        await conn.execute(
            drivers.insert().values(
                user_id=user.id,
                operator_id=operator_id,
                licence_ciphertext="load-seed",
                licence_masked="XXXX",
                licence_hash=hashlib.sha256(f"load-seed:{user.id}".encode()).hexdigest(),
                licence_expiry=date.today() + timedelta(days=700),
                created_at=services.clock.now(),
            )
        )
    await mark_kyc_verified(services, user.id, Role.DRIVER)
    device = f"LOAD-{user.id[-12:]}"
    result = await sign_in(services, codes, mobile, ip, device)
    return Participant(user.id, mobile, result.tokens.access_token, result.tokens.refresh_token, ip, device)


async def add_truck(services: Services, operator_id: str) -> str:
    n = next(_serial)
    registration = f"MH{n % 50 + 1:02d}LT{n % 10_000:04d}"
    truck_id = new_truck_id(registration)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        await conn.execute(
            trucks.insert().values(
                id=truck_id,
                operator_id=operator_id,
                registration_number=registration,
                vehicle_type="HGV",
                body_type="OPEN",
                tyres=10,
                capacity_tonnes=16,
                model_year=2021,
                emission="BS6",
                permit_type="NATIONAL",
                chassis_ciphertext="load-seed",
                chassis_hash=hashlib.sha256(f"load-seed:{truck_id}".encode()).hexdigest(),
                base_lat=18.5204,
                base_lng=73.8567,
                franchise_unit_id=None,
                status="ACTIVE",
                last_inspected_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        for doc_type in TRUCK_DOCUMENTS:  # valid papers: the document-expiry job keeps it ACTIVE
            digest = hashlib.sha256(f"load-seed:{truck_id}:{doc_type}".encode()).hexdigest()
            await conn.execute(
                truck_documents.insert().values(
                    id=new_id("TDOC"),
                    truck_id=truck_id,
                    doc_type=doc_type.value,
                    expiry_date=now.date() + timedelta(days=365),
                    storage_key=f"load-seed/{digest}",
                    content_type="application/pdf",
                    size_bytes=1,
                    file_sha256=digest,
                    uploaded_by=operator_id,
                    created_at=now,
                )
            )
    return truck_id


async def bounded(tasks: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(PARALLEL)

    async def run(task: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await task()

    return await asyncio.gather(*(run(task) for task in tasks))


async def seed(args: argparse.Namespace) -> dict[str, Any]:
    settings = load_settings()
    configure_logging("WARNING", stream=sys.stderr)
    codes = CapturedCodes()
    services = await build_services(settings, clock=SystemClock(), otp_sender=codes)
    try:
        async with services.db.read() as conn:
            if (await conn.execute(select(func.count()).select_from(users))).scalar_one():
                raise SystemExit("seed.py: the database already has users; seed an empty one")
        admin = await new_participant(services, codes, Role.ADMIN, "Load Test Admin")
        admin_actor = await services.auth.authenticate(admin.token, device_header=None)
        ledger = LedgerService(services)

        async def operator(n: int) -> Operator:
            base = await new_participant(
                services, codes, Role.OPERATOR, OPERATOR_NAMES[n % len(OPERATOR_NAMES)]
            )
            await ledger.deposit(
                admin_actor,
                operator_id=base.id,
                amount_paise=DEPOSIT_PAISE,
                external_reference=f"LOAD-SEED-{base.id}",
                description="load test float",
            )
            fleet = []
            for _ in range(args.drivers_per_operator):
                driver = await add_driver(services, codes, base.id)
                fleet.append({"driver": asdict(driver), "truck": await add_truck(services, base.id)})
            return Operator(**asdict(base), fleet=fleet)

        shippers = await bounded(
            [
                lambda n=n: new_participant(
                    services, codes, Role.SHIPPER, SHIPPER_NAMES[n % len(SHIPPER_NAMES)]
                )
                for n in range(args.shippers)
            ]
        )
        operators = await bounded([lambda n=n: operator(n) for n in range(args.operators)])
        return {
            "apiBaseUrl": settings.api_base_url,
            "shippers": [asdict(s) for s in shippers],
            "operators": [asdict(o) for o in operators],
        }
    finally:
        await services.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shippers", type=int, default=400)
    parser.add_argument("--operators", type=int, default=150)
    parser.add_argument("--drivers-per-operator", type=int, default=8)
    args = parser.parse_args()
    population = asyncio.run(seed(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(population))
    args.out.chmod(0o600)  # it holds live tokens
    drivers_total = sum(len(o["fleet"]) for o in population["operators"])
    print(
        f"seeded {len(population['shippers'])} shippers, {len(population['operators'])} operators, "
        f"{drivers_total} drivers and trucks",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
