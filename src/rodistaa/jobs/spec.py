"""What a background job that needs the whole service container looks like (ACS, storage,
settings), as opposed to the fleet's database-only jobs (`fleet.jobs.JobSpec`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from rodistaa.http.services import Services


class JobSummary(Protocol):
    def summary(self) -> dict[str, object]:
        """What the run did, as JSON-able data (printed by `rodistaa jobs run`)."""
        ...


@dataclass(frozen=True)
class ServiceJobSpec:
    name: str
    description: str
    run: Callable[[Services], Awaitable[JobSummary]]
