"""Lock metrics of a set of traces: presence of the peak, its time, height and jitter, and plain statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from labmon_rigol import waveform
from labmon_rigol.acquisition import TraceSet

PEAK_METRICS = ("peak_time", "peak_height", "jitter", "jitter_variance")
"""Metrics of the traces that have the peak: error readings when too few have it."""


@dataclass(frozen=True)
class PeakRules:
    """What counts as the peak, and how often it must be there for its metrics to mean anything."""

    peak: Literal["first", "highest"]
    threshold: float
    hysteresis: float
    min_height: float
    noise_factor: float
    min_presence: float


def metric_values(traces: TraceSet, rules: PeakRules) -> dict[str, float | str]:
    """Return every metric of the valid traces; a value that cannot be had is the reason why not."""
    volts, total = traces.volts, len(traces.volts)
    present = waveform.has_peak(volts, rules.min_height, rules.noise_factor)
    counts = np.where(present, waveform.peak_count(volts, rules.threshold, rules.hysteresis), 0)
    values: dict[str, float | str] = {
        "mean": float(volts.mean()),
        "std": float(volts.std(axis=1).mean()),
        "min": float(volts.min()),
        "max": float(volts.max()),
        "rms": float(np.sqrt(np.mean(volts**2))),
        "peak_count": float(np.median(counts)),
        "peak_presence": float(present.mean()),
        "valid_traces": float(total),
    }
    with_peak = volts[present]
    found = len(with_peak)
    presence = found / total
    if presence < rules.min_presence or found == 0:
        why = f"peak missing in {total - found} of {total} traces (presence {presence:.2f}"
        why += f", min_presence {rules.min_presence:g})"
        return values | dict.fromkeys(PEAK_METRICS, why)
    if rules.peak == "first":
        index = waveform.first_peak_index(with_peak, rules.threshold)
    else:
        index = waveform.highest_peak_index(with_peak)
    times = traces.preamble.time(index)
    heights = with_peak[np.arange(found), np.round(index).astype(int)]
    values |= {"peak_time": float(np.mean(times)), "peak_height": float(heights.mean())}
    if found < 2:
        return values | dict.fromkeys(("jitter", "jitter_variance"), f"a peak in only {found} of {total} traces")
    return values | {"jitter": float(np.std(times, ddof=1)), "jitter_variance": float(np.var(times, ddof=1))}
