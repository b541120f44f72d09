"""Franchise operations (PRODUCT §9): the staff dashboard, monthly targets and date-range reports.

Scope: every number is computed over the caller's units only: a FRANCHISE_UNIT user's own
unit, a FRANCHISE_DISTRICT user's units (the tree is HQ → DISTRICT → UNIT, nothing deeper).
Staff without a franchise of their role's kind get 404 NO_FRANCHISE (`NoFranchiseAssigned`).

Definitions (where PRODUCT is silent):

* "Today" and "this month" are IST calendar days and months (`dashboard.periods`).
* An inspection is *done* when it was submitted PASSED or FAILED; one that ACS refused
  (REJECTED) is evidence, not a completed inspection. It counts for the unit that owns it, at
  its submission time. Pass rate = passed / done, null when nothing was done.
* `dailyActivity`: inspections done today. `inspectionsQueue`: trucks of the scope waiting for
  an inspection (PENDING_INSPECTION or NEEDS_INSPECTION); `inspections.open` are those already
  opened and not yet submitted.
* Trucks "in zone" are the trucks whose franchise unit (assigned from their base point when
  registered) is in scope, counted by the status the fleet API shows (an active block shows as
  BLOCKED). A truck is *onboarded* by a unit when it was created with that unit as its unit.
* Targets: `monthly_inspections` is measured by inspections done in the month,
  `monthly_trucks_onboarded` by trucks onboarded in the month. A district sets them for its own
  units, for the current month or a later one (history is not rewritten); a unit id that does
  not exist (or is not a UNIT) is 404, a unit of another district 403: franchise ids are not
  secret among staff, and the district must learn it picked a unit that is not its own.
* Reports: `startDate`..`endDate` are inclusive IST dates, at most 366 days. `bookings` are the
  bookings created in range whose pickup lies in a unit's zone, and `revenue` the bidding fees
  (rupees) of bids placed in range on such bookings. Where zones overlap, a pickup belongs to the
  unit with the nearest centre (ties by id), the rule trucks are assigned by, so a booking is
  never counted twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.core.actor import Actor
from rodistaa.core.errors import ValidationFailed
from rodistaa.core.ids import new_id
from rodistaa.core.money import paise_to_rupees_number
from rodistaa.dashboard.periods import dates_window, day_window, india_date, month_window, period_of
from rodistaa.fleet.tables import TRUCK_STATUSES
from rodistaa.franchises import ops_repo, repo
from rodistaa.franchises.errors import NoFranchiseAssigned
from rodistaa.franchises.ops_errors import NotYourUnit, UnitNotFound
from rodistaa.franchises.ops_repo import AWAITING_INSPECTION, Completed, PickupPoint, TargetRecord
from rodistaa.franchises.ops_schemas import TargetSet, TargetType
from rodistaa.franchises.repo import FranchiseRecord
from rodistaa.franchises.service import STAFF_FRANCHISE_KIND, distance_from_centre_m, units_of_district
from rodistaa.http.services import Services

MAX_REPORT_DAYS = 366


@dataclass(frozen=True)
class Scope:
    """The caller's franchise and the units whose numbers it may see."""

    franchise: FranchiseRecord
    units: list[FranchiseRecord]

    @property
    def unit_ids(self) -> list[str]:
        return [u.id for u in self.units]


@dataclass(frozen=True)
class TargetView:
    record: TargetRecord
    unit_name: str
    current: int


@dataclass(frozen=True)
class UnitDashboard:
    unit: FranchiseRecord
    open_inspections: int
    awaiting_inspection: int
    done_this_month: Completed
    done_today: int
    trucks_by_status: dict[str, int]
    onboarded_this_month: int


@dataclass(frozen=True)
class Dashboard:
    scope: Scope
    period: str
    as_of: datetime
    units: list[UnitDashboard]
    targets: list[TargetView]

    def total(self, pick: str) -> int:
        return sum(int(getattr(u, pick)) for u in self.units)

    @property
    def trucks_by_status(self) -> dict[str, int]:
        return _sum_maps(u.trucks_by_status for u in self.units)


@dataclass(frozen=True)
class UnitReport:
    unit: FranchiseRecord
    completed: Completed
    onboarded: int
    bookings: int
    fees_paise: int


@dataclass(frozen=True)
class Report:
    scope: Scope
    first: date
    last: date
    units: list[UnitReport] = field(default_factory=list)

    @property
    def completed(self) -> Completed:
        return Completed(
            sum(u.completed.passed for u in self.units), sum(u.completed.failed for u in self.units)
        )

    def total(self, pick: str) -> int:
        return sum(int(getattr(u, pick)) for u in self.units)


def pass_rate(completed: Completed) -> float | None:
    return round(completed.passed / completed.done, 4) if completed.done else None


def rupees(paise: int) -> float:
    return paise_to_rupees_number(paise)


class FranchiseOpsService:
    def __init__(self, services: Services) -> None:
        self._db = services.db
        self._clock = services.clock

    # --- dashboard -----------------------------------------------------------------------------

    async def dashboard(self, actor: Actor) -> Dashboard:
        now = self._clock.now()
        period = period_of(now)
        month = month_window(period)
        async with self._db.read() as conn:
            scope = await scope_of(conn, actor)
            ids = scope.unit_ids
            open_counts = await ops_repo.open_inspections(conn, ids)
            month_done = await ops_repo.completed_inspections(conn, ids, month)
            today_done = await ops_repo.completed_inspections(conn, ids, day_window(india_date(now)))
            trucks = await ops_repo.trucks_by_status(conn, ids, now=now)
            onboarded = await ops_repo.trucks_onboarded(conn, ids, month)
            targets = await _target_views(conn, scope, period)
        units = [
            UnitDashboard(
                unit=unit,
                open_inspections=open_counts.get(unit.id, 0),
                awaiting_inspection=sum(trucks.get(unit.id, {}).get(s, 0) for s in AWAITING_INSPECTION),
                done_this_month=month_done.get(unit.id, Completed()),
                done_today=today_done.get(unit.id, Completed()).done,
                trucks_by_status=_all_statuses(trucks.get(unit.id, {})),
                onboarded_this_month=onboarded.get(unit.id, 0),
            )
            for unit in scope.units
        ]
        return Dashboard(scope, period, now, units, targets)

    # --- targets -------------------------------------------------------------------------------

    async def list_targets(self, actor: Actor, period: str | None) -> tuple[str, list[TargetView]]:
        period = period or period_of(self._clock.now())
        async with self._db.read() as conn:
            scope = await scope_of(conn, actor)
            return period, await _target_views(conn, scope, period)

    async def set_target(self, actor: Actor, body: TargetSet) -> TargetView:
        """Upsert the (unit, period, type) target. 404 UnitNotFound, 403 NotYourUnit, 400 for a
        past period."""
        now = self._clock.now()
        if body.period < period_of(now):
            raise ValidationFailed.for_field("period", "must be the current month or a later one")
        async with self._db.transaction() as conn:
            scope = await scope_of(conn, actor)
            unit = await repo.get_by_id(conn, body.unitId)
            if unit is None or unit.kind != "UNIT":
                raise UnitNotFound()
            if unit.parent_id != scope.franchise.id:
                raise NotYourUnit()
            await ops_repo.lock_unit(conn, unit.id)
            previous = await ops_repo.get_target(conn, unit.id, body.period, body.type.value)
            draft = TargetRecord(
                id=new_id("FTG"),
                unit_id=unit.id,
                period=body.period,
                target_type=body.type.value,
                target=body.target,
                set_by=actor.user_id,
                created_at=now,
                updated_at=now,
            )
            stored = await ops_repo.upsert_target(conn, draft)
            current = (await _actuals(conn, [unit.id], body.period)).get((unit.id, stored.target_type), 0)
            data = {
                "unitId": unit.id,
                "districtId": scope.franchise.id,
                "period": stored.period,
                "type": stored.target_type,
                "target": stored.target,
                "previousTarget": previous.target if previous else None,
            }
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "franchise.target_set", "franchise_target", stored.id, data),
                now=now,
            )
        return TargetView(stored, unit.name, current)

    # --- reports -------------------------------------------------------------------------------

    async def report(self, actor: Actor, first: date, last: date) -> Report:
        if first > last:
            raise ValidationFailed.for_field("startDate", "must not be after endDate")
        if (last - first).days + 1 > MAX_REPORT_DAYS:
            raise ValidationFailed.for_field("endDate", f"a report covers at most {MAX_REPORT_DAYS} days")
        window = dates_window(first, last)
        async with self._db.read() as conn:
            scope = await scope_of(conn, actor)
            ids = scope.unit_ids
            completed = await ops_repo.completed_inspections(conn, ids, window)
            onboarded = await ops_repo.trucks_onboarded(conn, ids, window)
            every_unit = await ops_repo.all_units(conn)
            booking_points = await ops_repo.bookings_created_near(conn, scope.units, window)
            fee_points = await ops_repo.bid_fees_near(conn, scope.units, window)
        bookings = Counter(_owner(every_unit, p) for p in booking_points)
        fees: Counter[str | None] = Counter()
        for point in fee_points:
            fees[_owner(every_unit, point)] += point.fee_paise
        units = [
            UnitReport(
                unit=unit,
                completed=completed.get(unit.id, Completed()),
                onboarded=onboarded.get(unit.id, 0),
                bookings=bookings.get(unit.id, 0),
                fees_paise=fees.get(unit.id, 0),
            )
            for unit in scope.units
        ]
        return Report(scope, first, last, units)


# --- helpers -----------------------------------------------------------------------------------


async def scope_of(conn: AsyncConnection, actor: Actor) -> Scope:
    franchise = await repo.franchise_of_user(conn, actor.user_id)
    expected = STAFF_FRANCHISE_KIND.get(actor.role)
    if franchise is None or expected is None or franchise.kind != expected.value:
        raise NoFranchiseAssigned()
    units = [franchise] if franchise.kind == "UNIT" else await units_of_district(conn, franchise.id)
    return Scope(franchise, units)


async def _actuals(conn: AsyncConnection, unit_ids: Sequence[str], period: str) -> dict[tuple[str, str], int]:
    """The measured value of each target type, per unit, in the month."""
    month = month_window(period)
    done = await ops_repo.completed_inspections(conn, unit_ids, month)
    onboarded = await ops_repo.trucks_onboarded(conn, unit_ids, month)
    actuals: dict[tuple[str, str], int] = {}
    for unit_id in unit_ids:
        actuals[(unit_id, TargetType.MONTHLY_INSPECTIONS.value)] = done.get(unit_id, Completed()).done
        actuals[(unit_id, TargetType.MONTHLY_TRUCKS_ONBOARDED.value)] = onboarded.get(unit_id, 0)
    return actuals


async def _target_views(conn: AsyncConnection, scope: Scope, period: str) -> list[TargetView]:
    names = {u.id: u.name for u in scope.units}
    records = await ops_repo.targets_of(conn, scope.unit_ids, period)
    actuals = await _actuals(conn, scope.unit_ids, period) if records else {}
    views = [TargetView(r, names[r.unit_id], actuals.get((r.unit_id, r.target_type), 0)) for r in records]
    return sorted(views, key=lambda v: (v.unit_name, v.record.unit_id, v.record.target_type))


def _all_statuses(counts: Mapping[str, int]) -> dict[str, int]:
    """Every truck status, zero when no truck has it, so clients need no defaults."""
    return {status: counts.get(status, 0) for status in TRUCK_STATUSES}


def _sum_maps(maps: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total = dict.fromkeys(TRUCK_STATUSES, 0)
    for counts in maps:
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
    return total


def _owner(units: Sequence[FranchiseRecord], point: PickupPoint) -> str | None:
    """The unit whose zone holds the point, nearest centre first, ties by id (the rule of
    `franchises.service.unit_for_point`); None outside every zone."""
    best: tuple[float, str] | None = None
    for unit in units:
        metres = distance_from_centre_m(unit, point.lat, point.lng)
        if metres is None or unit.radius_m is None or metres > unit.radius_m:
            continue
        if best is None or (metres, unit.id) < best:
            best = (metres, unit.id)
    return best[1] if best else None


def report_period(first: date, last: date) -> str:
    return f"{first.isoformat()}/{last.isoformat()}"
