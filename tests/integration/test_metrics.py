"""/metrics as Prometheus scrapes it, parsed by prometheus-client's own parser, around a real repair cycle (the real
qbittorrent-nox and the Sonarr simulator); and the Grafana dashboard shipped in deploy/grafana queries only series
that exist."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e import SONARR_CATEGORY
from harness.states import StateFactory
from qbittorrent_monitor.monitor import Monitor
from qbittorrent_monitor.web.app import WebServer
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Any]]
GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "qbittorrent-monitor.json"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> tuple[Samples, list[Any]]:
    text = httpx.get(url + "/metrics", timeout=10).text
    families = list(text_string_to_metric_families(text))
    samples = {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}
    return samples, families


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 for a series that does not exist yet (a counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Summed over every series of `name` that has these labels."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_metrics_move_as_a_repair_cycle_says_and_grafana_queries_only_series_that_exist(
    states: StateFactory, sonarr: ArrSimulator, write_config: WriteConfig
) -> None:
    name = "Metrics.Show.S02E03.1080p"
    dead = states.unregistered(name, category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, name, series_id=4, season=2, episode_ids=[203])
    _, config = write_config()
    monitor = Monitor(config)
    web = WebServer(monitor, "127.0.0.1", 0)
    web.start()
    url = f"http://127.0.0.1:{web.port}"
    try:
        before, _ = scrape(url)
        report = monitor.run_cycle()
        assert [d.verdict.value for d in report.decisions] == ["act"]
        after, families = scrape(url)
    finally:
        web.stop()
        monitor.close()

    # One cycle, ok; one repair: the removal and the search, both done, by Sonarr.
    assert (
        value(after, "qbittorrent_monitor_cycles_total", outcome="ok")
        - value(before, "qbittorrent_monitor_cycles_total", outcome="ok")
        == 1
    )
    assert value(after, "qbittorrent_monitor_cycle_duration_seconds_count") == 1
    for action in ("arr_remove", "arr_search"):
        labels = {"type": action, "app": "sonarr", "result": "done"}
        assert value(before, "qbittorrent_monitor_actions_total", **labels) == 0
        assert value(after, "qbittorrent_monitor_actions_total", **labels) == 1
    assert value(after, "qbittorrent_monitor_searches_total", app="sonarr", result="done") == 1
    assert value(after, "qbittorrent_monitor_findings", kind="tracker_errors", decision="act") == 1
    assert total(after, "qbittorrent_monitor_findings") == 1  # one download flagged, once
    assert value(after, "qbittorrent_monitor_torrents_watched") == 1
    for service in ("qbittorrent", "sonarr", "radarr"):
        assert value(after, "qbittorrent_monitor_service_up", service=service) == 1
    # Request durations per service and endpoint; the queue id of the DELETE is folded into {id}.
    assert (
        total(after, "qbittorrent_monitor_request_duration_seconds_count", service="sonarr", endpoint="/api/v3/queue")
        >= 1
    )
    deletes = total(
        after,
        "qbittorrent_monitor_request_duration_seconds_count",
        service="sonarr",
        method="DELETE",
        endpoint="/api/v3/queue/{id}",
    )
    assert deletes == 1
    assert total(after, "qbittorrent_monitor_request_duration_seconds_count", service="qbittorrent") >= 1
    assert total(after, "qbittorrent_monitor_requests_total", service="sonarr", code="2xx") >= 2
    assert value(after, "qbittorrent_monitor_outages_active") == 0
    assert value(after, "process_resident_memory_bytes") > 0

    # No torrent name or hash in any label.
    for (_, labels), _v in after.items():
        for _k, v in labels:
            assert dead not in v.lower() and name not in v
    # The naming guide: our prefix, `_total` on counters only, base units.
    ours = [f for f in families if f.name.startswith("qbittorrent_monitor_")]
    assert len(ours) >= 13
    for family in ours:
        for sample in family.samples:
            assert sample.name.endswith("_total") == (family.type == "counter"), sample.name
        assert not re.search(r"_(ms|milliseconds|minutes|hours|kib|mb)(_|$)", family.name), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds")

    # Every series the Grafana dashboard queries exists in the scrape, with the labels it groups and filters by.
    dashboard = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 15
    queried, problems = grafana_queries(exprs, after, families)
    assert problems == []
    assert {"qbittorrent_monitor_actions_total", "qbittorrent_monitor_request_duration_seconds_bucket"} <= queried
    for variable in dashboard["templating"]["list"]:  # label_values(METRIC, LABEL): not PromQL, Grafana's own
        m = re.fullmatch(r"label_values\((\w+), *(\w+)\)", variable["query"])
        assert m and m.group(1) in {n for n, _ in after}, variable["query"]


# Labels Prometheus itself puts on every scraped series: no exporter has them.
TARGET_LABELS = {"job", "instance"}
RATE_FUNCTIONS = {"rate", "irate", "increase"}


def grafana_queries(exprs: list[str], samples: Samples, families: list[Any]) -> tuple[set[str], list[str]]:
    """Each expression parsed as PromQL (promql-parser, Prometheus's grammar): the metric names its selectors use,
    and what is wrong with them against this scrape: a metric that does not exist, a label it filters or groups by
    that the metric has no series with, a rate()/increase() of something that is not a counter."""
    import promql_parser as promql

    labels: dict[str, set[str]] = {}
    for name, ls in samples:
        labels.setdefault(name, set()).update(k for k, _ in ls)
    kind = {s.name: f.type for f in families for s in f.samples}
    queried: set[str] = set()
    problems: list[str] = []

    def selectors(node: Any) -> list[Any]:
        found: list[Any] = []
        promql.walk(node, lambda n, *_: found.append(n) if isinstance(n, promql.VectorSelector) else None)
        return found

    for expr in exprs:
        # Grafana's variables are substituted before Prometheus sees the query ($job stands inside a regex string).
        tree = promql.parse(expr.replace("$__rate_interval", "5m"))

        def visit(node: Any, *_: Any, expr: str = expr) -> None:
            if isinstance(node, promql.VectorSelector):
                queried.add(node.name)
                if node.name not in labels:
                    problems.append(f"{expr}: no series {node.name}")
                    return
                for matcher in node.matchers.matchers:
                    if matcher.name not in TARGET_LABELS | labels[node.name] and matcher.name != "__name__":
                        problems.append(f"{expr}: {node.name} has no label {matcher.name}")
            elif isinstance(node, promql.AggregateExpr) and node.modifier is not None:
                inside = set().union(*(labels.get(v.name, set()) for v in selectors(node.expr)))
                for label in node.modifier.labels:
                    if label not in inside | TARGET_LABELS:
                        problems.append(f"{expr}: grouped by {label}, which no series inside has")
            elif isinstance(node, promql.Call) and node.func.name in RATE_FUNCTIONS:
                for v in selectors(node):
                    if v.name in kind and not (kind[v.name] == "counter" or v.name.endswith("_bucket")):
                        problems.append(f"{expr}: {node.func.name}() of {v.name}, a {kind[v.name]}")

        promql.walk(tree, visit)
    return queried, problems
