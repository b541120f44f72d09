"""Pagination: `page` from 1, `pageSize` default 20, max 100; lists answer {data, meta}."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @property
    def limit(self) -> int:
        return self.page_size


async def page_request(
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> PageRequest:
    return PageRequest(page=page, page_size=page_size)


class PageMeta(BaseModel):
    page: int
    pageSize: int
    total: int
    totalPages: int


class Page(BaseModel, Generic[T]):
    data: list[T]
    meta: PageMeta


def build_page(items: list[Any], total: int, request: PageRequest) -> dict[str, Any]:
    total_pages = (total + request.page_size - 1) // request.page_size if total else 0
    return {
        "data": items,
        "meta": {
            "page": request.page,
            "pageSize": request.page_size,
            "total": total,
            "totalPages": total_pages,
        },
    }
