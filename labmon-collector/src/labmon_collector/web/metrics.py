"""The collector's state in the Prometheus exposition format, for `/metrics` on its web listener.

The text is written here, not through prometheus_client's families: a large lab's scrape is tens of
thousands of samples, and a Metric, a Sample and a label dict per sample cost 3-5x the text itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from labmon.models import Batch, Reading, Result

METRICS = {
    "labmon_reading": "Latest valid value of a series (its unit is the `unit` label)",
    "labmon_reading_ok": "1 if the series' latest reading was valid, 0 if it was an error reading",
    "labmon_reading_timestamp_seconds": "When the series' latest reading was measured (Unix time)",
    "labmon_alerts": "Rule states that are not inactive, as Prometheus' ALERTS series (value 1)",
    "labmon_measurer_up": "1 if the measurer answered the latest cycle, 0 if not (missing, or its broker out of reach)",
    "labmon_measurer_missing_cycles_total": "Cycles in which the measurer did not answer, since the collector started",
    "labmon_cycle_duration_seconds": "Wall time of the latest completed cycle, inquiries to dispatch",
    "labmon_cycle_last_completed_timestamp_seconds": "When the latest cycle completed (Unix time)",
    "labmon_cycles_total": "Cycles completed since the collector started",
    "labmon_collector_active": "1 if this collector of a pair is the active one, 0 if it is the standby",
    "labmon_collector_double_sent_total": "Notifications this collector of a pair found the other sent too",
    "labmon_outbox_backlog": "Items waiting in the outbox for one sink or notifier",
    "labmon_outbox_dead_letters": "Items a target rejected for good, kept for `labmon outbox`",
    "labmon_outbox_paused": "1 while delivery to a sink or notifier is paused (it failed for good: fix and restart)",
    "labmon_outbox_resent_total": "Items sent again after a restart that a stopped run was sending (possibly repeats)",
}
"""Every metric the collector exports, with its help text (the Grafana example may only query these)."""

COUNTERS = {
    "labmon_measurer_missing_cycles_total",
    "labmon_cycles_total",
    "labmon_collector_double_sent_total",
    "labmon_outbox_resent_total",
}

SPECIAL = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}
"""Python's spelling of the non-finite floats, in the exposition format's."""


@dataclass(frozen=True, slots=True)
class SeriesText:
    """The fixed text of one series' three samples: all but the value and the time."""

    index: int
    """Where the series' reading is in its measurer's result."""
    value: str
    ok: str
    error: str
    stamp: str


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
    texts: dict[str, tuple[tuple[tuple[str, str, str], ...], list[SeriesText]]] = field(default_factory=dict)
    """Each measurer's series layout and their fixed text, kept between scrapes: a lab's series rarely change."""
    role: tuple[str, bool] | None = None
    """With a standby collector: this collector's node name and whether it is the active one."""
    double_sent: int = 0
    """With a standby collector: the notifications it found the other sent too."""
    resent: dict[str, int] = field(default_factory=dict)
    """Per target, items sent again after a restart that the run before was sending (the outbox's count)."""

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
        for measurer in batch.disconnected:  # not judged, not missing: but it did not answer either
            h.up[measurer] = False
            h.missing.setdefault(measurer, 0)

    def series_text(self, measurer: str, readings: tuple[Reading, ...]) -> list[SeriesText]:
        """Return the fixed text of a measurer's series, one per (instrument, reading), sorted."""
        layout = tuple([(r.instrument, r.name, r.unit) for r in readings])
        known = self.texts.get(measurer)
        if known is not None and known[0] == layout:
            return known[1]
        last = {(instrument, name): i for i, (instrument, name, _) in enumerate(layout)}  # the latest of a twin
        texts = []
        for (instrument, name), i in sorted(last.items()):
            labels = _labels(measurer=measurer, instrument=instrument, reading=name, unit=layout[i][2])
            texts.append(
                SeriesText(
                    i,
                    f"labmon_reading{labels} ",
                    f"labmon_reading_ok{labels} 1.0",
                    f"labmon_reading_ok{labels} 0.0",
                    f"labmon_reading_timestamp_seconds{labels} ",
                )
            )
        self.texts[measurer] = (layout, texts)
        return texts


AlertRow = tuple[str, str, str, str]
"""(rule, series, state, severity) of a rule state that is pending or firing."""


OutboxRow = tuple[str, int, int, bool]
"""(target, backlog, dead letters, paused) of one sink or notifier."""


def exposition(gauges: Gauges, alerts: Iterable[AlertRow], outbox: Iterable[OutboxRow]) -> bytes:
    """Return the text exposition of `gauges`, the active `alerts` and the outbox."""
    values, oks, stamps = (
        _header("labmon_reading"),
        _header("labmon_reading_ok"),
        _header("labmon_reading_timestamp_seconds"),
    )
    results = dict(gauges.results)  # a snapshot: the cycle may record meanwhile
    for measurer in sorted(results):
        result = results[measurer]
        readings, stamp = result.readings, number(result.measured_at)
        for text in gauges.series_text(measurer, readings):
            value = readings[text.index].value
            if value is None:
                oks.append(text.error)
            else:
                oks.append(text.ok)
                values.append(text.value + number(value))
            stamps.append(text.stamp + stamp)
    lines = [*values, *oks, *stamps, *_header("labmon_alerts")]
    lines += [
        f"labmon_alerts{_labels(alertname=rule, alertstate=state, series=series, severity=severity)} 1.0"
        for rule, series, state, severity in alerts
    ]
    h = gauges.health
    up, missing = _header("labmon_measurer_up"), _header("labmon_measurer_missing_cycles_total")
    for measurer in sorted(h.up):
        labels = _labels(measurer=measurer)
        up.append(f"labmon_measurer_up{labels} {1.0 if h.up[measurer] else 0.0}")
        missing.append(f"labmon_measurer_missing_cycles_total{labels} {number(h.missing.get(measurer, 0))}")
    lines += [*up, *missing, *_header("labmon_cycles_total"), f"labmon_cycles_total {number(h.cycles)}"]
    if gauges.role is not None:
        node, active = gauges.role
        lines += [*_header("labmon_collector_active"), f"labmon_collector_active{_labels(node=node)} {float(active)}"]
        doubles = "labmon_collector_double_sent_total"
        lines += [*_header(doubles), f"{doubles}{_labels(node=node)} {number(gauges.double_sent)}"]
    if h.cycle_seconds is not None and h.last_cycle_at is not None:
        lines += [*_header("labmon_cycle_duration_seconds"), f"labmon_cycle_duration_seconds {number(h.cycle_seconds)}"]
        lines += [
            *_header("labmon_cycle_last_completed_timestamp_seconds"),
            f"labmon_cycle_last_completed_timestamp_seconds {number(h.last_cycle_at)}",
        ]
    backlog, dead = _header("labmon_outbox_backlog"), _header("labmon_outbox_dead_letters")
    paused, again = _header("labmon_outbox_paused"), _header("labmon_outbox_resent_total")
    resent = dict(gauges.resent)  # a snapshot: a courier may count meanwhile
    for target, waiting, rejected, stopped in outbox:
        labels = _labels(target=target)
        backlog.append(f"labmon_outbox_backlog{labels} {number(waiting)}")
        dead.append(f"labmon_outbox_dead_letters{labels} {number(rejected)}")
        paused.append(f"labmon_outbox_paused{labels} {1.0 if stopped else 0.0}")
        again.append(f"labmon_outbox_resent_total{labels} {number(resent.get(target, 0))}")
    lines += [*backlog, *dead, *paused, *again, ""]
    return "\n".join(lines).encode()


def number(value: float) -> str:
    """Return `value` as the exposition format writes a sample value."""
    text = repr(float(value))
    return SPECIAL.get(text, text)


def _header(name: str) -> list[str]:
    """Return the HELP and TYPE lines of metric `name`, as the start of its family's lines."""
    help_text = METRICS[name].replace("\\", r"\\").replace("\n", r"\n")
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {'counter' if name in COUNTERS else 'gauge'}"]


def _labels(**labels: str) -> str:
    """Return `{name="value",...}` with each value escaped as the exposition format requires."""
    pairs = ",".join(f'{name}="{_escaped(value)}"' for name, value in labels.items())
    return f"{{{pairs}}}"


def _escaped(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
