"""Driver use cases: an operator creates a driver account in its fleet (PRODUCT §5); the driver
then signs in with a login code like any user and does KYC like any user.

The licence number is encrypted with the driver's own data key (it is the driver's personal
data: erasing the driver shreds it), bound to its record by the associated data
`driver:{userId}:licence`. In clear only its masked form and its keyed hash are kept; the hash
is `kyc.numbers.number_hash` of the normalised number, the same as a LICENSE KYC document's, so
one licence can back one driver account only and matches its KYC document.
"""

from __future__ import annotations

from datetime import date

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound, ValidationFailed
from rodistaa.core.ids import new_user_id
from rodistaa.core.roles import Role
from rodistaa.drivers import repo
from rodistaa.drivers.errors import LicenceTaken
from rodistaa.drivers.repo import DriverRecord, LicenceAlreadyRegistered
from rodistaa.fleet.status import business_date
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.kyc.numbers import DocumentType, mask, number_hash
from rodistaa.security.envelope import encrypt_text
from rodistaa.users import repo as users_repo
from rodistaa.users.errors import MobileTaken
from rodistaa.users.repo import MobileAlreadyRegistered


def licence_aad(driver_id: str) -> bytes:
    return f"driver:{driver_id}:licence".encode()


class DriverService:
    def __init__(self, services: Services) -> None:
        self._s = services

    async def create(
        self, actor: Actor, *, name: str, mobile: str, licence_number: str, licence_expiry: date
    ) -> DriverRecord:
        """`licence_number` is already normalised. Raises ValidationFailed (expiry not after
        today, the Indian calendar date), MobileTaken and LicenceTaken (409); on any error
        nothing is written, the user row included."""
        now = self._s.clock.now()
        if licence_expiry <= business_date(now):
            raise ValidationFailed.for_field("licenceExpiry", "must be after today")
        driver_id = new_user_id(Role.DRIVER.value)
        licence_hash = number_hash(self._s.settings.hmac_key.encode(), DocumentType.LICENSE, licence_number)
        async with self._s.db.transaction() as conn:
            try:
                await users_repo.insert(
                    conn,
                    user_id=driver_id,
                    mobile=mobile,
                    name=name,
                    email=None,
                    role=Role.DRIVER,
                    created_by=actor.user_id,
                    now=now,
                )
            except MobileAlreadyRegistered as exc:
                raise MobileTaken() from exc
            key = await self._s.data_keys.for_writing(conn, driver_id, now=now)
            try:
                await repo.insert(
                    conn,
                    user_id=driver_id,
                    operator_id=actor.user_id,
                    licence_ciphertext=encrypt_text(key, licence_number, licence_aad(driver_id)),
                    licence_masked=mask(DocumentType.LICENSE, licence_number),
                    licence_hash=licence_hash,
                    licence_expiry=licence_expiry,
                    now=now,
                )
            except LicenceAlreadyRegistered as exc:
                raise LicenceTaken() from exc
            driver = await repo.get_by_id(conn, driver_id)
            data = {"role": Role.DRIVER.value, "operatorId": actor.user_id}
            await append(
                conn, AuditEntryDraft(actor.user_id, "driver.created", "user", driver_id, data), now=now
            )
        return driver

    async def get(self, actor: Actor, driver_id: str) -> DriverRecord:
        async with self._s.db.read() as conn:
            driver = await repo.get_visible(conn, actor, driver_id)
        if driver is None:
            raise NotFound()
        return driver

    async def list_visible(self, actor: Actor, *, page: PageRequest) -> tuple[list[DriverRecord], int]:
        async with self._s.db.read() as conn:
            return await repo.list_visible(conn, actor, offset=page.offset, limit=page.limit)


def shows_mobile(actor: Actor, driver: DriverRecord) -> bool:
    """The driver and the operator whose fleet they are in see the full number; an admin is
    another party and sees it masked (PRODUCT §1)."""
    return actor.user_id in (driver.user_id, driver.operator_id)
