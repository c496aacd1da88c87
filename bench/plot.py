"""What attach_plot costs the collector: memory and time of one PNG, beside a floor of compressing its pixels.

The floor is zlib alone on a blank frame of the same size (the PNG writer cannot do with less); the
ratio is what drawing in pure Python adds. Memory is tracemalloc's peak while rendering, and the
resident-set growth of importing the renderer.
Run: .venv/bin/python bench/plot.py [--points 3600]
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import time
import tracemalloc
import zlib
from collections.abc import Callable


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=3600, help="readings in the hour (3600: one a second)")
    points_wanted = parser.parse_args().points
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from labmon_collector.alerting.pngplot import HEIGHT, WIDTH, render

    imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    step = 3600 / points_wanted
    points = [(i * step, 0.05 + math.sin(i / 40) * 0.3 + (0.9 if i % 700 < 50 else 0.0)) for i in range(points_wanted)]
    blank = bytes((WIDTH + 1) * HEIGHT)

    def timed(job: Callable[[], object]) -> float:
        runs = []
        for _ in range(20):
            started = time.perf_counter()
            job()
            runs.append(time.perf_counter() - started)
        return statistics.median(runs) * 1000

    floor = timed(lambda: zlib.compress(blank, 9))
    plot = timed(lambda: render(points, 0.0, 3600.0, 0.5))
    tracemalloc.start()
    png = render(points, 0.0, 3600.0, 0.5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{points_wanted} points -> {len(png)} byte PNG ({WIDTH}x{HEIGHT})")
    print(f"render: {plot:.1f} ms; floor (zlib of the blank frame): {floor:.2f} ms; ratio {plot / floor:.0f}x")
    print(f"peak memory while rendering: {peak / 1024:.0f} KiB; importing the renderer: +{imported} KiB resident")


if __name__ == "__main__":
    main()
