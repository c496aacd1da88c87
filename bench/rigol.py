"""Time Rigol reads against the emulator, each beside a bare pyvisa floor measured in the same run.

Through real pyvisa-py over TCP. The floor reads a block by its announced length with bare pyvisa
(query_binary_values, pyvisa's own, returns from pyvisa-py at every newline byte of the data: shown too).
Against a scope with real timing (`separate_answers`: each answer in its own TCP segment, Nagle on, as
many scopes send; 20 ms per acquisition and per running frame), beside bare pyvisa querying one command
at a time (also the same trace asked for as `:WAV:PRE?;:WAV:DATA?` in one message, where the client's
delayed ACK holds the second answer):
  one trace         RigolScope.traces(ch, 1) in screen mode (run state, settings and :WAV:PRE?, block)
                    beside query(settings;:TRIG:STAT?), query(:WAV:PRE?), the block
  300 traces        RigolScope.traces(ch, 300) in single mode (paced :TRIG:STAT? polls, run state put back)
                    beside 300 x (":SING;:TRIG:STAT?", :TRIG:STAT? polled back to back until STOP, block)
Against the plain emulator (answers of a message together, acquisitions at once): the same two, and
the trace in ASCII as the original code read it.
Metric: first-peak jitter over 300 traces, vectorised, beside a per-trace Python loop with a 5-point
derivative (the original's approach); then every lock metric (presence, count, time, height, jitter).
Run: .venv/bin/python bench/rigol.py [--reads 200] [--rounds 15] [--slow-reads 100] [--slow-rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyvisa

from labmon_rigol import waveform
from labmon_rigol.emulator import ScopeEmulator, ScopeState
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
    """The floor: `count` single acquisitions by hand, each waited for and read, then running again; bare pyvisa."""
    blocks = []
    for _ in range(count):
        status = session.query(":SING;:TRIG:STAT?")
        while status != "STOP":
            status = session.query(":TRIG:STAT?")
        blocks.append(bare_block(session))
    session.query(":TRIG:SWE AUTO;:RUN;:TRIG:STAT?")  # running again, as labmon leaves it
    return blocks


SETTINGS = ":WAV:SOUR CHAN1;:WAV:MODE NORM;:WAV:FORM BYTE"


def bare_block(session: Any, *, ask: bool = True) -> np.ndarray:
    """The floor of a block: bare pyvisa reading it by its announced length, not stopping at each newline byte."""
    if ask:
        session.write(":WAV:DATA?")
    size = int(session.read_bytes(int(session.read_bytes(2)[1:])))
    session.read_termination = None
    body = session.read_bytes(size)
    session.read_termination = "\n"
    session.read_bytes(1)
    return np.frombuffer(body, dtype=np.uint8)


def pyvisa_block(session: Any) -> np.ndarray:
    """A block as pyvisa's own query_binary_values reads it: pyvisa-py returns at every newline byte."""
    return session.query_binary_values(":WAV:DATA?", datatype="B", container=np.array)


def bare_one_trace(session: Any) -> np.ndarray:
    """The floor of one trace: run state, scaling and block, each its own query."""
    session.query(f"{SETTINGS};:TRIG:STAT?")
    session.query(":WAV:PRE?")
    return bare_block(session)


def chained_one_trace(session: Any) -> np.ndarray:
    """One trace as the chained query `:WAV:PRE?;:WAV:DATA?`: the second answer waits on the delayed ACK."""
    session.query(f"{SETTINGS};:TRIG:STAT?")
    session.write(":WAV:PRE?;:WAV:DATA?")
    session.read()
    return bare_block(session, ask=False)


def slow_scope(reads: int, rounds: int) -> None:
    """The separate-send figures: one trace and 300 traces, labmon beside the floor, alternating."""
    state = ScopeState(acquisition_time=0.02, frame_period=0.02, separate_answers=True)
    emulator = ScopeEmulator(state=state).start()
    screen = RigolScope(RigolConfig(resource=emulator.resource, metrics=["mean"], acquire="screen"))
    single = RigolScope(RigolConfig(resource=emulator.resource, metrics=["jitter"], traces=300))
    bare = pyvisa.ResourceManager("@py").open_resource(
        emulator.resource, read_termination="\n", write_termination="\n", timeout=5000
    )
    print("a scope that sends each answer on its own, 20 ms per acquisition and per frame")
    chained = median_seconds(lambda: chained_one_trace(bare), max(3, reads // 10))
    ours, floor, ratio = paired(lambda: screen.traces(1, 1), lambda: bare_one_trace(bare), reads)
    print(f"one trace (medians of {reads}, alternating)")
    print(f"  labmon         {ours * 1000:7.3f} ms   {ratio:5.2f}x the floor")
    print(f"  chained query  {chained * 1000:7.3f} ms   {chained / floor:5.2f}x the floor  (:WAV:PRE?;:WAV:DATA?)")
    print(f"  bare pyvisa    {floor * 1000:7.3f} ms   (floor: one command per query, block read by its length)")
    ours, floor, ratio = paired(lambda: single.traces(1, 300), lambda: bare_single_reads(bare, 300), rounds)
    print(f"300 single-acquisition traces (medians of {rounds}, alternating)")
    print(f"  labmon         {ours * 1000:7.1f} ms   {ratio:5.2f}x the floor")
    print(f"  bare pyvisa    {floor * 1000:7.1f} ms   (floor: :TRIG:STAT? polled back to back)")
    asked = []
    for read in (lambda: single.traces(1, 300), lambda: bare_single_reads(bare, 300)):
        emulator.commands.clear()
        read()
        asked.append(emulator.commands.count(":TRIG:STAT?") / 300)
    print(f"  :TRIG:STAT? per acquisition: labmon {asked[0]:.1f}, floor {asked[1]:.1f}")
    for instrument in (screen, single):
        instrument.close()
    bare.close()
    emulator.disappear()


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
    parser.add_argument("--slow-reads", type=int, default=100)
    parser.add_argument("--slow-rounds", type=int, default=5)
    args = parser.parse_args()
    slow_scope(args.slow_reads, args.slow_rounds)
    emulator = ScopeEmulator().start()
    screen = RigolScope(RigolConfig(resource=emulator.resource, metrics=["mean"], acquire="screen"))
    single = RigolScope(RigolConfig(resource=emulator.resource, metrics=["jitter"], traces=300))
    session = pyvisa.ResourceManager("@py").open_resource(
        emulator.resource, read_termination="\n", write_termination="\n", timeout=5000
    )  # the bare pyvisa resource, for the ASCII and floor reads

    ascii_mode = median_seconds(lambda: ascii_read(session), args.reads)
    session.query(":WAV:FORM BYTE;*IDN?")
    block = median_seconds(lambda: bare_block(session), args.reads)
    binary_values = median_seconds(lambda: pyvisa_block(session), max(3, args.reads // 10))

    ours, floor, ratio = paired(lambda: screen.traces(1, 1), lambda: bare_one_trace(session), args.reads)
    print(f"one 1400-point trace (medians of {args.reads}, alternating)")
    print(f"  labmon binary  {ours * 1000:7.3f} ms   {ratio:5.2f}x the floor")
    print(f"  bare pyvisa    {floor * 1000:7.3f} ms   (floor: run state, :WAV:PRE?, block, one query each)")
    print(f"  block alone    {block * 1000:7.3f} ms   (bare pyvisa, read by its length)")
    print(f"  query_binary_values {binary_values * 1000:7.3f} ms   (pyvisa's own block reading)")
    print(f"  ascii (orig.)  {ascii_mode * 1000:7.3f} ms   {ascii_mode / floor:5.2f}x the floor")

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
    session.close()
    emulator.disappear()


if __name__ == "__main__":
    main()
