"""Every table module, imported for its side effect of registering tables on `metadata`."""

from __future__ import annotations

import rodistaa.acs.audit.tables
import rodistaa.acs.tables
import rodistaa.apikeys.tables
import rodistaa.bids.tables
import rodistaa.bookings.tables
import rodistaa.db.tables
import rodistaa.delivery.tables
import rodistaa.drivers.tables
import rodistaa.fleet.tables
import rodistaa.franchises.tables
import rodistaa.idempotency.tables
import rodistaa.inspections.tables
import rodistaa.jobs.tables
import rodistaa.kyc.tables
import rodistaa.ledger.tables
import rodistaa.overrides.tables
import rodistaa.shipments.tables
import rodistaa.tracking.tables
import rodistaa.webhooks.tables
from rodistaa.db.metadata import metadata

__all__ = ["metadata"]
