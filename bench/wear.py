"""What the collector writes to its disk per day (an SD card's wear) for a lab, beside the size of the data itself.

A lab of `--measurers` tables with `--readings` sim readings each answers a collector (one process of its own)
that keeps the SQLite history and polls every `--interval` of lab time. The collector's clock runs faster than
the wall, so `--cycles` cycles stand for hours of lab time with the history's ten-minute windows closing as
often per cycle as in a real lab. The bytes written come from the kernel (`write_bytes` in /proc/PID/io: what
reached the block layer: every journal and WAL page, checkpoint and fsync'd page), counted from the first cycle
to the collector's clean stop (its last checkpoint included). The data itself: what the history file grew by, and
the readings' bare size (a float and a time, 16 bytes each). The goal: written <= 2x the history's growth.
It also says how many replies came later than the bench's short reply timeout: on a loaded machine a missed
reply changes the alert state (a series' last valid time), so compare runs that missed few.
Run: .venv/bin/python bench/wear.py [--measurers 20] [--readings 10] [--interval 10] [--cycles 720] [--flush-every 0s]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from labmon.broker import PrivateBroker
from labmon.config import load_config
from labmon.plugins import collect, get_plugin_manager

DAY = 86400.0
WALL_INTERVAL = 0.1
"""Seconds of wall time per cycle: the measurers answer in a few ms, so the bench takes cycles * 0.1 s."""


def write_bytes() -> int:
    """Return the bytes this process has caused to be written to storage so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/self/io (a kernel without task I/O accounting)")


def child(config: Path, cycles: int, speed: float) -> None:
    """Run the collector for `cycles` cycles on a clock `speed` times the wall's; print what it wrote."""
    from labmon_collector.service import Collector

    settings = load_config(config, collect(get_plugin_manager()))
    start_wall, start_lab = time.monotonic(), time.time()
    collector = Collector(settings, clock=lambda: start_lab + (time.monotonic() - start_wall) * speed, announce=False)
    collector.start()
    history = settings.collector.data_dir / "history.sqlite"  # type: ignore[union-attr]
    collector.run(cycles=1)  # the files are made and the series known: what follows is the steady state
    before, size_before = write_bytes(), _size(history)
    collector.run(cycles=cycles)
    collector.stop()
    figures = {"written": write_bytes() - before, "grown": _size(history) - size_before, "missed": _missed(history)}
    print(json.dumps(figures))


def _missed(path: Path) -> int:
    """Return how many times a measurer's reply came too late (a loaded machine: the alert state's churn)."""
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT COUNT(*) FROM missing").fetchone()[0])


def _size(path: Path) -> int:
    """Return the bytes the history's data takes (its pages, whether still in the WAL or in the file)."""
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        pages, size = db.execute("PRAGMA page_count").fetchone()[0], db.execute("PRAGMA page_size").fetchone()[0]
    return int(pages * size)


CONFIG = """
[broker]
port = {port}
[collector]
interval = "{wall}s"
reply_timeout = "{reply}s"
data_dir = "{data}"
measurers = {names}
[collector.sinks.history]
type = "sqlite"
path = "{data}/history.sqlite"
flush_every = "{flush}"
[collector.notifiers.console]
type = "console"
[[collector.rules]]
name = "hot"
select = "*"
above = 1000.0
for = "30s"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measurers", type=int, default=20)
    parser.add_argument("--readings", type=int, default=10)
    parser.add_argument("--interval", type=float, default=10.0, help="lab seconds per cycle")
    parser.add_argument("--cycles", type=int, default=720, help="720 cycles of 10 s: two hours of lab time")
    parser.add_argument("--flush-every", default="0s", help="the history sink's flush_every (durability for wear)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    speed = args.interval / WALL_INTERVAL
    if args.child is not None:
        child(args.child, args.cycles, speed)
        return
    from labmon_measurer.service import Measurer

    registry = collect(get_plugin_manager())
    with tempfile.TemporaryDirectory(dir=Path.home()) as folder, PrivateBroker() as broker:
        root = Path(folder)
        names = [f"table{i}" for i in range(args.measurers)]
        measurers = []
        for name in names:
            path = root / f"{name}.toml"
            sims = "".join(
                f'[measurer.instruments.r{j}]\ntype = "sim"\nsignal = "sine"\nlevel = {j}\nperiod = "1h"\n'
                for j in range(args.readings)
            )
            path.write_text(
                f'[broker]\nport = {broker.port}\n[measurer]\nname = "{name}"\nmin_inquiry_interval = "0s"\n{sims}'
            )
            measurer = Measurer(load_config(path, registry))
            measurer.start()
            measurers.append(measurer)
        config = root / "collector.toml"
        config.write_text(
            CONFIG.format(
                port=broker.port,
                wall=WALL_INTERVAL,
                reply=WALL_INTERVAL * 0.8,
                data=root / "data",
                names=names,
                flush=args.flush_every,
            )
        )
        run = [sys.executable, __file__, "--child", str(config), "--cycles", str(args.cycles)]
        run += ["--interval", str(args.interval)]
        done = subprocess.run(run, capture_output=True, text=True, check=True)
        for measurer in measurers:
            measurer.stop()
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    per_day = DAY / (args.interval * args.cycles)
    written, grown = figures["written"] * per_day, figures["grown"] * per_day
    bare = args.measurers * args.readings * 16 * DAY / args.interval
    print(
        f"lab: {args.measurers} tables x {args.readings} readings every {args.interval:g} s; {args.cycles} cycles;"
        f" history flush_every = {args.flush_every}"
    )
    print(f"written to disk per day:   {written / 1e6:8.1f} MB")
    print(f"history grown per day:     {grown / 1e6:8.1f} MB   (written / grown = {written / grown:.2f})")
    print(f"bare readings per day:     {bare / 1e6:8.1f} MB   (written / bare  = {written / bare:.2f})")
    # A reply later than the bench's short reply timeout (a loaded machine) is a measurer missing: each changes the
    # alert state (its series' last valid times), so the figure is only comparable between runs that missed little.
    asked = args.measurers * (args.cycles + 1)
    print(f"replies missed (too late): {figures['missed']} of {asked}")
    for card in (8, 32):  # GB; TLC cells take about 3000 writes; a card's own write amplification: 1 (ideal) to 10
        years = card * 1e9 * 3000 / written / 365
        print(f"a {card} GB card (3000 writes per cell) lasts {years:,.0f} years ideally, {years / 10:,.0f} at 10x")


if __name__ == "__main__":
    main()
