"""The collector's state in the Prometheus exposition format, for `/metrics` on its web listener."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from labmon.models import Batch, Result

METRICS = {
    "labmon_reading": "Latest valid value of a series (its unit is the `unit` label)",
    "labmon_reading_ok": "1 if the series' latest reading was valid, 0 if it was an error reading",
    "labmon_reading_timestamp_seconds": "When the series' latest reading was measured (Unix time)",
    "labmon_alerts": "Rule states that are not inactive, as Prometheus' ALERTS series (value 1)",
    "labmon_measurer_up": "1 if the measurer answered the latest cycle, 0 if it was missing",
    "labmon_measurer_missing_cycles_total": "Cycles in which the measurer did not answer, since the collector started",
    "labmon_cycle_duration_seconds": "Wall time of the latest completed cycle, inquiries to dispatch",
    "labmon_cycle_last_completed_timestamp_seconds": "When the latest cycle completed (Unix time)",
    "labmon_cycles_total": "Cycles completed since the collector started",
    "labmon_outbox_backlog": "Items waiting in the outbox for one sink or notifier",
    "labmon_outbox_dead_letters": "Items a target rejected for good, kept for `labmon outbox`",
}
"""Every metric the collector exports, with its help text (the Grafana example may only query these)."""


@dataclass(frozen=True)
class Latest:
    """A series' latest reading."""

    value: float | None
    unit: str
    measured_at: float


@dataclass
class Health:
    """The collector's own figures since it started."""

    cycles: int = 0
    cycle_seconds: float | None = None
    last_cycle_at: float | None = None
    up: dict[str, bool] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)


@dataclass
class Gauges:
    """What /metrics shows, updated once per cycle by the collector."""

    results: dict[str, Result] = field(default_factory=dict)
    """Each measurer's latest answer: its readings are the latest of its series (kept per measurer, not per
    series, so a cycle costs one assignment per measurer; a series its measurer stops reporting goes with it)."""
    health: Health = field(default_factory=Health)

    @property
    def latest(self) -> dict[tuple[str, str, str], Latest]:
        """Return each series' latest reading, keyed by (measurer, instrument, reading)."""
        return {
            (measurer, reading.instrument, reading.name): Latest(reading.value, reading.unit, result.measured_at)
            for measurer, result in list(self.results.items())  # a snapshot: the cycle may record meanwhile
            for reading in result.readings
        }

    def record(self, batch: Batch, took: float, completed_at: float) -> None:
        """Take in one completed cycle: its readings, who answered, and how long it took."""
        h = self.health
        h.cycles += 1
        h.cycle_seconds, h.last_cycle_at = took, completed_at
        for result in batch.results:
            self.results[result.measurer] = result
            h.up[result.measurer] = True
            h.missing.setdefault(result.measurer, 0)
        for measurer in batch.missing:
            h.up[measurer] = False
            h.missing[measurer] = h.missing.get(measurer, 0) + 1


AlertRow = tuple[str, str, str, str]
"""(rule, series, state, severity) of a rule state that is pending or firing."""


def exposition(gauges: Gauges, alerts: Iterable[AlertRow], outbox: Iterable[tuple[str, int, int]]) -> bytes:
    """Return the text exposition of `gauges`, the active `alerts` and the outbox (target, backlog, dead)."""
    from prometheus_client import CollectorRegistry, generate_latest  # only a collector with a web listener
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector

    def gauge(name: str, labels: list[str]) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, METRICS[name], labels=labels)

    series_labels = ["measurer", "instrument", "reading", "unit"]
    value, ok, stamp = (
        gauge(n, series_labels) for n in ("labmon_reading", "labmon_reading_ok", "labmon_reading_timestamp_seconds")
    )
    for (measurer, instrument, reading), latest in sorted(gauges.latest.items()):
        labels = [measurer, instrument, reading, latest.unit]
        ok.add_metric(labels, 0.0 if latest.value is None else 1.0)
        stamp.add_metric(labels, latest.measured_at)
        if latest.value is not None:
            value.add_metric(labels, latest.value)
    firing = gauge("labmon_alerts", ["alertname", "alertstate", "series", "severity"])
    for rule, series, state, severity in alerts:
        firing.add_metric([rule, state, series, severity], 1.0)
    h = gauges.health
    up = gauge("labmon_measurer_up", ["measurer"])
    missing = CounterMetricFamily(
        "labmon_measurer_missing_cycles", METRICS["labmon_measurer_missing_cycles_total"], labels=["measurer"]
    )
    for measurer in sorted(h.up):
        up.add_metric([measurer], 1.0 if h.up[measurer] else 0.0)
        missing.add_metric([measurer], float(h.missing.get(measurer, 0)))
    cycles = CounterMetricFamily("labmon_cycles", METRICS["labmon_cycles_total"], value=float(h.cycles))
    families: list[Metric] = [value, ok, stamp, firing, up, missing, cycles]
    if h.cycle_seconds is not None and h.last_cycle_at is not None:
        families += [
            GaugeMetricFamily(
                "labmon_cycle_duration_seconds", METRICS["labmon_cycle_duration_seconds"], value=h.cycle_seconds
            ),
            GaugeMetricFamily(
                "labmon_cycle_last_completed_timestamp_seconds",
                METRICS["labmon_cycle_last_completed_timestamp_seconds"],
                value=h.last_cycle_at,
            ),
        ]
    backlog, dead = gauge("labmon_outbox_backlog", ["target"]), gauge("labmon_outbox_dead_letters", ["target"])
    for target, waiting, rejected in outbox:
        backlog.add_metric([target], float(waiting))
        dead.add_metric([target], float(rejected))
    families += [backlog, dead]

    class Snapshot(Collector):
        def collect(self) -> Iterable[Metric]:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot())
    return generate_latest(registry)
