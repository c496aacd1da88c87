"""What a rule may say in the collector's config, and the checks that need no other table."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from labmon.options import Duration, OptionError, check_spans

Severity = Literal["info", "warning", "critical"]
Kind = Literal["threshold", "band", "rate", "error", "stale", "offline", "broker", "clock", "forecast", "disk"]

VALUE_FIRING = "{series} has been {side} {threshold_text} for {duration} (now {value_text})"
VALUE_RESOLVED = "{series} is back at {value_text} after {duration} {side} {threshold_text}"


@dataclass(frozen=True)
class RuleKind:
    """One kind of rule: the keys that choose it, what it checks, and how its alerts read."""

    name: Kind
    keys: tuple[str, ...]
    """The rule options whose presence makes a rule of this kind (exactly one kind per rule)."""
    doc: str
    firing: str
    resolved: str
    values: bool = False
    """Judges the values of the readings it selects (error readings neither fire nor clear it)."""
    level: bool = False
    """Compares each value with a bound (hysteresis with `clear`; quiet series skipped)."""
    borrows: tuple[str, ...] = ()
    """Other kinds' keys this kind also uses (a forecast's bound): with it, they choose no kind of their own."""


RULE_KINDS: dict[str, RuleKind] = {
    kind.name: kind
    for kind in (
        RuleKind(
            "threshold", ("above", "below"), "a value above or below a bound (`clear` for hysteresis)",
            VALUE_FIRING, VALUE_RESOLVED, values=True, level=True,
        ),
        RuleKind(
            "band", ("outside",), "a value outside [low, high]", VALUE_FIRING, VALUE_RESOLVED, values=True, level=True
        ),
        RuleKind(
            "rate", ("rate_above", "rate_below"), "a value changing faster than a rate (per `rate_per`, over `window`)",
            VALUE_FIRING, "{series} changes at {value_text} again after {duration} {side} {threshold_text}",
            values=True,
        ),
        RuleKind(
            "error", ("error",), "readings that fail (an error reading instead of a value)",
            "{series} could not be read for {duration}: {error}", "{series} reads again after {duration} of errors",
        ),
        RuleKind(
            "stale", ("stale",), "no valid value for longer than `stale`",
            "{series} has had no valid value for {duration}", "{series} has valid values again after {duration}",
        ),
        RuleKind(
            "offline", ("offline",), "a measurer that does not answer",
            "measurer {measurer} has not answered for {duration}", "measurer {measurer} answers again after {duration}",
        ),
        RuleKind(
            "broker", ("broker",), "the collector cut off from a broker",
            "collector cannot reach broker {series} since {since} ({duration})",
            "collector reaches broker {series} again after {duration}",
        ),
        RuleKind(
            "clock", ("clock_offset",), "a measurer's clock off the collector's by more than `clock_offset`",
            "measurer {measurer}'s clock is off the collector's by {value_text} (more than {threshold_text});"
            " its readings are filed on the collector's clock",
            "measurer {measurer}'s clock agrees with the collector's again ({value_text} off) after {duration}",
        ),
        RuleKind(
            "forecast", ("forecast",),
            "a robust linear fit of the last `forecast` that crosses `above` or `below` within `horizon`",
            "{series} will cross {threshold_text} {detail}", "{series} no longer heads for {threshold_text} ({detail})",
            values=True, borrows=("above", "below"),
        ),
        RuleKind(
            "disk", ("disk",),
            "the collector's own data disk refusing writes (`NODE/disk/writes`) or below `[collector] min_free`"
            " (`NODE/disk/free`, a warning)",
            "{series}: {detail}", "{series}: {detail}",
        ),
    )
}  # fmt: skip
"""Every rule kind, read by the config schema, `labmon check`, the alert engine and the docs' tests."""
KIND_CHOICES = ", ".join("/".join(kind.keys) for kind in RULE_KINDS.values())

MESSAGE_FIELDS = {
    "rule": "r", "series": "m/i/r", "measurer": "m", "instrument": "i", "reading": "r", "value": 1.0,
    "unit": "V", "threshold": 1.0, "side": "above", "duration": "1m", "value_text": "1 V",
    "threshold_text": "1 V", "error": "timeout", "since": "2026-01-01T00:00:00Z",
    "detail": "in about 9 days (fit over 24h)",
}  # fmt: skip
"""The fields a rule's message template may use, with sample values to check templates against."""


SELECTOR_FIX = 'e.g. "table1/laser1/lock_error", "*/oven*/temperature" or a measurer name such as "table1"'
_CLASS = re.compile(r"\[!?[^\]/]+\]")


def selector_problem(selector: str) -> str | None:
    """Return what is wrong with a selector (measurer[/instrument[/reading]], with * ? [..]), or None.

    Rules (`select`) and silences (`labmon silence add`) both check with this.
    """
    parts = selector.split("/")
    if len(parts) > 3:
        return f"{selector!r} has {len(parts)} parts; a selector is measurer[/instrument[/reading]]"
    if not all(parts):
        return f"{selector!r} has an empty part"
    if not selector.isprintable():
        return f"{selector!r} contains control characters"
    if "[" in _CLASS.sub("", selector) or "]" in _CLASS.sub("", selector):
        return f"{selector!r} has an unclosed or empty [...] wildcard"
    return None


MEASURER_DEPENDENCY = "measurer:"
DEPENDS_FIX = 'e.g. depends_on = ["master-unlocked", "measurer:pumps"]'
SERIES_LABELS = ("measurer", "instrument", "reading")
"""The parts of a series (measurer/instrument/reading), by name."""
DEPENDS_SAME_FIX = (
    f'use labels of {", ".join(SERIES_LABELS)}: e.g. depends_on = ["master"], depends_same = ["measurer"]'
)


def series_label(series: str, label: str) -> str:
    """Return one label of `series` ("" for a part it does not have: an error alert has no reading)."""
    parts = series.split("/")
    index = SERIES_LABELS.index(label)
    return parts[index] if index < len(parts) else ""


ALONE = "collector"
"""The node name of a collector without a pair, as its disk's series say (`collector/disk/...`)."""


def selector_covers(selector: str, series: str) -> bool:
    """Return whether `selector` matches `series`, both padded to measurer/instrument/reading with `*`.

    "table1" covers all of table1, its offline alert (series "table1") included.
    """
    padded = "/".join([*series.split("/"), "*", "*"][:3])
    wide = "/".join([*selector.split("/"), "*", "*"][:3])
    return fnmatch.fnmatchcase(padded, wide) or fnmatch.fnmatchcase(series, selector)


@dataclass(frozen=True)
class RuleConfig:
    """One alert rule: which series, which condition, how long, and how to notify."""

    name: str
    select: str
    above: float | None = None
    below: float | None = None
    clear: float | None = None
    outside: list[float] | None = None
    rate_above: float | None = None
    rate_below: float | None = None
    rate_per: Duration = Duration(60.0)
    window: Duration = Duration(600.0)
    error: bool = False
    stale: Duration | None = None
    offline: bool = False
    broker: bool = False
    disk: bool = False
    """Fires while the collector's data disk refuses writes or has less than min_free (select: collector nodes)."""
    clock_offset: Duration | None = None
    """Fires while a measurer's clock is off the collector's by more than this (select: measurer names)."""
    forecast: Duration | None = None
    """Fits a line to this much of each series' history; fires when it crosses `above`/`below` within `horizon`."""
    horizon: Duration = Duration(7 * 86400.0)
    log_scale: bool = False
    """Fits the logarithm of the values (pressures: a leak's rise is exponential)."""
    """Fires while the collector cannot reach a broker (select: "host:port" or a pattern such as "*")."""
    for_: Duration = field(default=Duration(0.0), metadata={"key": "for"})
    keep_firing_for: Duration = Duration(0.0)
    repeat_interval: Duration = Duration(4 * 3600.0)
    severity: Severity = "warning"
    message: str | None = None
    notify: list[str] | None = None
    latch: bool = False
    """Stays firing after the value recovers until someone acknowledges it (`labmon ack`)."""
    escalate_after: Duration | None = None
    """A firing alert nobody acknowledged for this long also goes, once, to the `escalate_to` notifiers."""
    escalate_to: list[str] | None = None
    depends_on: list[str] | None = None
    """Rule names and "measurer:NAME"s: while one of them fires, this rule's alerts notify nobody."""
    depends_same: list[str] | None = None
    """Labels (measurer, instrument, reading) a depended-on rule's firing series must share with this rule's
    series to hold it back, as Alertmanager's inhibit `equal`: table1's master holds table1's slaves only."""

    @cached_property
    def kind(self) -> Kind:
        """Return which condition this rule checks."""
        return self._kinds()[0]

    def _kinds(self) -> list[Kind]:
        keys = {k for kind in RULE_KINDS.values() for k in kind.keys}
        present = {k for k in keys if getattr(self, k) is not None and getattr(self, k) is not False}
        borrowed = {k for kind in RULE_KINDS.values() if present & set(kind.keys) for k in kind.borrows}
        return [kind.name for kind in RULE_KINDS.values() if (present - borrowed) & set(kind.keys)]

    def __post_init__(self) -> None:
        kinds = self._kinds()
        if len(kinds) != 1:
            raise OptionError(
                "select",
                f"a rule checks exactly one condition, this one has {len(kinds) or 'none'}",
                f"use one of: {KIND_CHOICES}",
            )
        self._check_threshold()
        self._check_forecast()
        if self.outside is not None and (len(self.outside) != 2 or self.outside[0] >= self.outside[1]):
            raise OptionError("outside", "expected [low, high] with low < high", "e.g. outside = [340.0, 360.0]")
        problem = selector_problem(self.select)
        if problem:
            raise OptionError("select", problem, SELECTOR_FIX)
        parts = self.select.split("/")
        if (self.offline or self.clock_offset is not None) and len(parts) != 1:
            raise OptionError(
                "select",
                f"{self.select!r} is not a measurer name",
                'an offline or clock rule selects measurers: "table1" or "*"',
            )
        if self.broker and "/" in self.select:
            raise OptionError("select", f"{self.select!r} is not a broker", 'a broker rule selects "host:port" or "*"')
        if self.disk and "/" in self.select:
            raise OptionError(
                "select", f"{self.select!r} is not a collector", 'a disk rule selects collectors: "collector-a" or "*"'
            )
        if not (
            self.offline or self.broker or self.disk or self.clock_offset is not None
        ):  # "table1" or "table1/laser1" select everything below, as a silence does
            object.__setattr__(self, "select", "/".join([*parts, "*", "*"][:3]))
        check_spans(
            self,
            clock_offset="2s",
            forecast="24h",
            horizon="7d",
            rate_per="1m",
            window="10m",
            stale="5m",
            repeat_interval="4h",
            escalate_after="30m",
        )
        if self.message is not None:
            try:
                self.message.format(**MESSAGE_FIELDS)
            except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
                fields = ", ".join("{" + f + "}" for f in MESSAGE_FIELDS)
                raise OptionError("message", f"bad template: {exc!r}", f"use fields in braces: {fields}") from None

        if (self.escalate_after is None) != (self.escalate_to is None):
            raise OptionError(
                "escalate_to" if self.escalate_to is None else "escalate_after",
                "escalate_after and escalate_to go together",
                'e.g. escalate_after = "30m", escalate_to = ["phone"]',
            )
        for dependency in self.depends_on or []:
            measurer = dependency.removeprefix(MEASURER_DEPENDENCY)
            if not measurer.strip() or dependency == self.name:
                raise OptionError("depends_on", f"{dependency!r} is not another rule or a measurer", DEPENDS_FIX)
        if self.depends_same is not None:
            if not self.depends_on:
                raise OptionError("depends_same", "depends_same goes with depends_on", DEPENDS_SAME_FIX)
            for label in self.depends_same:
                if label not in SERIES_LABELS:
                    raise OptionError("depends_same", f"{label!r} is not a label", DEPENDS_SAME_FIX)

    def _check_forecast(self) -> None:
        if self.forecast is None:
            return
        bound = self.above if self.above is not None else self.below
        if bound is None or self.clear is not None:
            raise OptionError(
                "forecast",
                "a forecast rule takes one bound (above or below) and no clear",
                'e.g. forecast = "24h", below = 1e-8',
            )
        if self.log_scale and bound <= 0:
            raise OptionError("log_scale", f"a log-scale fit needs a bound above 0, not {bound:g}", "e.g. above = 1e-8")

    def _check_threshold(self) -> None:
        if self.above is not None and self.below is not None:
            raise OptionError(
                "above", "set exactly one of above or below", "write two rules for a band, or use outside"
            )
        if self.clear is None:
            return
        if self.above is not None and self.clear >= self.above:
            raise OptionError("clear", f"clear must be below above ({self.above:g})", "e.g. above = 1.2, clear = 1.0")
        if self.below is not None and self.clear <= self.below:
            raise OptionError("clear", f"clear must be above below ({self.below:g})", "e.g. below = 1.0, clear = 1.2")
        if self.above is None and self.below is None:
            raise OptionError("clear", "clear goes with above or below")


def dependency_order(rules: tuple[RuleConfig, ...]) -> tuple[tuple[RuleConfig, ...], list[str]]:
    """Return the rules with each after the rules it depends on, and the names of rules in a dependency cycle."""
    by_name = {rule.name: rule for rule in rules}
    done: dict[str, RuleConfig] = {}
    visiting: list[str] = []
    cycle: list[str] = []

    def visit(rule: RuleConfig) -> None:
        if rule.name in done:
            return
        if rule.name in visiting:
            cycle.extend(n for n in visiting[visiting.index(rule.name) :] if n not in cycle)
            return
        visiting.append(rule.name)
        for name in rule.depends_on or []:
            if name in by_name:
                visit(by_name[name])
        visiting.pop()
        done[rule.name] = rule

    for rule in rules:
        visit(rule)
    return tuple(done.values()), cycle


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|(24):(00)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def minute_of_day(key: str, text: str) -> int:
    """Return the minute of the day an "HH:MM" option means; raise OptionError naming `key` if it is none."""
    found = _CLOCK.fullmatch(text)
    if found is None or (key != "end" and found[3]):  # only an end may be 24:00
        raise OptionError(
            key, f"{text!r} is not a time of day", f'write HH:MM, e.g. {key} = "02:00" (end may be "24:00")'
        )
    hours, minutes = (found[1], found[2]) if found[1] else (found[3], found[4])
    return int(hours) * 60 + int(minutes)


def _date(text: str) -> date:
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise OptionError("dates", f"{text!r} is not a date", 'write YYYY-MM-DD, e.g. dates = ["2026-12-24"]') from None


@dataclass(frozen=True)
class MuteWindow:
    """Recurring hours in which alerts on matching series notify nobody: on some days, or dates, in a time zone."""

    start: str
    end: str
    days: list[str] | None = None
    """The days the window starts on (it may run past midnight); every day if not set."""
    dates: list[str] | None = None
    """The dates (YYYY-MM-DD: holidays) the window starts on; with `days` too, it opens on either."""
    timezone: str | None = None
    """The IANA time zone of start, end, days and dates (e.g. "Europe/Berlin"); the collector's if not set."""
    select: str = "*"
    comment: str = ""

    def __post_init__(self) -> None:
        if minute_of_day("start", self.start) == minute_of_day("end", self.end):
            raise OptionError("end", "the window is empty: end equals start", 'e.g. start = "02:00", end = "06:00"')
        for day in self.days or []:
            if day not in DAYS:
                raise OptionError("days", f"{day!r} is not a day", f"use {', '.join(DAYS)}")
        for text in self.dates or []:
            _date(text)
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise OptionError(
                    "timezone", f"{self.timezone!r} is not a known time zone", 'use an IANA name, e.g. "Europe/Berlin"'
                ) from None
        problem = selector_problem(self.select)
        if problem:
            raise OptionError("select", problem, SELECTOR_FIX)

    @cached_property
    def _starts_on(self) -> tuple[frozenset[str], frozenset[date]]:
        dates = frozenset(_date(text) for text in self.dates or [])
        days = frozenset(self.days or ([] if dates else DAYS))
        return days, dates

    def active(self, now: float, tz: tzinfo | None = None) -> bool:
        """Return whether the window is open at Unix time `now` (in its time zone, else `tz`, else local time)."""
        local = datetime.fromtimestamp(now, ZoneInfo(self.timezone) if self.timezone else tz)
        minute, start, end = (
            local.hour * 60 + local.minute,
            minute_of_day("start", self.start),
            minute_of_day("end", self.end),
        )
        today, yesterday = local.date(), local.date() - timedelta(days=1)
        if start < end:
            return self._opens(today) and start <= minute < end
        return (self._opens(today) and minute >= start) or (self._opens(yesterday) and minute < end)  # past midnight

    def _opens(self, day: date) -> bool:
        days, dates = self._starts_on
        return DAYS[day.weekday()] in days or day in dates

    def covers(self, series: str) -> bool:
        """Return whether the window mutes `series`."""
        return selector_covers(self.select, series)

    def text(self) -> str:
        """Return the window as `labmon status` shows it."""
        when = ",".join([*(self.days or []), *(self.dates or [])]) or "daily"
        zone = f" {self.timezone}" if self.timezone else ""
        return f"{when} {self.start}-{self.end}{zone} {self.select}" + (f" ({self.comment})" if self.comment else "")
