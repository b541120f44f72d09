"""Fact providers: how a service hands ACS the data its rules read.

A provider returns the context names of its event type (see `acs.contract`) and answers the
data-backed function calls the rules will make, all before evaluation, so evaluation itself does
no I/O. Services implement one provider per event type they raise, fetching in as few queries as
possible; `StaticFacts` serves services that already hold everything (and tests, and `acs eval`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rodistaa.acs.engine import AcsEvent
from rodistaa.acs.lang import FactRequest


class FactProvider(Protocol):
    async def context(self, event: AcsEvent) -> Mapping[str, Any]:
        """The event's context names (`truck`, `shipment`, `gps`, ...)."""
        ...

    async def answer(self, requests: Sequence[FactRequest]) -> Mapping[str, Any]:
        """`{request.key: value}` for the data-backed calls; a missing key errors its rule."""
        ...


@dataclass(frozen=True)
class StaticFacts:
    names: Mapping[str, Any] = field(default_factory=dict)
    answers: Mapping[str, Any] = field(default_factory=dict)

    async def context(self, event: AcsEvent) -> Mapping[str, Any]:
        return self.names

    async def answer(self, requests: Sequence[FactRequest]) -> Mapping[str, Any]:
        return {r.key: self.answers[r.key] for r in requests if r.key in self.answers}
