"""The `csv` sink: one CSV line per reading, for spreadsheets and USB sticks."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from labmon.config import check_file
from labmon.hookspecs import Register, hookimpl
from labmon.models import Batch
from labmon.times import iso

HEADER = ("cycle_at", "measured_at", "measurer", "instrument", "reading", "value", "unit", "status", "error")


@dataclass(frozen=True)
class CsvConfig:
    """Options of the CSV sink."""

    path: Path = Path("labmon-readings.csv")

    def __post_init__(self) -> None:
        check_file("path", self.path)


class CsvSink:
    """Appends readings; a missing (disconnected) measurer is a row with status `missing` (`disconnected`)."""

    Config = CsvConfig

    def __init__(self, config: CsvConfig) -> None:
        self.path = config.path
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, batch: Batch) -> None:
        """Append the batch's rows (header first when the file is new)."""
        new = not self.path.exists() or self.path.stat().st_size == 0
        cycle_at = iso(batch.started_at)
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(HEADER)
            for measurer, r, at in batch.rows():
                value = "" if r.value is None else repr(r.value)
                writer.writerow(
                    (cycle_at, iso(at), measurer, r.instrument, r.name, value, r.unit, r.status, r.error or "")
                )
            for measurer in batch.missing:
                writer.writerow(
                    (cycle_at, "", measurer, "", "", "", "", "missing", "no reply within the reply timeout")
                )
            for measurer in batch.disconnected:
                writer.writerow(
                    (cycle_at, "", measurer, "", "", "", "", "disconnected", "the collector could not reach its broker")
                )

    def close(self) -> None:
        """Nothing held open between writes."""


@hookimpl
def labmon_register_sinks(register: Register) -> None:
    register("csv", CsvSink)
