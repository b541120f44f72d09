"""The PromQL reader the alert and dashboard tests rely on finds what it must find."""

from __future__ import annotations

from tests.deploy.promql import parse, problems


def test_reads_metrics_matchers_and_grouping_labels() -> None:
    query = parse(
        "histogram_quantile(0.95, sum by (route, le)"
        ' (rate(http_request_duration_seconds_bucket{route!~"/h.*"}[5m])))'
        " > on (route) group_left 2 * max(http_requests_total offset 5m)"
    )
    assert query.metrics == {"http_request_duration_seconds_bucket", "http_requests_total"}
    assert query.matchers == {("http_request_duration_seconds_bucket", "route")}
    assert query.grouping_labels == {"route", "le"}


def test_functions_keywords_durations_and_grafana_variables_are_not_metrics() -> None:
    expr = (
        "time() - max by (job) (job_last_success_timestamp_seconds) > 3 * 86400 unless vector(1) and bool 1"
    )
    assert parse(expr).metrics == {"job_last_success_timestamp_seconds"}
    assert parse("sum(increase(bids_placed_total[$__range])) / 100").metrics == {"bids_placed_total"}


def test_reports_unknown_metrics_and_labels() -> None:
    assert problems("sum(rate(http_request_total[5m]))") == ["unknown metric 'http_request_total'"]
    assert problems('rate(http_requests_total{code="500"}[5m])') == [
        "http_requests_total has no label 'code'"
    ]
    assert problems("sum by (rule) (rate(http_requests_total[5m]))") == ["grouping by unknown label 'rule'"]
    assert problems('sum by (instance) (rate(http_requests_total{status=~"5.."}[5m]))') == []
    assert problems("up == 0", extra_metrics=frozenset({"up"})) == []
