"""The status page at 500 series: the bytes of one poll, and the server's CPU for three open pages.

A history of 50 measurers x 10 series is served by `labmon web` (the page's own server and view, in a
process of its own so its CPU can be read from /proc). Each round one series gets a new reading (as a
cycle of a lab where one thing changes), then three pages poll /api/overview as the browser does: gzip
accepted, with the token of their last poll. The floor is a request for the page's smallest static file,
alternated round by round with the polls: what any HTTP answer costs this server. The CPU for three pages
is the CPU per poll times three polls per poll period (half the collector's interval, 1 to 10 s).
Run: .venv/bin/python bench/page.py [--rounds 30] [--interval 10]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import tomli_w

from labmon.broker import free_port
from labmon.models import Batch, Reading, Result
from labmon_collector.alerting.alertstore import AlertStore
from labmon_collector.history.writer import HistoryConfig, HistorySink

MEASURERS, SERIES = 50, 10
TICKS = os.sysconf("SC_CLK_TCK")


def answer(measurer: str, t: float, value: float) -> Result:
    """One measurer's ten readings."""
    readings = tuple(Reading(f"v{j}", value + j, "V", instrument=f"dev{j}") for j in range(SERIES))
    return Result("q", measurer, t, readings)


def changed_readings(names: list[str], count: int, t: float, value: float) -> tuple[Result, ...]:
    """Return new readings for the first `count` series, measurer by measurer."""
    results = []
    for i, measurer in enumerate(names[: (count + SERIES - 1) // SERIES]):
        readings = [
            Reading(f"v{j}", value + j, "V", instrument=f"dev{j}") for j in range(min(SERIES, count - i * SERIES))
        ]
        results.append(Result("q", measurer, t, tuple(readings)))
    return tuple(results)


def get(url: str) -> tuple[bytes, int]:
    """GET `url` accepting gzip; return the decoded body and the bytes that crossed the wire."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        raw = reply.read()
        zipped = reply.headers.get("Content-Encoding") == "gzip"
    return (gzip.decompress(raw) if zipped else raw), len(raw)


def cpu_seconds(pid: int) -> float:
    """Return the user and system CPU seconds of process `pid`, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--interval", type=float, default=10.0, help="the collector's interval, seconds")
    parser.add_argument("--changing", type=int, default=1, help="series with a new reading each round (1 to 500)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="labmon-page-bench-"))
    names = [f"rack{i:02d}" for i in range(MEASURERS)]
    port = free_port()
    config = {
        "broker": {"host": "127.0.0.1", "port": 1883},
        "collector": {
            "interval": f"{args.interval}s",
            "reply_timeout": f"{args.interval / 2}s",
            "measurers": names,
            "data_dir": str(folder / "data"),
            "sinks": {"history": {"type": "sqlite", "path": str(folder / "history.sqlite")}},
            "web": {"listen": f"127.0.0.1:{port}"},
        },
    }
    (folder / "labmon.toml").write_text(tomli_w.dumps(config))
    sink = HistorySink(HistoryConfig(path=folder / "history.sqlite"))
    now = time.time() - 300
    for cycle in range(30):  # sparklines with some history
        t = now + cycle * args.interval
        sink.write(Batch(cycle, t, tuple(answer(m, t, 0.01 * cycle) for m in names), ()))
    (folder / "data").mkdir()
    store = AlertStore(folder / "data" / "alerts.sqlite")
    server = subprocess.Popen(
        [sys.executable, "-m", "labmon", "web", str(folder / "labmon.toml")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        if not server.stdout.readline():  # "labmon web: ... (Ctrl-C stops)": listening
            raise SystemExit("labmon web did not start (see above)")
        base = f"http://127.0.0.1:{port}"
        full, full_wire = get(base + "/api/overview")
        tokens = [json.loads(full)["since"]] * 3
        poll_cpu, floor_cpu, sizes, changed = [], [], [], []
        for number in range(args.rounds + 2):
            t = time.time()
            sink.write(Batch(1000 + number, t, changed_readings(names, args.changing, t, 0.5 + 0.01 * number), ()))
            store.note(last_cycle_at=t)
            started = cpu_seconds(server.pid)
            for page in range(3):
                body, wire = get(f"{base}/api/overview?since={tokens[page]}")
                data = json.loads(body)
                tokens[page] = data["since"]
                if number >= 2:  # the first two rounds: the other series turn "missing" once
                    sizes.append(wire)
                    changed.append(len(data["tiles"]))
            polled = cpu_seconds(server.pid)
            for _ in range(3):
                get(base + "/static/favicon.svg")
            if number >= 2:
                poll_cpu.append((polled - started) / 3)
                floor_cpu.append((cpu_seconds(server.pid) - polled) / 3)
        period = min(10.0, max(1.0, args.interval / 2))
        per_poll, floor = statistics.mean(poll_cpu), statistics.mean(floor_cpu)
        print(f"{MEASURERS * SERIES} series, {args.changing} changing per round, {args.rounds} rounds of 3 polls")
        print(f"first load: {len(full) / 1024:.0f} kB JSON, {full_wire / 1024:.1f} kB gzipped on the wire")
        print(
            f"poll: median {statistics.median(sizes) / 1024:.2f} kB on the wire (max {max(sizes) / 1024:.2f} kB),"
            f" {statistics.median(changed):.0f} tile(s) sent; goal <= 100 kB with one series changing"
        )
        print(
            f"server CPU per poll: {per_poll * 1000:.2f} ms; floor (a static file): {floor * 1000:.2f} ms;"
            f" ratio {per_poll / floor if floor else float('inf'):.1f}x (CPU clock ticks: {1000 / TICKS:.0f} ms)"
        )
        share = 3 * per_poll / period * 100
        print(f"3 open pages, one poll each every {period:.0f} s: {share:.2f}% of a core; goal < 2%")
    finally:
        server.terminate()
        server.wait(10)
        sink.close()
        store.close()


if __name__ == "__main__":
    main()
