"""/metrics as Prometheus reads it, and the example Grafana dashboard's queries against what is exported."""

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from labmon.models import Batch, Reading, Result
from labmon_collector.web.metrics import METRICS, Gauges, exposition

DASHBOARD = Path(__file__).parents[2] / "examples" / "grafana" / "labmon-dashboard.json"


def batch(cycle: int, missing: tuple[str, ...] = ()) -> Batch:
    readings = (
        Reading("lock_error", 0.05, "V", instrument="laser1"),
        Reading("*", None, "", "error", "no answer within 5s", instrument="oven"),
    )
    return Batch(cycle, 1700000000.0 + cycle, (Result("q", "table1", 1700000000.5 + cycle, readings),), missing)


def samples(text: bytes) -> dict[str, list]:
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def exported() -> dict[str, list]:
    gauges = Gauges()
    gauges.record(batch(1, ("table2",)), 0.012, 1700000001.2)
    gauges.record(batch(2, ("table2",)), 0.010, 1700000002.2)
    gauges.role = ("collector-a", True)  # one of a pair, the active one
    gauges.resent = {"notifier:phone": 1}  # sent again after a restart
    alerts = [("laser-unlocked", "table1/laser1/lock_error", "firing", "critical")]
    return samples(exposition(gauges, alerts, [("sink:history", 3, 1, False), ("notifier:phone", 0, 0, True)]))


def test_every_series_is_a_labelled_gauge_and_errors_have_no_value():
    found = exported()
    (value,) = found["labmon_reading"]
    assert value.labels == {"measurer": "table1", "instrument": "laser1", "reading": "lock_error", "unit": "V"}
    assert value.value == 0.05
    ok = {s.labels["instrument"]: s.value for s in found["labmon_reading_ok"]}
    assert ok == {"laser1": 1.0, "oven": 0.0}


def test_rule_states_health_and_outbox():
    found = exported()
    (alert,) = found["labmon_alerts"]
    assert alert.labels == {
        "alertname": "laser-unlocked", "alertstate": "firing",
        "series": "table1/laser1/lock_error", "severity": "critical",
    }  # fmt: skip
    assert {s.labels["measurer"]: s.value for s in found["labmon_measurer_up"]} == {"table1": 1.0, "table2": 0.0}
    missing = {s.labels["measurer"]: s.value for s in found["labmon_measurer_missing_cycles_total"]}
    assert missing == {"table1": 0.0, "table2": 2.0}
    assert found["labmon_cycles_total"][0].value == 2.0
    assert found["labmon_cycle_last_completed_timestamp_seconds"][0].value == 1700000002.2
    assert found["labmon_outbox_backlog"][0].value == 3.0
    assert found["labmon_outbox_dead_letters"][0].value == 1.0
    paused = {s.labels["target"]: s.value for s in found["labmon_outbox_paused"]}
    assert paused == {"sink:history": 0.0, "notifier:phone": 1.0}
    resent = {s.labels["target"]: s.value for s in found["labmon_outbox_resent_total"]}
    assert resent == {"sink:history": 0.0, "notifier:phone": 1.0}


def test_a_measurer_behind_an_unreachable_broker_is_not_up():
    gauges = Gauges()
    gauges.record(batch(1, ()), 0.01, 1.0)
    gauges.record(Batch(2, 2.0, (), disconnected=("table1",)), 0.01, 2.0)
    found = samples(exposition(gauges, [], []))
    assert {s.labels["measurer"]: s.value for s in found["labmon_measurer_up"]}["table1"] == 0.0
    assert {s.labels["measurer"]: s.value for s in found["labmon_measurer_missing_cycles_total"]}["table1"] == 0.0


def test_every_documented_metric_is_exported():
    assert set(METRICS) == set(exported())


def dashboard_queries() -> list[str]:
    data = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in data["panels"] for target in panel["targets"]]
    queries += [v["query"]["query"] for v in data["templating"]["list"] if isinstance(v.get("query"), dict)]
    return queries


def test_the_grafana_dashboard_queries_only_exported_metrics():
    names = set(exported())
    queries = dashboard_queries()
    assert len(queries) >= 9
    used = {name for query in queries for name in re.findall(r"\blabmon_[a-z_]+", query)}
    assert used, queries
    assert used <= names, f"the dashboard queries metrics the collector does not export: {used - names}"


def instruments(gauges: Gauges) -> list[str]:
    return [s.labels["instrument"] for s in samples(exposition(gauges, [], []))["labmon_reading_ok"]]


def test_a_series_its_measurer_no_longer_reports_leaves_the_metrics():
    gauges = Gauges()
    gauges.record(batch(1), 0.01, 1.0)
    assert instruments(gauges) == ["laser1", "oven"]
    laser_only = Batch(2, 1700000002.0, (Result("q", "table1", 1700000002.5, (batch(1).results[0].readings[0],)),))
    gauges.record(laser_only, 0.01, 2.0)
    assert instruments(gauges) == ["laser1"]
    gauges.record(Batch(3, 1700000003.0, (), ("table1",)), 0.01, 3.0)  # missing is not removed: it keeps its last
    assert instruments(gauges) == ["laser1"]


AWKWARD = 'quote " back \\ slash\nnew line, ünïcode'


def reference(gauges: Gauges, alerts: list, outbox: list) -> bytes:
    """Return what prometheus_client itself renders for the same state: the text labmon's must parse as."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector

    def family(name: str, labels: list[str], rows: list) -> GaugeMetricFamily | CounterMetricFamily:
        kind = CounterMetricFamily if name.endswith("_total") else GaugeMetricFamily
        made = kind(name.removesuffix("_total") if kind is CounterMetricFamily else name, METRICS[name], labels=labels)
        for values, value in rows:
            made.add_metric(values, value)
        return made

    latest = {}
    for m, result in gauges.results.items():
        for r in result.readings:
            latest[(m, r.instrument, r.name)] = (r, result.measured_at)
    series = [([*key, r.unit], r, at) for key, (r, at) in sorted(latest.items())]
    by_series = ["measurer", "instrument", "reading", "unit"]
    h = gauges.health
    measurers = sorted(h.up)
    families = [
        family("labmon_reading", by_series, [(k, r.value) for k, r, _ in series if r.value is not None]),
        family("labmon_reading_ok", by_series, [(k, float(r.value is not None)) for k, r, _ in series]),
        family("labmon_reading_timestamp_seconds", by_series, [(k, at) for k, _, at in series]),
        family(
            "labmon_alerts",
            ["alertname", "alertstate", "series", "severity"],
            [([a, st, se, sv], 1.0) for a, se, st, sv in alerts],
        ),
        family("labmon_measurer_up", ["measurer"], [([m], float(h.up[m])) for m in measurers]),
        family("labmon_measurer_missing_cycles_total", ["measurer"], [([m], float(h.missing[m])) for m in measurers]),
        family("labmon_cycles_total", [], [([], float(h.cycles))]),
        family("labmon_cycle_duration_seconds", [], [([], h.cycle_seconds)]),
        family("labmon_cycle_last_completed_timestamp_seconds", [], [([], h.last_cycle_at)]),
        family("labmon_outbox_backlog", ["target"], [([t], float(b)) for t, b, _, _ in outbox]),
        family("labmon_outbox_dead_letters", ["target"], [([t], float(d)) for t, _, d, _ in outbox]),
        family("labmon_outbox_paused", ["target"], [([t], float(p)) for t, _, _, p in outbox]),
        family("labmon_outbox_resent_total", ["target"], [([t], float(gauges.resent.get(t, 0))) for t, *_ in outbox]),
    ]

    class Snapshot(Collector):
        def collect(self):
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot())
    return generate_latest(registry)


def parsed(text: bytes) -> list:
    return [(f.name, f.documentation, f.type, f.samples) for f in text_string_to_metric_families(text.decode())]


def test_the_text_reads_as_prometheus_clients_own_with_awkward_names_units_and_twins():
    gauges = Gauges()
    twins = (Reading("r", 1.0, "V", instrument="a"), Reading("r", 2.0, "V", instrument="a"))
    strange = (Reading(AWKWARD, 1e-300, AWKWARD, instrument=AWKWARD), Reading("big", 12345678.9, "Hz", instrument="b"))
    results = (Result("q", "twins", 1.5, twins), Result("q", AWKWARD, 1700000000.25, strange))
    gauges.record(Batch(1, 1.0, results, ("silent",)), 0.5, 2.0)
    gauges.record(Batch(2, 3.0, (Result("q", "twins", 3.5, twins[::-1]), results[1]), ("silent",)), 0.25, 4.0)
    alerts = [(AWKWARD, f"{AWKWARD}/a/r", "pending", "warning")]
    outbox = [(f"sink:{AWKWARD}", 2, 0, True)]
    gauges.resent = {f"sink:{AWKWARD}": 1}
    ours = exposition(gauges, alerts, outbox)
    assert parsed(ours) == parsed(reference(gauges, alerts, outbox))
    assert exposition(gauges, alerts, outbox) == ours  # a second scrape, from the kept label text
