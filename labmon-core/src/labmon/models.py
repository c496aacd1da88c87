"""The values that flow through labmon: readings, results, cycle batches and alerts."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from operator import attrgetter
from typing import Any, Literal

Status = Literal["ok", "error"]

WHOLE_INSTRUMENT = "*"
"""Reading name of an error that concerns every reading of an instrument (it could not be read)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One named value from an instrument, or the error that kept it from being read.

    Slots: a large lab's cycle walks tens of thousands of readings several times over, and a reading held in
    one object, not an object and its dict, is half the memory to fetch.
    """

    name: str
    value: float | None
    unit: str = ""
    status: Status = "ok"
    error: str | None = None
    instrument: str = ""

    @classmethod
    def ok(cls, name: str, value: float, unit: str = "") -> Reading:
        """Return a valid reading; a NaN or infinite value becomes an error reading."""
        value = float(value)
        if not math.isfinite(value):
            return cls.failed(name, f"not a finite number: {value}", unit)
        return cls(name=name, value=value, unit=unit)

    @classmethod
    def failed(cls, name: str, error: str, unit: str = "") -> Reading:
        """Return an error reading: it carries no value, so it can never look healthy."""
        return cls(name=name, value=None, unit=unit, status="error", error=error)

    @property
    def key(self) -> str:
        """Return `instrument/name`, the reading's address within its measurer."""
        return f"{self.instrument}/{self.name}"


READING_FIELDS = ("name", "value", "unit", "status", "error", "instrument")
"""A reading's fields in order: Batch.stored() writes each reading as an array of them."""
_reading_fields = attrgetter(*READING_FIELDS)
_new = object.__new__
_set_name, _set_value, _set_unit, _set_status, _set_error, _set_instrument = (
    Reading.__dict__[name].__set__ for name in READING_FIELDS
)


def trusted_reading(
    name: str, value: float | None, unit: str, status: Status, error: str | None, instrument: str
) -> Reading:
    """Return Reading(name, value, unit, status, error, instrument) from values already checked.

    For the wire decoder's hot path: a frozen dataclass's __init__ sets each field through
    object.__setattr__, which was a third of decoding a large lab's cycle; this sets the slots directly.
    """
    reading = _new(Reading)
    _set_name(reading, name)
    _set_value(reading, value)
    _set_unit(reading, unit)
    _set_status(reading, status)
    _set_error(reading, error)
    _set_instrument(reading, instrument)
    return reading


@dataclass(frozen=True)
class Result:
    """A measurer's answer to one inquiry."""

    inquiry_id: str
    measurer: str
    measured_at: float
    readings: tuple[Reading, ...]
    received_at: float | None = None
    """When the inquiry reached the measurer, on the measurer's clock (with `replied_at`: the clock's offset)."""
    replied_at: float | None = None
    """When the measurer sent this result, on its own clock."""
    clock_offset: float | None = None
    """How far the measurer's clock was ahead of the collector's (seconds), as the collector measured it."""
    read_seconds: dict[str, float] | None = None
    """How long each instrument's read took for this result, by instrument name (reads that ended in time)."""


def trusted_result(
    inquiry_id: str,
    measurer: str,
    measured_at: float,
    readings: tuple[Reading, ...],
    received_at: float | None,
    replied_at: float | None,
    clock_offset: float | None,
    read_seconds: dict[str, float] | None,
) -> Result:
    """Return Result(...) of these fields, already checked, as trusted_reading does a reading: set in one step,
    not through the frozen dataclass's object.__setattr__ per field (the collector makes two per answer)."""
    result = _new(Result)
    result.__dict__.update(
        inquiry_id=inquiry_id, measurer=measurer, measured_at=measured_at, readings=readings,
        received_at=received_at, replied_at=replied_at, clock_offset=clock_offset, read_seconds=read_seconds,
    )  # fmt: skip
    return result


@dataclass(frozen=True)
class Batch:
    """Everything one collector cycle gathered: the results and the measurers that stayed silent."""

    cycle: int
    started_at: float
    results: tuple[Result, ...]
    missing: tuple[str, ...] = ()
    disconnected: tuple[str, ...] = ()
    """Measurers not judged this cycle: the collector's connection to their broker was down."""

    def rows(self) -> list[tuple[str, Reading, float]]:
        """Return (measurer, reading, measured_at) for every reading, in result order."""
        return [(measurer, reading, at) for _, measurer, reading, at in self.series()]

    @cached_property
    def _series(self) -> tuple[tuple[str, str, Reading, float], ...]:
        # Built once per batch: every rule, sink and gauge walks the same rows (frozen: cached_property
        # writes the instance dict directly, so the batch stays immutable to its users).
        return tuple(
            [
                (f"{r.measurer}/{reading.instrument}/{reading.name}", r.measurer, reading, r.measured_at)
                for r in self.results
                for reading in r.readings
            ]
        )

    def series(self) -> tuple[tuple[str, str, Reading, float], ...]:
        """Return (series, measurer, reading, measured_at) for every reading, in result order."""
        return self._series

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (by hand: dataclasses.asdict deep-copies every value, the cost of a cycle)."""
        return self._form(
            lambda readings: [dict(zip(READING_FIELDS, _reading_fields(r), strict=True)) for r in readings]
        )

    def stored(self) -> dict[str, Any]:
        """Return the form the outbox keeps: to_dict's, but each reading an array of its fields in READING_FIELDS
        order (under half the text; orjson writes a dataclass with slots, as a reading is, slowly)."""
        return self._form(lambda readings: list(map(_reading_fields, readings)))

    def _form(self, readings: Callable[[tuple[Reading, ...]], list[Any]]) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "started_at": self.started_at,
            "results": [
                {
                    "inquiry_id": r.inquiry_id,
                    "measurer": r.measurer,
                    "measured_at": r.measured_at,
                    "readings": readings(r.readings),
                    "received_at": r.received_at,
                    "replied_at": r.replied_at,
                    "clock_offset": r.clock_offset,
                    "read_seconds": r.read_seconds,
                }
                for r in self.results
            ],
            "missing": list(self.missing),
            "disconnected": list(self.disconnected),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Batch:
        """Rebuild a batch from `to_dict` or `stored` output."""
        results = tuple(
            Result(
                inquiry_id=r["inquiry_id"],
                measurer=r["measurer"],
                measured_at=r["measured_at"],
                readings=tuple(
                    Reading(**reading) if isinstance(reading, dict) else Reading(*reading) for reading in r["readings"]
                ),
                received_at=r.get("received_at"),
                replied_at=r.get("replied_at"),
                clock_offset=r.get("clock_offset"),
                read_seconds=r.get("read_seconds"),
            )
            for r in data["results"]
        )
        return cls(
            data["cycle"], data["started_at"], results, tuple(data["missing"]), tuple(data.get("disconnected", ()))
        )


AlertState = Literal["firing", "resolved"]


@dataclass(frozen=True)
class Alert:
    """A notification that a rule started or stopped firing for one series."""

    rule: str
    state: AlertState
    series: str
    message: str
    severity: str = "warning"
    value: float | None = None
    unit: str = ""
    threshold: float | None = None
    since: float = 0.0
    at: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    repeat: int = 0

    @property
    def held_for(self) -> float:
        """Return how long, in seconds, the condition has held (firing) or held before clearing."""
        return max(0.0, self.at - self.since)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """Rebuild an alert from `to_dict` output."""
        return cls(**data)
