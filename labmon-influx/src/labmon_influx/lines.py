"""Lay a cycle out as InfluxDB line protocol: one point per reading, one per silent measurer."""

from __future__ import annotations

from labmon import Batch, Reading

SCALE = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
"""Timestamp units per second, by precision."""

# InfluxDB 1.x keeps a backslash in a name or tag literally (and cannot end a value with one) where 2.x
# reads `\\` as one: a `/` in its place means the same to every store.
_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\\": "/", "\n": " ", "\r": " "})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "/", "\n": " ", "\r": " "})
_STRING = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": " ", "\r": " "})


def batch_lines(batch: Batch, measurement: str, precision: str) -> list[str]:
    """Return one line per reading (fields value, ok, status, error) and per missing measurer (ok=0)."""
    name = measurement.translate(_MEASUREMENT)
    lines = [_reading_line(name, m, r, _stamp(at, precision)) for m, r, at in batch.rows()]
    stamp = _stamp(batch.started_at, precision)
    lines += [f'{name},measurer={m.translate(_KEY)} ok=0i,status="missing" {stamp}' for m in batch.missing]
    return lines


def _reading_line(name: str, measurer: str, reading: Reading, stamp: int) -> str:
    tags = {"measurer": measurer, "instrument": reading.instrument, "reading": reading.name, "unit": reading.unit}
    tag_text = "".join(f",{k}={v.translate(_KEY)}" for k, v in tags.items() if v)  # an empty tag is invalid
    if reading.value is not None and reading.status == "ok":
        fields = f'value={reading.value!r},ok=1i,status="ok"'
    else:
        fields = f'ok=0i,status="{reading.status}",error="{(reading.error or "").translate(_STRING)}"'
    return f"{name}{tag_text} {fields} {stamp}"


def _stamp(seconds: float, precision: str) -> int:
    micros = round(seconds * 1_000_000)  # a float of epoch seconds holds no finer digit than this
    scale = SCALE[precision]
    return micros * (scale // 1_000_000) if scale >= 1_000_000 else round(micros * scale / 1_000_000)
