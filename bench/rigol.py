"""Time Rigol reads against the emulator, each beside a bare pyvisa floor measured in the same run.

Through real pyvisa-py over TCP:
  1400-point read   RigolScope.traces(ch, 1) in screen mode (settings, :WAV:PRE?, BYTE block, length
                    check, scaling to volts) beside the same trace in ASCII (what the original code did)
                    and a bare query_binary_values(":WAV:DATA?") loop (the floor)
  300-trace read    RigolScope.traces(ch, 300) in single mode (a new acquisition per trace, run state
                    restored) beside 300 single acquisitions done by hand with bare pyvisa: ":SING;:TRIG:STAT?",
                    poll :TRIG:STAT? until STOP, query_binary_values(":WAV:DATA?") (the floor)
Metric: first-peak jitter over 300 traces, vectorised, beside a per-trace Python loop with a 5-point
derivative (the original's approach); then every lock metric (presence, count, time, height, jitter).
Run: .venv/bin/python bench/rigol.py [--reads 200] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from labmon_rigol import waveform
from labmon_rigol.emulator import ScopeEmulator
from labmon_rigol.lock import PeakRules, metric_values
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


def paired(ours: Callable[[], object], floor: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Run `ours` and `floor` alternately (same load on a busy machine); return their medians and the median ratio."""
    ours()
    floor()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        ours()
        middle = time.perf_counter()
        floor()
        times.append((middle - started, time.perf_counter() - middle))
    return (
        statistics.median(a for a, _ in times),
        statistics.median(b for _, b in times),
        statistics.median(a / b for a, b in times),
    )


def ascii_read(session: Any) -> np.ndarray:
    """Read one trace in ASCII, as the original did: strip the block header, split, convert."""
    text = session.query(":WAV:FORM ASC;:WAV:DATA?")
    return np.array([float(v) for v in text[11:].split(",")])


def bare_single_reads(session: Any, count: int) -> list[np.ndarray]:
    """The floor: `count` single acquisitions by hand, each waited for and read, with bare pyvisa."""
    blocks = []
    for _ in range(count):
        status = session.query(":SING;:TRIG:STAT?")
        while status != "STOP":
            status = session.query(":TRIG:STAT?")
        blocks.append(session.query_binary_values(":WAV:DATA?", datatype="B", container=np.array))
    return blocks


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
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    emulator = ScopeEmulator().start()
    screen = RigolScope(RigolConfig(resource=emulator.resource, metrics=["mean"], acquire="screen"))
    single = RigolScope(RigolConfig(resource=emulator.resource, metrics=["jitter"], traces=300))
    session = screen._scope.raw  # the bare pyvisa resource, for the ASCII and floor reads

    ascii_mode = median_seconds(lambda: ascii_read(session), args.reads)
    session.query(":WAV:FORM BYTE;*IDN?")

    def bare_block() -> object:
        return session.query_binary_values(":WAV:DATA?", datatype="B", container=np.array)

    ours, floor, ratio = paired(lambda: screen.traces(1, 1), bare_block, args.reads)
    print(f"one 1400-point read (medians of {args.reads}, alternating)")
    print(f"  labmon binary  {ours * 1000:7.3f} ms   {ratio:5.2f}x the floor")
    print(f"  ascii (orig.)  {ascii_mode * 1000:7.3f} ms   {ascii_mode / floor:5.2f}x the floor")
    print(f"  bare pyvisa    {floor * 1000:7.3f} ms   (floor)")

    lock, by_hand, ratio = paired(lambda: single.traces(1, 300), lambda: bare_single_reads(session, 300), args.rounds)
    print(f"300 single-acquisition traces (medians of {args.rounds}, alternating)")
    print(f"  labmon single  {lock * 1000:7.1f} ms   {ratio:5.2f}x the floor")
    print(f"  bare pyvisa    {by_hand * 1000:7.1f} ms   (floor)")

    traces = single.traces(1, 300)
    rules = PeakRules("first", 0.5, 0.1, 0.1, 5.0, 0.5)
    first_jitter = median_seconds(
        lambda: np.std(traces.preamble.time(waveform.first_peak_index(traces.volts)), ddof=1), 20
    )
    every_metric = median_seconds(lambda: metric_values(traces, rules), 20)
    looped = median_seconds(lambda: statistics.stdev(loop_first_peak_times(traces.volts, traces.preamble)), 3)
    print("lock metrics over 300 traces (computation only)")
    print(f"  per-trace loop     {looped * 1000:8.2f} ms   first-peak jitter (the original's approach)")
    print(f"  labmon vectorised  {first_jitter * 1000:8.2f} ms   the same   {looped / first_jitter:5.1f}x faster")
    print(
        f"  labmon vectorised  {every_metric * 1000:8.2f} ms   every metric: presence (MAD noise), count, time, jitter"
    )
    screen.close()
    single.close()
    emulator.disappear()


if __name__ == "__main__":
    main()
