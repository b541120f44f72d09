"""Route templates used by the access log (and later by metrics)."""

from __future__ import annotations

import pytest

from rodistaa.http.middleware import route_template


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"route": object(), "path": "/v1/users/me", "path_params": {}}, "/v1/users/me"),
        (
            {"route": object(), "path": "/v1/bookings/RID-1/bids", "path_params": {"bookingId": "RID-1"}},
            "/v1/bookings/{bookingId}/bids",
        ),
        ({"path": "/random/probe/path"}, "<unmatched>"),
    ],
)
def test_route_template(scope: dict, expected: str) -> None:
    assert route_template(scope) == expected
