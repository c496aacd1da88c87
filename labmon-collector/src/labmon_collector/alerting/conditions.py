"""Turn a cycle into observations per rule: for each series it selects, does its condition hold?"""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter, itemgetter
from typing import TypeVar, cast

from labmon.models import WHOLE_INSTRUMENT, Batch, Reading
from labmon.rule_config import RULE_KINDS, RuleConfig, Severity
from labmon.times import format_duration

_series_of, _reading_of, _unit_of, _value_of = itemgetter(0), itemgetter(2), attrgetter("unit"), attrgetter("value")
_status_of = attrgetter("status")
"""Of a row of Batch.series(), and of a reading: C functions, for the passes over every row of a large lab."""

Row = tuple[str, str, Reading, float]
"""(series, measurer, reading, measured_at), as Batch.series() gives them."""
T = TypeVar("T")


@dataclass(frozen=True)
class Columns:
    """A cycle's rows, with their series and values beside them: made once per evaluation, in C-speed passes."""

    batch: Batch
    rows: tuple[Row, ...]
    keys: list[str]
    values: list[float | None]
    errors: bool
    """Whether any reading is an error (no value): a steady lab has none, and skips every filter for them."""

    @classmethod
    def of(cls, batch: Batch) -> Columns:
        """Return the columns of `batch`."""
        rows = batch.series()
        values = list(map(_value_of, map(_reading_of, rows)))
        return cls(batch, rows, list(map(_series_of, rows)), values, None in values)

    def valid(self) -> Sequence[Row]:
        """Return the rows with a value (an error reading says nothing about a value: it neither fires nor clears)."""
        return [row for row in self.rows if row[2].value is not None] if self.errors else self.rows


@dataclass(frozen=True)
class Observation:
    """One series under one rule this cycle; `holds` is None when the cycle says nothing about it."""

    series: str
    measurer: str
    holds: bool | None
    value: float | None = None
    unit: str = ""
    error: str = ""
    side: str = ""
    threshold: float | None = None
    threshold_text: str = ""
    began: float | None = None
    """When the condition really began, where the rule knows better than the state machine (stale)."""
    detail: str = ""
    """What else the message says (a forecast's time to the crossing and its fit)."""
    severity: Severity | None = None
    """The alert's severity where the series sets it, not the rule (the disk's early warning)."""


@dataclass
class Memory:
    """What outlives a cycle: each series' last valid time (persisted) and recent values (for rates)."""

    last_valid: dict[str, float] = field(default_factory=dict)
    recent: dict[str, deque[tuple[float, float]]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    def remember(self, columns: Columns, now: float, window: float) -> list[str]:
        """Record the cycle's valid values, keeping `window` seconds of them per series; return the forgotten series.

        A measurer that answers without a series (no reading, no whole-instrument error) no longer has
        it, say after its config changed: the series is forgotten, so no stale alert haunts it.
        """
        batch, rows = columns.batch, columns.rows
        forgotten = []
        valid = columns.valid()
        seen = dict.fromkeys(map(_series_of, valid) if columns.errors else columns.keys, now)
        self.last_valid.update(seen)
        # Known series beyond this cycle's valid ones: some failed or were not reported (a steady lab: none, and
        # no set of every series is made). The update added only reported series, so the unreported are still
        # the known ones less the reported.
        unreported = self.last_valid.keys() - set(columns.keys) if len(self.last_valid) > len(seen) else ()
        if unreported:
            broken = {f"{m}/{r.instrument}" for _, m, r, _ in rows if r.name == WHOLE_INSTRUMENT}
            answered = {r.measurer for r in batch.results}
            for series in sorted(unreported):
                measurer, instrument, _ = series.split("/", 2)
                if measurer in answered and f"{measurer}/{instrument}" not in broken:
                    del self.last_valid[series]
                    self.recent.pop(series, None)
                    self.units.pop(series, None)
                    forgotten.append(series)
        self.units.update(zip(map(_series_of, valid), map(_unit_of, map(_reading_of, valid)), strict=True))
        if window <= 0:
            return forgotten  # no rate rule: nothing needs recent values
        for series, _, reading, _ in valid:
            values = self.recent.setdefault(series, deque())
            values.append((now, reading.value or 0.0))
            while values and values[0][0] < now - window:
                values.popleft()
        return forgotten


def lasted(elapsed: float, duration: float, tick: float) -> bool:
    """Return whether `elapsed` seconds reach `duration`, counted in whole ticks of `tick` seconds (0: exactly).

    Cycle start times jitter by milliseconds either way around the grid; rounding to whole ticks keeps a
    20-minute rule at one cycle a minute firing at the 20th minute, not the 21st.
    """
    if tick > 0 and elapsed >= tick / 2:  # closer together only when cycles are run by hand: count real time
        elapsed = round(elapsed / tick) * tick
    return elapsed >= duration - 1e-9


MATCH_CACHE_LIMIT = 1_000_000
"""Series whose selecting rules Selection remembers; past it, it starts afresh (series come and go)."""


class Selection:
    """Which value rules select which rows: worked out once per series, and per rule as positions in the cycle's
    rows once per layout of them (a lab's series rarely change from one cycle to the next).

    Checking every rule's pattern against every series each cycle was most of a large lab's cycle cost; then a
    step per row and rule to sort the rows out.
    """

    def __init__(self, rules: tuple[RuleConfig, ...]) -> None:
        self._rules = [rule for rule in rules if RULE_KINDS[rule.kind].values]
        self._by_series: dict[str, tuple[str, ...]] = {}
        self._keys: list[str] = []
        self._at: dict[str, Picker] = {}

    def select(self, columns: Columns) -> Selected:
        """Return, per value rule, the cycle's rows that it selects."""
        if columns.keys != self._keys:  # the series or their order changed: positions anew
            self._at = self._positions(columns.keys)
            self._keys = columns.keys
        return Selected(columns, self._at)

    def _positions(self, keys: list[str]) -> dict[str, Picker]:
        found: dict[str, list[int]] = {rule.name: [] for rule in self._rules}
        for index, series in enumerate(keys):
            names = self._by_series.get(series)
            if names is None:
                if len(self._by_series) >= MATCH_CACHE_LIMIT:
                    self._by_series.clear()
                names = tuple(rule.name for rule in self._rules if fnmatch.fnmatchcase(series, rule.select))
                self._by_series[series] = names
            for name in names:
                found[name].append(index)
        return {name: Picker(tuple(at)) for name, at in found.items() if at}


class Picker:
    """Takes the items at fixed positions out of a list, in C (itemgetter)."""

    def __init__(self, at: tuple[int, ...]) -> None:
        self.at = at
        self._get = itemgetter(*at)

    def __call__(self, items: Sequence[T]) -> tuple[T, ...]:
        """Return the items at the positions, as a tuple (itemgetter gives one position's item bare)."""
        return self._get(items) if len(self.at) > 1 else (self._get(items),)


class Selected:
    """One cycle's rows of each value rule."""

    def __init__(self, columns: Columns, at: dict[str, Picker]) -> None:
        self._columns = columns
        self._at = at

    def valid(self, rule: str) -> list[Row]:
        """Return the rows with a value that `rule` selects."""
        picker = self._at.get(rule)
        if picker is None:
            return []
        rows, values = self._columns.rows, self._columns.values
        return [rows[i] for i in picker.at if values[i] is not None]

    def unquiet(self, rule: RuleConfig, active: Collection[str]) -> list[Row]:
        """Return the rows with a value a threshold or band rule must judge: its series in `active` (pending or
        firing) and those where it holds.

        The rest would only say "does not hold" of a series with no alert, which changes nothing: most of a
        large lab's readings. With no series active, the values' extremes say whether any holds at all.
        """
        picker = self._at.get(rule.name)
        if picker is None:
            return []
        values = picker(self._columns.values)
        known = [v for v in values if v is not None] if self._columns.errors else cast(tuple[float, ...], values)
        if not active and not _holds_anywhere(rule, known):
            return []
        rows = self._columns.rows
        return [
            rows[i]
            for i, v in zip(picker.at, values, strict=True)
            if v is not None and (level_holds(rule, v, False) or rows[i][0] in active)
        ]


def _holds_anywhere(rule: RuleConfig, values: Sequence[float]) -> bool:
    """Return whether a threshold or band rule holds for any of `values` (a threshold does at one extreme if
    anywhere, a band at one of the two)."""
    return bool(values) and (level_holds(rule, min(values), False) or level_holds(rule, max(values), False))


Active = Callable[[str], bool]
"""Whether a rule is pending or firing for a series: hysteresis judges differently then."""


def observe(
    rule: RuleConfig,
    batch: Batch,
    now: float,
    down: set[str],
    memory: Memory,
    active: Active,
    tick: float = 0.0,
    selected: list[Row] | None = None,
    *,
    idle: bool = False,
) -> list[Observation]:
    """Return the rule's observations this cycle (`selected`: a value rule's rows, from Selection).

    `idle`: none of the rule's series is pending or firing. Then a cycle in which its condition cannot hold
    anywhere has nothing to observe (each observation would say "does not hold" of a series with no alert).
    """
    kind = rule.kind
    if idle and not _may_hold(rule, batch, now, down, memory, tick):
        return []
    if kind == "offline":
        polled = [r.measurer for r in batch.results] + list(batch.missing)
        return [Observation(m, m, m in down) for m in polled if fnmatch.fnmatchcase(m, rule.select)]
    if kind == "error":
        return _errors(rule, batch)
    if kind == "clock":
        return _clocks(rule, batch)
    if kind == "stale":
        assert rule.stale is not None
        return [
            Observation(
                series,
                series.split("/")[0],
                lasted(now - at, rule.stale, tick),
                unit=memory.units.get(series, ""),
                began=at,
            )
            for series, at in memory.last_valid.items()
            if fnmatch.fnmatchcase(series, rule.select) and series.split("/")[0] not in batch.disconnected
        ]
    if selected is None:
        selected = Selection((rule,)).select(Columns.of(batch)).valid(rule.name)
    observations = []
    for series, measurer, reading, _ in selected:
        assert reading.value is not None
        if kind == "rate":
            observations.append(_rate(rule, series, measurer, reading.unit, memory))
        else:
            observations.append(_level(rule, series, measurer, reading.value, reading.unit, active(series)))
    return observations


def _may_hold(rule: RuleConfig, batch: Batch, now: float, down: set[str], memory: Memory, tick: float) -> bool:
    """Return whether an offline, error, clock or stale rule may hold for any series this cycle, from what the
    whole cycle says (no error reading at all, no clock off, no series that old): one pass in C, not one
    observation per series, which a steady lab's every cycle made only to drop them all."""
    kind = rule.kind
    if kind == "offline":
        return bool(down)
    if kind == "error":
        return "error" in map(_status_of, map(_reading_of, batch.series()))
    if kind == "clock":
        limit = rule.clock_offset
        assert limit is not None
        offsets = [abs(r.clock_offset) for r in batch.results if r.clock_offset is not None]
        return bool(offsets) and max(offsets) > limit
    if kind == "stale":
        assert rule.stale is not None
        return bool(memory.last_valid) and lasted(now - min(memory.last_valid.values()), rule.stale, tick)
    return True


def _clocks(rule: RuleConfig, batch: Batch) -> list[Observation]:
    """Return a clock rule's observations: is each answering measurer's clock further off than the rule allows?"""
    limit = rule.clock_offset
    assert limit is not None
    return [
        Observation(
            r.measurer,
            r.measurer,
            abs(r.clock_offset) > limit,
            value=r.clock_offset,
            unit="s",
            side="off by",
            threshold=limit,
            threshold_text=format_duration(limit),
        )
        for r in batch.results
        if r.clock_offset is not None and fnmatch.fnmatchcase(r.measurer, rule.select)
    ]


def unreachable(rule: RuleConfig, brokers: Mapping[str, float | None]) -> list[Observation]:
    """Return a broker rule's observations: is the collector cut off from each selected broker, and since when?"""
    return [
        Observation(address, "", since is not None, began=since)
        for address, since in brokers.items()
        if fnmatch.fnmatchcase(address, rule.select)
    ]


def level_holds(rule: RuleConfig, value: float, active: bool) -> bool:
    """Return whether a threshold or band rule holds for `value` (`active`: pending or firing, for hysteresis)."""
    if rule.outside is not None:
        low, high = rule.outside
        return not low <= value <= high
    threshold = rule.above if rule.above is not None else rule.below
    assert threshold is not None
    limit = rule.clear if active and rule.clear is not None else threshold  # hysteresis: clear elsewhere
    return value > limit if rule.above is not None else value < limit


def _level(rule: RuleConfig, series: str, measurer: str, value: float, unit: str, active: bool) -> Observation:
    holds = level_holds(rule, value, active)
    if rule.outside is not None:
        low, high = rule.outside
        text = f"{low:g} to {high:g} {unit}".strip()
        return Observation(series, measurer, holds, value, unit, "", "outside", None, text)
    threshold = rule.above if rule.above is not None else rule.below
    assert threshold is not None
    side = "above" if rule.above is not None else "below"
    return Observation(series, measurer, holds, value, unit, "", side, threshold, f"{threshold:g} {unit}".strip())


def _rate(rule: RuleConfig, series: str, measurer: str, unit: str, memory: Memory) -> Observation:
    per = format_duration(rule.rate_per)
    rate_unit = f"{unit}/{per}" if unit else f"/{per}"
    recent = memory.recent.get(series, deque())
    values = [(t, v) for t, v in recent if t >= recent[-1][0] - rule.window] if recent else []
    if len(values) < 2 or values[-1][0] <= values[0][0]:
        return Observation(series, measurer, None, unit=rate_unit)  # not enough history for a rate yet
    (t0, v0), (t1, v1) = values[0], values[-1]
    rate = (v1 - v0) / (t1 - t0) * rule.rate_per
    if rule.rate_below is not None and (rate < rule.rate_below or rule.rate_above is None):
        side, threshold, holds = "falling faster than", rule.rate_below, rate < rule.rate_below
    else:
        assert rule.rate_above is not None
        side, threshold, holds = "rising faster than", rule.rate_above, rate > rule.rate_above
    return Observation(series, measurer, holds, rate, rate_unit, "", side, threshold, f"{threshold:g} {rate_unit}")


def _errors(rule: RuleConfig, batch: Batch) -> list[Observation]:
    """One observation per selected instrument that answered: does any of its selected readings fail?

    A failed instrument sends one whole-instrument error reading ("*"), a working one its readings: a rule
    selecting only "*" must clear on those, or it could never resolve. An instrument that answered with
    nothing selected and nothing valid says nothing.
    """
    want_measurer, want_instrument, want_reading = rule.select.split("/")
    found: dict[str, Observation] = {}
    for measurer, reading, _ in batch.rows():
        if not (
            fnmatch.fnmatchcase(measurer, want_measurer) and fnmatch.fnmatchcase(reading.instrument, want_instrument)
        ):
            continue
        series = f"{measurer}/{reading.instrument}"
        selected = reading.name == WHOLE_INSTRUMENT or fnmatch.fnmatchcase(reading.name, want_reading)
        if selected and reading.status == "error":
            if not (found.get(series) and found[series].holds):
                found[series] = Observation(series, measurer, True, unit=reading.unit, error=reading.error or "")
        elif selected or reading.status != "error":
            found.setdefault(series, Observation(series, measurer, False))
    return list(found.values())


def still_reported(batch: Batch, brokers: Mapping[str, float | None] | None) -> Callable[[str, str], bool]:
    """Return a test of whether an alert's series (given its rule's kind) is still part of the lab.

    A series nothing reports any more (a measurer, instrument or broker taken out of the config) would
    otherwise keep its alert firing for ever. Value series are forgotten by Memory.remember.
    """
    answered = {result.measurer for result in batch.results}
    polled = answered | set(batch.missing) | set(batch.disconnected)

    @cache
    def instruments() -> set[str]:
        return {f"{measurer}/{reading.instrument}" for measurer, reading, _ in batch.rows()}

    def reported(kind: str, series: str) -> bool:
        if kind == "broker":
            return brokers is None or series in brokers
        if kind in ("offline", "clock"):
            return series in polled
        if kind == "error":
            return series.split("/")[0] not in answered or series in instruments()
        return True

    return reported
