"""Lay a cycle out as IFTTT's three values: time, the readings as Sheets cells, and notes."""

from __future__ import annotations

from labmon import WHOLE_INSTRUMENT, Batch, iso

CELL_SEPARATOR = " ||| "
"""What the Google Sheets applet splits a value into cells on."""


def series(batch: Batch) -> list[str]:
    """Return the keys (measurer/instrument/reading) of the batch's readings that name a series, in order."""
    return [f"{m}/{r.key}" for m, r, _ in batch.rows() if r.name != WHOLE_INSTRUMENT]


def row_values(batch: Batch, columns: list[str]) -> dict[str, str]:
    """Return value1 (cycle time), value2 (one plain number per column) and value3 (what went wrong).

    value2 has exactly `columns` cells in that order, blank where a reading is absent or failed, so
    a sheet's columns never shift and Sheets reads each cell as a number.
    """
    values = {f"{m}/{r.key}": r for m, r, _ in batch.rows()}
    cells = [_number(values[c].value) if c in values else "" for c in columns]
    notes = [f"no reply: {m}" for m in batch.missing]
    notes += [f"{key}: {r.error}" for key, r in values.items() if r.status == "error"]
    return {"value1": iso(batch.started_at), "value2": CELL_SEPARATOR.join(cells), "value3": "; ".join(notes)}


def header_values(columns: list[str]) -> dict[str, str]:
    """Return a header row that names the columns `row_values` fills."""
    return {"value1": "time", "value2": CELL_SEPARATOR.join(columns), "value3": "notes"}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.10g}"
