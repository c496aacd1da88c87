"""Synthetic histories written through the real sqlite sink, cycle by cycle, with gaps and restarts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from labmon.models import Batch, Reading, Result
from labmon_collector.history.writer import HistoryConfig, HistorySink

Value = Callable[[float], float | None]
"""A series' value at a time (None: an error reading)."""


def write_history(
    path: Path, series: dict[str, Value], times: Iterable[float], *, restart_at: float | None = None
) -> None:
    """Store one cycle per time in `times` through HistorySink; close and reopen it at `restart_at` (a restart)."""
    sink = HistorySink(HistoryConfig(path=path))
    for cycle, t in enumerate(times):
        if restart_at is not None and t >= restart_at:
            sink.close()
            sink = HistorySink(HistoryConfig(path=path))
            restart_at = None
        by_measurer: dict[str, list[Reading]] = {}
        for key, value in series.items():
            measurer, instrument, name = key.split("/")
            v = value(t)
            reading = (
                Reading(name, v, "V", instrument=instrument)
                if v is not None
                else Reading(name, None, "V", "error", "timeout", instrument)
            )
            by_measurer.setdefault(measurer, []).append(reading)
        results = tuple(Result(f"q{cycle}", m, t, tuple(rs)) for m, rs in by_measurer.items())
        sink.write(Batch(cycle, t, results))
    sink.close()


def collector_config(path: Path, *tables: str, keys: str = "") -> Path:
    """Write a collector config polling measurer t1 (no broker is reached) with `keys` and TOML `tables`."""
    path.write_text("\n".join(['[broker]\nhost = "127.0.0.1"\n[collector]\nmeasurers = ["t1"]', keys, *tables]) + "\n")
    return path
