"""Fact providers: how a service hands ACS the data its rules read.

A provider returns the context names of its event type (see `acs.contract`) and answers the
data-backed function calls the rules will make, all before evaluation, so evaluation itself does
no I/O. Services implement one provider per event type they raise, fetching in as few queries as
possible; `StaticFacts` serves services that already hold everything (and tests, and `acs eval`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
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


Answerer = Callable[[tuple[Any, ...]], Awaitable[Any]]


@dataclass(frozen=True)
class ProvidedFacts:
    """Context names a service already holds, plus answerers for the data-backed functions its
    event's rules may call (each typically one query). Only the calls the rules actually make
    are answered; an unanswerable call is left out so its rule errors visibly."""

    names: Mapping[str, Any]
    answerers: Mapping[str, Answerer] = field(default_factory=dict)

    async def context(self, event: AcsEvent) -> Mapping[str, Any]:
        return self.names

    async def answer(self, requests: Sequence[FactRequest]) -> Mapping[str, Any]:
        answers: dict[str, Any] = {}
        for request in requests:
            answerer = self.answerers.get(request.name)
            if answerer is not None:
                answers[request.key] = await answerer(request.args)
        return answers
