"""The context contract (ACS.md §3): for each event type, the names and fields its context
provides. Services build contexts that honour it; the linter refuses a rule that reads a path
its event types do not provide.

Fields are written as dotted paths; `name.*` means "anything below name" (free-form data such as
an event payload or a lookup index), and a listed parent (`gps`) may be read whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ANY: Any = object()
Tree = dict[str, Any]

DEFAULT_SYSTEM_CONFIG: Mapping[str, Any] = {
    "otpRetryLimit": 5,
    "spoofThreshold": 0.8,
    "podTimeWindowBefore": 86_400_000,
    "podTimeWindowAfter": 86_400_000,
    "maxGeoAccuracyMeters": 100,
    "maxTrucksPerOperator": 10,
    "triadFrequencyThreshold": 5,
    "bidModifyRateLimit": 10,
    "predatoryBidFactor": 0.5,
    "inspectionGeoRadiusMeters": 5000,
}

_EVENT = "event.type event.id event.at event.payload.*"
_CTX = (
    "ctx.userId ctx.userRole ctx.userKycStatus ctx.operatorId ctx.deviceId ctx.ip "
    "ctx.uploaderId ctx.payload.*"
)
_SYSTEM = " ".join(f"system.config.{name}" for name in DEFAULT_SYSTEM_CONFIG)
_POINT = "lat lng"

_BOOKING = (
    "booking.id booking.shipperId booking.status booking.tonnage booking.distanceKm "
    "booking.expectedPrice booking.priceRange.min booking.priceRange.max booking.pickupDate "
    "booking.autoFinalizeAt booking.goods.* booking.pickup.* booking.drop.* booking.createdAt"
)
_BID = "bid.id bid.bookingId bid.operatorId bid.truckId bid.amount bid.status bid.notes bid.createdAt"
_TRUCK = (
    "truck.id truck.registrationNumber truck.operatorId truck.status truck.vehicleType "
    "truck.bodyType truck.tyres truck.capacityTonnes truck.modelYear truck.emission "
    "truck.permitType truck.chassisNumberInRegistry truck.lastInspectionAt"
)
_OPERATOR = "operator.id operator.status operator.kycStatus operator.ledgerBalance operator.activeTrucks"
_DRIVER = "driver.id driver.operatorId driver.status driver.kycStatus driver.activeShipmentId"
_SHIPMENT = (
    "shipment.id shipment.bookingId shipment.status shipment.shipperId shipment.operatorId "
    "shipment.driverId shipment.truckId shipment.agreedPrice shipment.otpAttempts "
    "shipment.otpValid shipment.otpLocked shipment.pickupAt shipment.dropAt "
    "shipment.timeWindow.start shipment.timeWindow.end shipment.startedAt"
)


def _shape(*groups: str) -> Tree:
    """Build a tree from dotted paths; `x.*` marks free-form data below `x`."""
    tree: Tree = {}
    for group in groups:
        for path in group.split():
            _add(tree, path.split("."))
    return tree


def _add(tree: Tree, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if rest == ["*"]:
        tree[head] = ANY
        return
    node = tree.get(head)
    if node is ANY:
        return
    if node is None:
        node = tree[head] = {}
    if rest:
        _add(node, rest)


_COMMON = (_EVENT, _CTX, _SYSTEM)

CONTRACT: Mapping[str, Tree] = {
    "booking.create": _shape(*_COMMON, _BOOKING),
    "bid.create": _shape(*_COMMON, _BID, _BOOKING, _TRUCK, _OPERATOR, "computedFees.bidFee"),
    "bid.modify": _shape(*_COMMON, _BID, _BOOKING, "bid.previousAmount"),
    "bid.evaluate": _shape(
        *_COMMON,
        _BOOKING,
        _BID,
        _OPERATOR,
        "bids.count bids.haveIdenticalAmount bids.lowestAmount bids.candidates.*",
    ),
    "bid.finalize": _shape(
        *_COMMON,
        _BOOKING,
        _BID,
        "winner.bidId winner.operatorId winner.amount winner.bidFee winner.ledgerBalance "
        "winner.kycStatus winner.status",
    ),
    "truck.create": _shape(*_COMMON, _TRUCK, _OPERATOR),
    "doc.uploaded": _shape(
        *_COMMON,
        _TRUCK,
        "doc.id doc.type doc.truckId doc.expiryDate doc.fileHash doc.ocr.*",
    ),
    "inspection.uploaded": _shape(
        *_COMMON,
        _TRUCK,
        "inspection.id inspection.truckId inspection.unitFranchiseId inspection.result "
        "inspection.photoCount inspection.geo.lat inspection.geo.lng inspection.geo.accuracy",
        "image.hash image.takenAt",
        f"unitFranchise.id unitFranchise.radiusMeters "
        f"{' '.join('unitFranchise.allowedGeoCenter.' + p for p in _POINT.split())}",
        "db.indexes.inspection_image_hashes.*",
    ),
    "shipment.assign": _shape(*_COMMON, _SHIPMENT, _TRUCK, _DRIVER),
    "shipment.accept": _shape(*_COMMON, _SHIPMENT, _DRIVER),
    "shipment.start": _shape(*_COMMON, _SHIPMENT, _DRIVER),
    "gps.ping": _shape(
        *_COMMON,
        _SHIPMENT,
        "gps.lat gps.lng gps.speed gps.heading gps.timestamp gps.deltaDistanceKm gps.deltaTimeSec",
        "telemetry.spoofScore telemetry.mockLocation",
    ),
    "pod.uploaded": _shape(
        *_COMMON,
        _SHIPMENT,
        "pod.id pod.shipmentId pod.fileHash pod.sizeBytes pod.contentType pod.metadata.*",
        "db.indexes.pod_hashes.*",
    ),
    "security.otp_attempt": _shape(*_COMMON, _SHIPMENT),
    "shipment.complete": _shape(*_COMMON, _SHIPMENT),
    "shipment.completed": _shape(
        *_COMMON,
        _SHIPMENT,
        _OPERATOR,
        "collusionGraph.triadFrequency collusionGraph.shipperId collusionGraph.operatorId "
        "collusionGraph.driverId",
    ),
    "admin.override.request": _shape(
        *_COMMON,
        "override.id override.entityType override.entityId override.action override.reason "
        "override.justification override.twoFaVerified override.target.ruleId "
        "override.target.ruleSeverity override.target.severity",
    ),
    "message.send": _shape(*_COMMON, "message.id message.text message.senderId message.recipientId"),
    "kyc.bulk_ingest": _shape(
        *_COMMON,
        "ingest.batchId ingest.partialFailure ingest.affected ingest.affectedOperatorIds ingest.total",
    ),
    "route.request": _shape(*_COMMON, _BOOKING, "routing.provider.id routing.provider.status"),
    "kyc.decrypt": _shape(*_COMMON, "kyc.id kyc.userId kyc.documentType kyc.status", "request.purpose"),
}


def path_known(tree: Tree, path: str) -> bool:
    """Whether `path` (dotted, as the language reports it) exists in `tree`."""
    node: Any = tree
    for part in path.split("."):
        if node is ANY:
            return True
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def unknown_paths(paths: Iterable[str], event_types: Iterable[str] | None) -> list[str]:
    """Paths that none of the rule's event types provides (every event type when the rule has
    none). A rule for several event types may read, in a branch guarded by `event.type`, a name
    only one of them provides; a path no event type provides is always a mistake."""
    types = list(event_types) if event_types is not None else list(CONTRACT)
    trees = [CONTRACT[t] for t in types if t in CONTRACT]
    return sorted(p for p in paths if not any(path_known(tree, p) for tree in trees))
