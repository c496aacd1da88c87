"""The health report: for each series a level rule watches, its figures per day and per week."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, tzinfo
from fnmatch import fnmatchcase
from typing import Any

from labmon.rule_config import RULE_KINDS, RuleConfig
from labmon.times import format_duration, iso
from labmon_collector.health.figures import Figures, figures_each, periods
from labmon_collector.health.summaries import segments_of, steps_of
from labmon_collector.history.reader import History, SeriesInfo


@dataclass(frozen=True)
class SeriesHealth:
    """One series under one rule: its figures per week and per day."""

    rule: str
    series: str
    unit: str
    step: float
    weeks: list[Figures]
    days: list[Figures]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (times as ISO text, fractions of each period)."""
        return {
            "rule": self.rule, "series": self.series, "unit": self.unit, "step": self.step,
            "weeks": [_figures_dict(f) for f in self.weeks], "days": [_figures_dict(f) for f in self.days],
        }  # fmt: skip


def watched(rules: tuple[RuleConfig, ...]) -> list[RuleConfig]:
    """Return the rules whose bounds a health report judges by: thresholds and bands."""
    return [rule for rule in rules if RULE_KINDS[rule.kind].level]


def health(
    history: History,
    rules: list[RuleConfig],
    since: float,
    until: float,
    tz: tzinfo,
    *,
    interval: float = 60.0,
    only: str = "*",
) -> list[SeriesHealth]:
    """Return the health of each stored series a rule (and `only`) selects, over [since, until) in `tz`."""
    days, weeks = periods(since, until, tz, "day"), periods(since, until, tz, "week")
    found = []
    stored = history.series("/".join([*only.split("/"), "*", "*"][:3]))
    selected = [[info for info in stored if _selects(rule, info)] for rule in rules]
    steps = steps_of(history, sorted({info.id for its in selected for info in its}), until, interval)
    for rule, its in zip(rules, selected, strict=True):
        lines = segments_of(history, rule, {info.id: steps[info.id] for info in its}, since, until)
        for info in its:
            week, day = figures_each(lines[info.id], (weeks, "week"), (days, "day"))
            found.append(SeriesHealth(rule.name, info.key, info.unit, steps[info.id], week, day))
    return found


def _selects(rule: RuleConfig, info: SeriesInfo) -> bool:
    return fnmatchcase(info.key, rule.select)


def _figures_dict(f: Figures) -> dict[str, Any]:
    span = f.end - f.start
    return {
        **asdict(f),
        "start": iso(f.start),
        "end": iso(f.end),
        "uptime": f.uptime,
        "out_fraction": f.out / span if span else 0.0,
        "unknown_fraction": f.unknown / span if span else 0.0,
    }


COLUMNS = (
    "rule", "series", "period", "start", "end", "uptime", "out", "unknown", "excursions",
    "median_excursion", "longest_excursion", "median_between", "shortest_between",
)  # fmt: skip
"""The CSV columns: times in seconds, uptime/out/unknown as fractions of the period."""


def csv_rows(report: list[SeriesHealth]) -> list[list[Any]]:
    """Return one row per series, rule and period (weeks first, then days)."""
    rows = []
    for item in report:
        for f in [*item.weeks, *item.days]:
            span = f.end - f.start or 1.0
            rows.append(
                [
                    item.rule, item.series, f.period, iso(f.start), iso(f.end), round(f.good / span, 5),
                    round(f.out / span, 5), round(f.unknown / span, 5), f.excursions, f.median_excursion,
                    f.longest_excursion, f.median_between, f.shortest_between,
                ]
            )  # fmt: skip
    return rows


def text_lines(report: list[SeriesHealth], tz: tzinfo) -> list[str]:
    """Return the readable report: per series and rule its week(s), then its days."""
    head = f"{'period':<16} {'uptime':>7} {'out':>6} {'unknown':>7} {'excursions':>10} {'median':>8} {'longest':>8}"
    head += f" {'gap med':>8} {'gap min':>8}"
    lines = []
    for item in report:
        lines += ["", f"{item.series}  (rule {item.rule}, a reading every {format_duration(item.step)})", head]
        for f in [*item.weeks, *item.days]:
            local = datetime.fromtimestamp(f.start, tz)
            label = f"week {local:%G-W%V}" if f.period == "week" else f"  {local:%a %Y-%m-%d}"
            span = f.end - f.start or 1.0
            lines.append(
                f"{label:<16} {_percent(f.good / span):>7} {_percent(f.out / span):>6} {_percent(f.unknown / span):>7}"
                f" {f.excursions:>10} {_duration(f.median_excursion):>8} {_duration(f.longest_excursion):>8}"
                f" {_duration(f.median_between):>8} {_duration(f.shortest_between):>8}"
            )
    return lines[1:]


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%" if fraction < 0.9995 or fraction == 1 else "99.9%"


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)
