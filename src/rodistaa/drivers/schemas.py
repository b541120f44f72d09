"""API models of drivers. The licence number never leaves the service, only its masked form;
the phone number is shown in full to the driver and to the operator whose fleet they are in
(the operator created the account with it and is not "another party"), masked to anyone else."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.core.phone import mask_phone
from rodistaa.drivers.repo import DriverRecord
from rodistaa.kyc.numbers import MAX_INPUT_LENGTH, DocumentType, normalise
from rodistaa.users.schemas import Mobile, PersonName


def _normalise_licence(value: str) -> str:
    return normalise(DocumentType.LICENSE, value)  # InvalidDocumentNumber is a ValueError


LicenceNumber = Annotated[
    str, StringConstraints(max_length=MAX_INPUT_LENGTH), AfterValidator(_normalise_licence)
]


class DriverCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PersonName
    mobile: Mobile
    licenceNumber: LicenceNumber = Field(description="Sarathi format, e.g. MH12 20110012345")
    licenceExpiry: date = Field(description="Must be after today")


class DriverOut(BaseModel):
    id: str
    name: str
    mobileMasked: str
    mobile: str | None = Field(
        default=None, description="Only to the driver and to the operator whose fleet they are in"
    )
    operatorId: str
    status: str
    licenceMasked: str
    licenceExpiry: date
    createdAt: datetime

    @classmethod
    def of(cls, driver: DriverRecord, *, show_mobile: bool) -> DriverOut:
        return cls(
            id=driver.user_id,
            name=driver.name,
            mobileMasked=mask_phone(driver.mobile),
            mobile=driver.mobile if show_mobile else None,
            operatorId=driver.operator_id,
            status=driver.status,
            licenceMasked=driver.licence_masked,
            licenceExpiry=driver.licence_expiry,
            createdAt=driver.created_at,
        )
