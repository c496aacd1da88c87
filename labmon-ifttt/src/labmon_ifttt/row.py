"""Lay a cycle out as IFTTT's three values: time, the readings as Sheets cells, and notes."""

from __future__ import annotations

from labmon import Batch, iso

CELL_SEPARATOR = " ||| "
"""What the Google Sheets applet splits a value into cells on."""


def row_values(batch: Batch, columns: list[str] | None) -> dict[str, str]:
    """Return value1 (cycle time), value2 (reading cells) and value3 (what went wrong) for one cycle.

    With `columns` (measurer/instrument/reading keys), value2 has exactly those cells in that order,
    blank where a reading is absent or failed, so a sheet's columns never shift. Without, each cell
    is self-describing: `key=value unit`.
    """
    values = {f"{m}/{r.key}": r for m, r, _ in batch.rows()}
    if columns is not None:
        cells = [_number(values[c].value) if c in values else "" for c in columns]
    else:
        cells = [f"{key}={_number(r.value)} {r.unit}".rstrip() for key, r in values.items() if r.value is not None]
    notes = [f"no reply: {m}" for m in batch.missing]
    notes += [f"{key}: {r.error}" for key, r in values.items() if r.status == "error"]
    return {"value1": iso(batch.started_at), "value2": CELL_SEPARATOR.join(cells), "value3": "; ".join(notes)}


def header_values(columns: list[str]) -> dict[str, str]:
    """Return a header row that names the columns `row_values` fills."""
    return {"value1": "time", "value2": CELL_SEPARATOR.join(columns), "value3": "notes"}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.10g}"
