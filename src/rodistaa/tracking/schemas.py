"""API models of tracking (contract: `GpsPingRequest`, `GpsPing`).

`POST /tracking/ping` takes the contract's single ping `{shipmentId, coordinates, speed?,
heading?}` plus `timestamp?`, `accuracy?` and `mockLocation?`, or a batch `{shipmentId,
pings: [...]}` of up to 500 fixes, each with its own (required) timestamp: a device that was
offline uploads what it buffered, and fixes without times could be neither ordered nor told
apart. Speeds are km/h, headings degrees clockwise from north in [0, 360), accuracy metres.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.core.errors import ValidationFailed
from rodistaa.core.timestamps import ApiDatetime
from rodistaa.tracking.repo import AlertRecord, PingDraft, PingRecord, PositionRecord

MAX_BATCH_PINGS = 500
# Beyond any ground vehicle: a larger figure is a broken client, not a fast truck. Implausible
# but possible figures are stored, since they are evidence for the spoof heuristic.
MAX_REPORTED_SPEED_KMH = 1000.0
MAX_ACCURACY_M = 100_000.0

ShipmentIdText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
SpeedKmh = Annotated[float, Field(ge=0, le=MAX_REPORTED_SPEED_KMH, allow_inf_nan=False)]
HeadingDegrees = Annotated[float, Field(ge=0, lt=360, allow_inf_nan=False)]
AccuracyMetres = Annotated[float, Field(ge=0, le=MAX_ACCURACY_M, allow_inf_nan=False)]


class Coordinates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: Latitude
    lng: Longitude


class BatchFix(BaseModel):
    """One fix of a batch."""

    model_config = ConfigDict(extra="forbid")

    coordinates: Coordinates
    speed: SpeedKmh | None = None
    heading: HeadingDegrees | None = None
    timestamp: ApiDatetime
    accuracy: AccuracyMetres | None = None
    mockLocation: bool = False

    def draft(self) -> PingDraft:
        return PingDraft(
            lat=self.coordinates.lat,
            lng=self.coordinates.lng,
            speed_kmh=self.speed,
            heading=self.heading,
            accuracy_m=self.accuracy,
            mock_location=self.mockLocation,
            recorded_at=self.timestamp,
        )


_SINGLE_PING_FIELDS = ("coordinates", "speed", "heading", "timestamp", "accuracy", "mockLocation")


class PingRequest(BaseModel):
    """A single ping (the contract's fields at the top level) or a batch (`pings`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "shipmentId": "SH-01J9Z9D5F7H9K1M3P5R7T9V1X3",
                    "coordinates": {"lat": 21.1458, "lng": 79.0882},
                    "speed": 54.5,
                    "heading": 12.0,
                    "accuracy": 8.0,
                },
                {
                    "shipmentId": "SH-01J9Z9D5F7H9K1M3P5R7T9V1X3",
                    "pings": [
                        {
                            "coordinates": {"lat": 21.1401, "lng": 79.0851},
                            "timestamp": "2024-01-16T14:00:00Z",
                        },
                        {
                            "coordinates": {"lat": 21.1458, "lng": 79.0882},
                            "timestamp": "2024-01-16T14:01:00Z",
                        },
                    ],
                },
            ]
        },
    )

    shipmentId: ShipmentIdText
    coordinates: Coordinates | None = None
    speed: SpeedKmh | None = None
    heading: HeadingDegrees | None = None
    timestamp: ApiDatetime | None = Field(default=None, description="When the fix was taken (default: now)")
    accuracy: AccuracyMetres | None = None
    mockLocation: bool | None = None
    pings: list[BatchFix] | None = Field(default=None, min_length=1, max_length=MAX_BATCH_PINGS)

    def drafts(self, now: datetime) -> list[tuple[str, PingDraft]]:
        """Each fix with the field path it came from (`""` for a single ping, `pings.3.` for a
        batch item), in request order. Raises ValidationFailed for a body that is neither a
        single ping nor a batch, or mixes the two."""
        if self.pings is None:
            if self.coordinates is None:
                raise ValidationFailed.for_field("coordinates", "required (or send a batch in pings)")
            draft = PingDraft(
                lat=self.coordinates.lat,
                lng=self.coordinates.lng,
                speed_kmh=self.speed,
                heading=self.heading,
                accuracy_m=self.accuracy,
                mock_location=bool(self.mockLocation),
                recorded_at=self.timestamp or now,
            )
            return [("", draft)]
        mixed = [name for name in _SINGLE_PING_FIELDS if name in self.model_fields_set]
        if mixed:
            raise ValidationFailed.for_field(
                mixed[0], "not allowed next to pings: put it in each fix of the batch"
            )
        return [(f"pings.{i}.", fix.draft()) for i, fix in enumerate(self.pings)]


class LatestFix(BaseModel):
    coordinates: Coordinates
    recordedAt: datetime


class PingAccepted(BaseModel):
    """`accepted` new fixes stored; `duplicates` exact copies of a fix already stored (or
    repeated within the request) for the same time; `conflicts` fixes for a time already stored
    with DIFFERENT coordinates, not stored (the first fix of a time stays) and logged; `frozen`
    whether the shipment is frozen after this request's ACS checks."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": 1,
                    "duplicates": 0,
                    "conflicts": 0,
                    "frozen": False,
                    "latest": {
                        "coordinates": {"lat": 21.1458, "lng": 79.0882},
                        "recordedAt": "2024-01-16T14:01:00Z",
                    },
                }
            ]
        }
    )

    accepted: int
    duplicates: int
    conflicts: int
    frozen: bool
    latest: LatestFix


def _absent_when_none(value: object) -> bool:
    return value is None


class GpsPingOut(BaseModel):
    """The contract's `GpsPing`, plus the fix's accuracy. A figure the device did not report is
    absent, never null (the contract types `speed` and `heading` as numbers)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "shipmentId": "SH-01J9Z9D5F7H9K1M3P5R7T9V1X3",
                    "coordinates": {"lat": 21.1458, "lng": 79.0882},
                    "speed": 54.5,
                    "heading": 12.0,
                    "timestamp": "2024-01-16T14:01:00Z",
                    "accuracy": 8.0,
                }
            ]
        }
    )

    shipmentId: str
    coordinates: Coordinates
    speed: float | None = Field(default=None, exclude_if=_absent_when_none)
    heading: float | None = Field(default=None, exclude_if=_absent_when_none)
    timestamp: datetime
    accuracy: float | None = Field(default=None, exclude_if=_absent_when_none)

    @classmethod
    def of(cls, ping: PingRecord) -> GpsPingOut:
        return cls(
            shipmentId=ping.shipment_id,
            coordinates=Coordinates(lat=ping.lat, lng=ping.lng),
            speed=ping.speed_kmh,
            heading=ping.heading,
            timestamp=ping.recorded_at,
            accuracy=ping.accuracy_m,
        )


class PositionOut(BaseModel):
    shipmentId: str
    coordinates: Coordinates
    speed: float | None
    heading: float | None
    recordedAt: datetime
    receivedAt: datetime

    @classmethod
    def of(cls, position: PositionRecord) -> PositionOut:
        return cls(
            shipmentId=position.shipment_id,
            coordinates=Coordinates(lat=position.lat, lng=position.lng),
            speed=position.speed_kmh,
            heading=position.heading,
            recordedAt=position.recorded_at,
            receivedAt=position.received_at,
        )


class AlertOut(BaseModel):
    id: str
    shipmentId: str
    kind: str
    severity: str
    silentSince: datetime
    createdAt: datetime
    acknowledgedAt: datetime | None
    acknowledgedBy: str | None

    @classmethod
    def of(cls, alert: AlertRecord) -> AlertOut:
        return cls(
            id=alert.id,
            shipmentId=alert.shipment_id,
            kind=alert.kind,
            severity=alert.severity,
            silentSince=alert.silent_since,
            createdAt=alert.created_at,
            acknowledgedAt=alert.acknowledged_at,
            acknowledgedBy=alert.acknowledged_by,
        )
