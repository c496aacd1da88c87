"""Record a reading, summarise it, and propose a threshold for a rule (what labs used to do by eye)."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import tomli_w

from labmon.config import load_config
from labmon.options import ConfigError
from labmon.plugins import Registry

PERCENTILES = (1, 5, 50, 95, 99)


@dataclass(frozen=True)
class Recording:
    """Samples of one series, as saved with --save and read with --against."""

    series: str
    unit: str
    samples: list[float]

    def save(self, path: Path) -> None:
        """Write the recording as JSON."""
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Recording:
        """Read a recording written by `save`."""
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["series"], data["unit"], [float(v) for v in data["samples"]])


@dataclass(frozen=True)
class Summary:
    """Statistics of a recording, with the running std at growing fractions of it (does it settle?)."""

    count: int
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
    running = []
    for fraction in (0.1, 0.25, 0.5, 1.0):
        n = max(2, math.ceil(len(samples) * fraction))
        running.append((n, statistics.stdev(samples[:n])))
    return Summary(
        count=len(samples),
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


Side = Literal["above", "below"]


@dataclass(frozen=True)
class Proposal:
    """A threshold, the side that alerts, and how it was chosen."""

    threshold: float
    side: Side
    reason: str


def propose_sigma(good: Summary, sigma: float, side: Side) -> Proposal:
    """Propose mean + sigma x std (or minus, for a reading that alerts below)."""
    sign = 1 if side == "above" else -1
    threshold = good.mean + sign * sigma * good.std
    return Proposal(threshold, side, f"mean {'+' if sign > 0 else '-'} {sigma:g} std of the good recording")


def propose_between(good: Summary, bad: Summary) -> Proposal:
    """Propose the midpoint of the gap between a good and a bad recording's facing tails (1st/99th percentile)."""
    side: Side = "above" if bad.mean > good.mean else "below"
    good_edge = good.percentiles[99] if side == "above" else good.percentiles[1]
    bad_edge = bad.percentiles[1] if side == "above" else bad.percentiles[99]
    overlap = bad_edge <= good_edge if side == "above" else bad_edge >= good_edge
    if overlap:
        return Proposal(
            (good.mean + bad.mean) / 2, side, "midpoint of the means: the recordings OVERLAP, expect false alerts"
        )
    return Proposal((good_edge + bad_edge) / 2, side, "midpoint between the good 99% and the bad 1% tails")


def add_rule(path: Path, rule: dict[str, object], registry: Registry) -> None:
    """Append `rule` as a [[collector.rules]] table to `path`, leaving every other line as it was.

    The new file is validated as a whole before it replaces the old one.
    """
    text = path.read_text(encoding="utf-8")
    new_text = f"{text.rstrip()}\n\n[[collector.rules]]\n{tomli_w.dumps(rule)}"
    candidate = path.with_name(f".{path.name}.calibrate")
    candidate.write_text(new_text, encoding="utf-8")
    try:
        load_config(candidate, registry)
    except ConfigError as exc:
        candidate.unlink()
        raise ValueError(str(exc).replace(str(candidate), str(path))) from None
    candidate.replace(path)
