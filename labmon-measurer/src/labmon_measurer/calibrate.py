"""Summarise recordings of a good and a bad state, propose a threshold, and check it against both."""

from __future__ import annotations

import json
import math
import statistics
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import tomli_w

from labmon.options import Where, build
from labmon.rule_config import RuleConfig

PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
State = Literal["good", "bad"]
Side = Literal["above", "below"]


@dataclass(frozen=True)
class Recording:
    """Samples of one series in a state the user named, as saved with --save and read with --against."""

    series: str
    unit: str
    samples: list[float]
    state: State | None = None

    def save(self, path: Path) -> None:
        """Write the recording as JSON."""
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Recording:
        """Read a recording written by `save` (one without a state is from before states were named)."""
        data = json.loads(path.read_text(encoding="utf-8"))
        state = data.get("state")
        if state not in ("good", "bad", None):
            raise ValueError(f"{path}: state {state!r} is neither good nor bad")
        return cls(data["series"], data["unit"], [float(v) for v in data["samples"]], state)


@dataclass(frozen=True)
class Summary:
    """Robust and plain statistics of a recording, with the running std at growing fractions of it."""

    count: int
    median: float
    mad: float
    mean: float
    std: float
    minimum: float
    maximum: float
    percentiles: dict[int, float]
    running_std: list[tuple[int, float]]


def summarize(samples: list[float]) -> Summary:
    """Return the statistics of at least two samples."""
    if len(samples) < 2:
        raise ValueError(f"{len(samples)} valid sample(s): record at least 2")
    ordered = sorted(samples)
    median = percentile(ordered, 50)
    running = []
    for fraction in (0.1, 0.25, 0.5, 1.0):
        n = max(2, math.ceil(len(samples) * fraction))
        running.append((n, statistics.stdev(samples[:n])))
    return Summary(
        count=len(samples),
        median=median,
        mad=statistics.median(abs(v - median) for v in samples),
        mean=statistics.fmean(samples),
        std=statistics.stdev(samples),
        minimum=ordered[0],
        maximum=ordered[-1],
        percentiles={p: percentile(ordered, p) for p in PERCENTILES},
        running_std=running,
    )


def percentile(ordered: list[float], p: float) -> float:
    """Return the p-th percentile of sorted values, interpolating between neighbours."""
    position = (len(ordered) - 1) * p / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Proposal:
    """A threshold, the side that alerts, how it was chosen, and whether the recordings overlap."""

    threshold: float
    side: Side
    reason: str
    overlap: bool = False

    def fires(self, samples: list[float]) -> float:
        """Return the fraction of `samples` on the alerting side of the threshold."""
        beyond = sum(v > self.threshold if self.side == "above" else v < self.threshold for v in samples)
        return beyond / len(samples)


def propose_sigma(good: Summary, sigma: float, side: Side) -> Proposal:
    """Propose mean + sigma x std (or minus, for a reading that alerts below)."""
    sign = 1 if side == "above" else -1
    threshold = good.mean + sign * sigma * good.std
    return Proposal(threshold, side, f"mean {'+' if sign > 0 else '-'} {sigma:g} std of the good recording")


def propose_between(good: Summary, bad: Summary) -> Proposal:
    """Propose the midpoint of the gap between the good and bad recordings' facing tails (1st/99th percentile).

    The side comes from the data: the bad state lies above the good one, or below it.
    """
    side: Side = "above" if bad.median > good.median else "below"
    good_edge = good.percentiles[99] if side == "above" else good.percentiles[1]
    bad_edge = bad.percentiles[1] if side == "above" else bad.percentiles[99]
    if (bad_edge <= good_edge) if side == "above" else (bad_edge >= good_edge):
        return Proposal((good.median + bad.median) / 2, side, "midpoint of the medians: the recordings OVERLAP", True)
    tails = "good 99% and the bad 1%" if side == "above" else "good 1% and the bad 99%"
    return Proposal((good_edge + bad_edge) / 2, side, f"midpoint between the {tails} tails")


def refusals(proposal: Proposal, good: list[float], bad: list[float] | None, max_false: float) -> list[str]:
    """Return why the proposed rule should not be written (none if it is sound on both recordings)."""
    why = []
    if bad is not None and proposal.fires(bad) == 0:
        why.append("it would never have fired on the bad recording")
    if proposal.fires(good) > max_false:
        why.append(
            f"it fires on {proposal.fires(good):.1%} of the good recording, more than --max-false {max_false:.1%}"
        )
    if proposal.overlap:
        why.append("the good and bad recordings overlap: no threshold separates them")
    return why


def histogram(
    good: list[float], bad: list[float] | None, threshold: float, bins: int = 16, width: int = 30
) -> list[str]:
    """Return text lines of both states' histograms on shared bins (# good, * bad), the threshold's bin marked."""
    values = [*good, *(bad or []), threshold]
    low, high = min(values), max(values)
    step = (high - low) / bins or 1.0

    def counts(samples: list[float]) -> list[int]:
        bucket = [0] * bins
        for v in samples:
            bucket[min(int((v - low) / step), bins - 1)] += 1
        return bucket

    good_counts, bad_counts = counts(good), counts(bad or [])
    scale = width / max(good_counts + bad_counts)
    marked = min(int((threshold - low) / step), bins - 1)
    lines = []
    for i in range(bins):
        bars = f"{'#' * math.ceil(good_counts[i] * scale):<{width}} {'*' * math.ceil(bad_counts[i] * scale):<{width}}"
        lines.append(f"  {low + i * step:>11.4g} |{bars.rstrip()}{'   <- threshold' if i == marked else ''}")
    return lines


def add_rule(path: Path, rule: dict[str, object]) -> None:
    """Append `rule` as a [[collector.rules]] table to `path`, leaving every other line as it was."""
    new_text = with_rule(path, rule)
    candidate = path.with_name(f".{path.name}.calibrate")
    candidate.write_text(new_text, encoding="utf-8")
    candidate.replace(path)


def with_rule(path: Path, rule: dict[str, object]) -> str:
    """Return `path`'s text with `rule` appended; raise ValueError naming each problem of the new rule.

    Only the TOML and the new rule are checked (name, keys, measurer): a measurer Pi writing it needs
    none of the collector's plugins or secrets. `labmon check` on the collector checks the rest.
    """
    text = path.read_text(encoding="utf-8")
    new_text = f"{text.rstrip()}\n\n[[collector.rules]]\n{tomli_w.dumps(rule)}"
    try:
        collector = tomllib.loads(new_text).get("collector", {})
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    rules = collector.get("rules", [])
    where = Where(path, f"collector.rules[{len(rules) - 1}] ({rule['name']})")
    if any(r.get("name") == rule["name"] for r in rules[:-1]):
        where.report("name", f"duplicate rule name {rule['name']!r}", "give each rule its own name (--rule NAME)")
    built = build(RuleConfig, rule, where)
    measurers = collector.get("measurers", [])
    if built is not None and measurers and built.select.split("/")[0] not in measurers:
        where.report("select", f"{built.select!r} names no measurer in [collector.measurers]", "add it there first")
    if where.problems:
        raise ValueError("\n".join(str(p) for p in where.problems))
    return new_text
