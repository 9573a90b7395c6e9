"""The SLO verdict, read from Locust's statistics the way `surge loadtest` reads them."""

from __future__ import annotations

from pathlib import Path

from surge.capacity.results import Slo, judge, read_endpoints

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
)


def test_locust_statistics_are_read_per_request_name(tmp_path: Path) -> None:
    stats = tmp_path / "locust_stats.csv"
    stats.write_text(
        HEADER
        + "GET,/{slug},1000,2,3,4,1,90,0,100.0,0.2,3,4,5,5,7,9,12,20,60,90,90\n"
        + "POST,/api/v1/links,0,0,0,0,0,0,0,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\n"
        + ",Aggregated,1000,2,3,4,1,90,0,100.0,0.2,3,4,5,5,7,9,12,20,60,90,90\n"
    )

    redirects, created, total = read_endpoints(stats)

    assert (redirects.name, redirects.requests, redirects.p95_ms, redirects.p99_ms) == (
        "GET /{slug}",
        1000,
        9.0,
        20.0,
    )
    assert created.p99_ms is None  # nothing measured is not 0 ms
    assert total.name == "all"
    assert total.error_ratio == 0.002


def test_the_verdict_names_each_limit_missed() -> None:
    slo = Slo(p95_ms=10, p99_ms=50, errors=0.001)

    assert judge(9, 20, 998, 0.0005, slo) == []
    assert judge(11, 60, 998, 0.002, slo) == [
        "redirect p95 11 ms > 10 ms",
        "redirect p99 60 ms > 50 ms",
        "errors 0.20% > 0.10%",
    ]
    assert judge(None, None, 0, 1.0, slo) == ["no redirect was answered"]
    assert judge(None, 20, 5, 0.0, slo) == ["redirect p95 unmeasured > 10 ms"]
