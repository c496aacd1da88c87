"""Time one /metrics rendering of a large lab beside a floor: the same samples formatted as plain strings.

The floor is the least any exporter does: one f-string per sample from values already at hand, joined and
encoded. labmon renders from its gauges after a fresh cycle (every value new), as a scrape does. Both are
timed in CPU time of the calling thread, alternately, round by round.
Run: .venv/bin/python bench/metrics.py [--measurers 1000] [--readings 10] [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from biglab import cycle

from labmon.models import Batch
from labmon_collector.web.metrics import Gauges, exposition

ALERTS = [(f"rule{i}", f"m{i}/laser/lock_error", "firing", "critical") for i in range(20)]
OUTBOX = [("sink:history", 0, 0, False), ("sink:influx", 12, 0, False), ("notifier:discord", 0, 1, True)]


def floor(batch: Batch, gauges: Gauges) -> bytes:
    """Return the same samples as labmon's /metrics, each formatted by one f-string, with no escaping."""
    lines = []
    for result in batch.results:
        for r in result.readings:
            labels = f'measurer="{result.measurer}",instrument="{r.instrument}",reading="{r.name}",unit="{r.unit}"'
            if r.value is not None:
                lines.append(f"labmon_reading{{{labels}}} {r.value}")
            lines.append(f"labmon_reading_ok{{{labels}}} {0.0 if r.value is None else 1.0}")
            lines.append(f"labmon_reading_timestamp_seconds{{{labels}}} {result.measured_at}")
    for rule, series, state, severity in ALERTS:
        labels = f'alertname="{rule}",alertstate="{state}",series="{series}",severity="{severity}"'
        lines.append(f"labmon_alerts{{{labels}}} 1.0")
    h = gauges.health
    for measurer, up in h.up.items():
        lines.append(f'labmon_measurer_up{{measurer="{measurer}"}} {float(up)}')
        lines.append(f'labmon_measurer_missing_cycles_total{{measurer="{measurer}"}} {float(h.missing[measurer])}')
    lines += [f"labmon_cycles_total {float(h.cycles)}", f"labmon_cycle_duration_seconds {h.cycle_seconds}"]
    lines.append(f"labmon_cycle_last_completed_timestamp_seconds {h.last_cycle_at}")
    for target, waiting, dead, paused in OUTBOX:
        lines.append(f'labmon_outbox_backlog{{target="{target}"}} {float(waiting)}')
        lines.append(f'labmon_outbox_dead_letters{{target="{target}"}} {float(dead)}')
        lines.append(f'labmon_outbox_paused{{target="{target}"}} {float(paused)}')
    return "\n".join(lines).encode()


def cpu_ms(step: Callable[[], bytes]) -> tuple[float, int]:
    """Return the CPU milliseconds `step` took in this thread, and the size of what it returned."""
    started = time.thread_time()
    size = len(step())
    return (time.thread_time() - started) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measurers", type=int, default=1000)
    parser.add_argument("--readings", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    gauges = Gauges()
    gauges.record(cycle(0, args.measurers, args.readings), 0.1, time.time())
    first, _ = cpu_ms(lambda: exposition(gauges, ALERTS, OUTBOX))  # labels not yet known: every text is new
    floors, ours, sizes = [], [], set()
    for number in range(1, args.rounds + 1):
        batch = cycle(number, args.measurers, args.readings)
        gauges.record(batch, 0.1, time.time())
        pair = [("floor", lambda b=batch: floor(b, gauges)), ("labmon", lambda: exposition(gauges, ALERTS, OUTBOX))]
        for name, step in pair if number % 2 else reversed(pair):
            took, size = cpu_ms(step)
            (floors if name == "floor" else ours).append(took)
            sizes.add((name, size))
    f, o = statistics.median(floors), statistics.median(ours)
    print(f"{args.measurers} measurers x {args.readings} readings, medians of {args.rounds} alternating rounds:")
    print(f"  floor (f-strings)  {f:7.1f} ms   {dict(sizes)['floor'] / 1e6:.2f} MB")
    print(f"  labmon /metrics    {o:7.1f} ms   {dict(sizes)['labmon'] / 1e6:.2f} MB   (first scrape: {first:.1f} ms)")
    print(f"  ratio              {o / f:7.2f}x")


if __name__ == "__main__":
    main()
