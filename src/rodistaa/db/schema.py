"""Every table module, imported for its side effect of registering tables on `metadata`."""

from __future__ import annotations

import rodistaa.acs.audit.tables  # (audit chain)
import rodistaa.acs.tables
import rodistaa.db.tables  # noqa: F401  (identity)
from rodistaa.db.metadata import metadata

__all__ = ["metadata"]
