"""Time Rigol reads against the emulator, and the lock metric over 300 traces, each beside a baseline.

Reads of one 1400-point channel through real pyvisa-py over TCP:
  labmon   RigolScope.traces(): settings, :WAV:PRE?, BYTE block, length check, scaling to volts
  ascii    the same trace in :WAV:FORM ASC, parsed from text (what the original code did)
  floor    a bare query_binary_values(":WAV:DATA?") loop: nothing but the transfer
Metric: first-peak time and its jitter over 300 traces, vectorised (labmon) beside a per-trace
Python loop with a 5-point derivative (the original's approach).
Run: .venv/bin/python bench/rigol.py [--reads 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from labmon_rigol import waveform
from labmon_rigol.emulator import ScopeEmulator
from labmon_rigol.scope import RigolConfig, RigolScope


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    """Return the median wall time of `action` over `repeats` runs, after one warm-up."""
    action()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def ascii_read(session: object) -> np.ndarray:
    """Read one trace in ASCII, as the original did: strip the block header, split, convert."""
    text = session.query(":WAV:FORM ASC;:WAV:DATA?")
    return np.array([float(v) for v in text[11:].split(",")])


def loop_first_peak_times(traces: np.ndarray, preamble: waveform.Preamble) -> list[float]:
    """The original approach: per trace, cross half the maximum, then walk a 5-point derivative to zero."""
    times = []
    for trace in traces:
        threshold = 0.5 * max(trace)
        start = next(i for i, v in enumerate(trace) if v > threshold)
        for i in range(max(start, 2), len(trace) - 2):
            slope = (-trace[i + 2] + 8 * trace[i + 1] - 8 * trace[i - 1] + trace[i - 2]) / 12
            if slope <= 0:
                times.append(preamble.xorigin + i * preamble.xincrement)
                break
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    emulator = ScopeEmulator().start()
    scope = RigolScope(RigolConfig(resource=emulator.resource, metrics=["jitter"], traces=2))
    session = scope._scope  # the same VISA session, for the ASCII and bare reads

    ours = median_seconds(lambda: scope.traces(1, 1), args.reads)
    ascii_mode = median_seconds(lambda: ascii_read(session), args.reads)
    session.query(":WAV:FORM BYTE;*IDN?")
    floor = median_seconds(
        lambda: session.query_binary_values(":WAV:DATA?", datatype="B", container=np.array), args.reads
    )
    print(f"one 1400-point read (median of {args.reads})")
    print(f"  labmon binary  {ours * 1000:7.2f} ms   {ours / floor:5.2f}x the floor")
    print(f"  ascii (orig.)  {ascii_mode * 1000:7.2f} ms   {ascii_mode / floor:5.2f}x the floor")
    print(f"  bare pyvisa    {floor * 1000:7.2f} ms   (floor)")

    preamble, traces = scope.traces(1, 300)
    vectorised = median_seconds(lambda: np.nanstd(preamble.time(waveform.first_peak_index(traces)), ddof=1), 20)
    looped = median_seconds(lambda: statistics.stdev(loop_first_peak_times(traces, preamble)), 3)
    print("first-peak jitter over 300 traces (computation only)")
    print(f"  labmon vectorised  {vectorised * 1000:8.2f} ms")
    print(f"  per-trace loop     {looped * 1000:8.2f} ms   {looped / vectorised:6.1f}x labmon")
    scope.close()
    emulator.disappear()


if __name__ == "__main__":
    main()
