"""Optional telemetry: Sentry events leave scrubbed of personal data and credentials (the
scrubber on its own, and a real crash through the app into a capturing transport), and
OpenTelemetry traces requests and their statements when enabled, or warns and steps aside when
its packages are missing. Both are off by default."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from rodistaa.ops import telemetry
from rodistaa.ops.telemetry import init_sentry, scrub_event
from rodistaa.security.pii import REDACTED
from tests.conftest import make_settings, running_app

PHONE = "+919876543210"
CODE = "482913"
ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJVU1ItMSJ9.c2lnbmF0dXJl"
API_KEY = "rk_live_7Qm2Xc9Lp4Zt8Wn1"
EVENT_ID = "f" * 32
TRACE_ID = "a" * 32
# Any of these anywhere in an event that left would be a leak.
SECRETS = (
    PHONE,
    "9876543210",
    CODE,
    ACCESS_TOKEN,
    API_KEY,
    "refresh-value-1",
    "ops@example.com",
    "203.0.113.9",
)
DSN = "https://public@127.0.0.1:9/1"  # the discard port: nothing is ever sent there


def raw_event() -> dict[str, Any]:
    """An event as the SDK builds it for a failed login, with everything it can carry."""
    return {
        "event_id": EVENT_ID,
        "level": "error",
        "request": {
            "method": "POST",
            "url": f"https://api.rodistaa.example/v1/auth/login?mobile={PHONE}",
            "query_string": f"mobile={PHONE}&token={ACCESS_TOKEN}",
            "headers": {
                "Authorization": f"Bearer {ACCESS_TOKEN}",
                "X-API-Key": API_KEY,
                "Cookie": "session=refresh-value-1",
                "X-Refresh-Token": "refresh-value-1",
                "User-Agent": "RodistaaApp/2.1",
            },
            "data": {"mobile": PHONE, "otp": CODE},
            "cookies": {"session": "refresh-value-1"},
            "env": {"REMOTE_ADDR": "203.0.113.9"},
        },
        "user": {"id": "USR-1", "ip_address": "203.0.113.9", "email": "ops@example.com"},
        "exception": {
            "values": [
                {
                    "type": "RuntimeError",
                    "value": f"login failed for {PHONE} with code {CODE}",
                    "stacktrace": {
                        "frames": [
                            {
                                "filename": "auth/service.py",
                                "lineno": 42,
                                "vars": {"otp": CODE, "mobile": PHONE},
                            }
                        ]
                    },
                }
            ]
        },
        "logentry": {"message": f"OTP {CODE} sent to {PHONE}", "params": []},
        "breadcrumbs": {
            "values": [{"category": "httplib", "data": {"url": f"https://sms.example/send?to={PHONE}"}}]
        },
        "extra": {"refresh_token": "refresh-value-1", "note": "contact ops@example.com"},
        "contexts": {"trace": {"trace_id": TRACE_ID, "span_id": "b" * 16}},
    }


def assert_no_secret(event: dict[str, Any]) -> None:
    text = json.dumps(event)
    for secret in SECRETS:
        assert secret not in text, secret


class TestScrubber:
    def test_an_event_keeps_nothing_personal_or_secret(self) -> None:
        event = scrub_event(raw_event())

        assert_no_secret(event)
        request = event["request"]
        assert not {"data", "cookies", "env"} & set(request)
        headers = request["headers"]
        assert headers["Authorization"] == headers["X-API-Key"] == headers["Cookie"] == REDACTED
        assert headers["X-Refresh-Token"] == REDACTED
        assert headers["User-Agent"] == "RodistaaApp/2.1"
        assert request["method"] == "POST"
        assert event["user"] == {"id": "USR-1"}
        [exception] = event["exception"]["values"]
        assert exception["type"] == "RuntimeError"
        assert exception["value"] == "login failed for +91******3210 with code ******"
        assert exception["stacktrace"]["frames"] == [{"filename": "auth/service.py", "lineno": 42}]
        assert event["extra"]["refresh_token"] == REDACTED

    def test_ids_that_link_events_and_traces_are_untouched(self) -> None:
        event = scrub_event(raw_event())
        assert event["event_id"] == EVENT_ID
        assert event["contexts"]["trace"] == {"trace_id": TRACE_ID, "span_id": "b" * 16}


class CapturingTransport(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict[str, Any]]:
        return [item.payload.json for e in self.envelopes for item in e.items if item.type == "event"]


@pytest.fixture
def sentry_off_afterwards() -> Iterator[None]:
    yield
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


class TestSentry:
    def test_it_is_off_without_a_dsn(self, clean_database: str) -> None:
        assert init_sentry(make_settings(clean_database)) is False

    async def test_a_crash_reaches_sentry_scrubbed(
        self, clean_database: str, sentry_off_afterwards: None
    ) -> None:
        settings = make_settings(clean_database, sentry_dsn=DSN)
        transport = CapturingTransport()
        async with running_app(settings) as h:
            assert init_sentry(settings, transport=transport) is True
            collected = sentry_sdk.get_client().options["data_collection"]
            assert collected["user_info"] is False and collected["stack_frame_variables"] is False
            assert collected["http_bodies"] == [] and collected["cookies"] == {"mode": "off"}
            assert collected["http_headers"] == {"request": {"mode": "off"}}
            assert collected["url_query_params"] == {"mode": "off"}

            async def crash() -> None:
                raise RuntimeError(f"login failed for {PHONE} with code {CODE}")

            h.app.router.add_api_route("/v1/test-crash", crash, methods=["POST"])
            response = await h.client.post(
                f"/v1/test-crash?mobile={PHONE}",
                json={"mobile": PHONE, "otp": CODE},
                headers={"Authorization": f"Bearer {ACCESS_TOKEN}", "X-API-Key": API_KEY},
            )
            assert (response.status_code, response.json()["code"]) == (500, "INTERNAL_ERROR")
            sentry_sdk.flush()

        [event] = transport.events()
        assert_no_secret(event)
        [exception] = event["exception"]["values"]
        assert (exception["type"], exception["value"]) == (
            "RuntimeError",
            "login failed for +91******3210 with code ******",
        )
        assert "data" not in event.get("request", {})
        assert event["environment"] == "test"

    def test_a_dsn_without_the_package_warns_and_goes_on(
        self, clean_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setitem(sys.modules, "sentry_sdk", None)
        assert init_sentry(make_settings(clean_database, sentry_dsn=DSN)) is False
        assert '"event":"sentry_unavailable"' in capsys.readouterr().out


class TestOpenTelemetry:
    async def test_requests_and_their_statements_become_spans(
        self, clean_database: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        exporter = InMemorySpanExporter()
        monkeypatch.setattr(telemetry, "span_exporter", lambda: exporter)
        async with running_app(make_settings(clean_database, otel_enabled=True)) as h:
            response = await h.client.post("/v1/auth/otp", json={"mobile": PHONE})
            assert response.status_code == 200, response.text
            assert (await h.client.get("/metrics")).status_code == 200
            assert (await h.client.get("/health")).status_code == 200
            assert h.app.state.tracing.provider.force_flush()
            spans = exporter.get_finished_spans()

        [server] = [s for s in spans if s.kind is SpanKind.SERVER]
        assert server.attributes is not None and server.attributes["http.route"] == "/v1/auth/otp"
        # The request's statements are children in its trace (background tasks have their own).
        statements = [
            s
            for s in spans
            if s.attributes
            and "db.statement" in s.attributes
            and s.context.trace_id == server.context.trace_id
        ]
        assert statements, [s.name for s in spans]
        for span in statements:  # the statement text, never its parameters
            assert PHONE not in json.dumps(dict(span.attributes or {}))

    async def test_it_is_off_by_default(self, clean_database: str) -> None:
        async with running_app(make_settings(clean_database)) as h:
            assert h.app.state.tracing is None

    async def test_without_the_packages_it_warns_and_the_app_still_serves(
        self, clean_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.fastapi", None)
        async with running_app(make_settings(clean_database, otel_enabled=True)) as h:
            assert h.app.state.tracing is None
            assert (await h.client.get("/health")).status_code == 200
        warning = next(
            json.loads(line) for line in capsys.readouterr().out.splitlines() if "otel_unavailable" in line
        )
        assert (warning["level"], warning["missing"]) == ("warning", "opentelemetry.instrumentation.fastapi")
