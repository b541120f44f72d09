"""People with distinctive personal data, the two GDPR calls, and a search of every text column
of every table, shared by the export and erasure tests. Every step asserts its own status.

    person = await kyc_verified_person(h, Role.SHIPPER, kyc_admin, name="Meenakshi Agro Traders")
    bundle = await export_json(h, person.session)
    await erase(h, admin, person.user_id)
    assert await text_columns_containing(h, person.personal_strings()) == []
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import String, func, or_, select

from rodistaa.core.roles import Role
from rodistaa.db.schema import metadata
from tests.api.flows import Session, login
from tests.api.kyc_flows import aadhaar_number, pan_number, png_file, upload_document, verify_document
from tests.conftest import Harness

ERASE_REASON = "Erasure requested by the person, support ticket SUP-2024-0117"


def distinct_mobile() -> str:
    """A random phone of the +9189 block, which no other test module uses: a search for it
    can only find what this test wrote."""
    return "+9189" + "".join(secrets.choice("0123456789") for _ in range(8))


@dataclass
class Person:
    """A signed-up user and every personal string the platform holds about them."""

    session: Session
    name: str
    mobile: str
    email: str
    document_numbers: dict[str, str] = field(default_factory=dict)
    kyc_ids: dict[str, str] = field(default_factory=dict)
    kyc_files: dict[str, bytes] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        return self.session.user_id

    def personal_strings(self) -> list[str]:
        """Name, phone in every form the platform could hold it (+91…, 10 digits), e-mail and
        document numbers."""
        return [
            self.name,
            self.mobile,
            self.mobile.removeprefix("+91"),
            self.email,
            *self.document_numbers.values(),
        ]


async def registered_person(h: Harness, role: Role, *, name: str, device_id: str | None = None) -> Person:
    """Self-registration (SHIPPER or OPERATOR) with an e-mail, on an optional device."""
    mobile = distinct_mobile()
    email = f"{secrets.token_hex(5)}@example.org"
    first = await login(h, mobile, device_id=device_id)
    response = await h.client.post(
        "/v1/users/register",
        json={"name": name, "role": role.value, "email": email},
        headers={"Authorization": f"Bearer {first['token']}"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Person(Session(body["id"], body["token"], body["refreshToken"], device_id), name, mobile, email)


async def kyc_verified_person(
    h: Harness, role: Role, kyc_admin: Session, *, name: str, device_id: str | None = None
) -> Person:
    """A registered person whose Aadhaar and PAN (numbers known to the test) were uploaded and
    verified through the KYC API, so they decrypt with the person's data key."""
    person = await registered_person(h, role, name=name, device_id=device_id)
    for document_type, number in (("AADHAAR", aadhaar_number()), ("PAN", pan_number())):
        content = png_file(document_type.encode())
        record = await upload_document(h, person.session, document_type, number=number, content=content)
        await verify_document(h, kyc_admin, record["id"])
        person.document_numbers[document_type] = number
        person.kyc_ids[document_type] = record["id"]
        person.kyc_files[document_type] = content
    return person


def mid_range(booking: dict[str, Any]) -> int:
    """A bid amount inside the booking's price range."""
    return int((booking["priceRange"]["min"] + booking["priceRange"]["max"]) // 2)


async def export_response(h: Harness, session: Session) -> httpx.Response:
    return await h.client.get("/v1/users/me/export", headers=session.headers)


async def export_json(h: Harness, session: Session) -> dict[str, Any]:
    response = await export_response(h, session)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def erase_response(
    h: Harness, admin: Session, user_id: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await h.client.post(
        f"/v1/admin/users/{user_id}/erase",
        json={"reason": ERASE_REASON} if body is None else body,
        headers=admin.headers,
    )


async def erase(h: Harness, admin: Session, user_id: str) -> dict[str, Any]:
    response = await erase_response(h, admin, user_id)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def text_columns_containing(h: Harness, needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every text column of every table holding one of `needles`
    (case-insensitive). One query per table; the matches are pinned down in Python."""
    lowered = [n.lower() for n in needles]
    found: set[tuple[str, str, str]] = set()
    async with h.app.state.services.db.read() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String)]
            if not columns:
                continue
            condition = or_(*[func.lower(c).contains(n, autoescape=True) for c in columns for n in lowered])
            for row in (await conn.execute(select(*columns).where(condition))).all():
                for column, value in zip(columns, row, strict=True):
                    found.update(
                        (table.name, column.name, needle)
                        for needle, low in zip(needles, lowered, strict=True)
                        if value is not None and low in str(value).lower()
                    )
    return sorted(found)
