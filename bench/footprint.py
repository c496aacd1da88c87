"""What labmon costs a Pi at start and at rest, each figure beside a floor measured in the same run.

- `labmon --help` wall time with every plugin installed, beside `python -c pass`.
- Idle RSS after --idle seconds of a sim-only measurer and of a collector with the sqlite sink, beside a
  bare paho client connected to the same broker (the least any MQTT node in Python can cost).
- Which heavy modules (numpy, pyvisa, requests, ...) each process imported, from its own sys.modules.
Goals (2-core build machine): --help <= 0.25 s, sim measurer <= 35 MB, collector <= 40 MB.
Run: .venv/bin/python bench/footprint.py [--runs 15] [--idle 30]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labmon.testing import PrivateBroker

HEAVY = ("numpy", "pyvisa", "pyvisa_py", "requests", "urllib3", "discord_webhook", "serial", "usb")

# Runs a module as __main__ and, at a clean exit (SIGTERM -> the services stop and return), writes the
# heavy modules it imported to the file named by LABMON_BENCH_MODULES.
WRAPPER = """
import atexit, json, os, runpy, sys
def dump():
    heavy = sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(os.environ['LABMON_BENCH_HEAVY'])))
    with open(os.environ['LABMON_BENCH_MODULES'], 'w') as f:
        json.dump(heavy, f)
atexit.register(dump)
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)
"""

PAHO_FLOOR = """
import sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-floor", protocol=mqtt.MQTTv5)
client.connect("127.0.0.1", int(sys.argv[1]))
client.loop_start()
threading.Event().wait()
"""

MEASURER = """[broker]
port = {port}
[measurer]
name = "bench-table"
[measurer.instruments.laser]
type = "sim"
signal = "laser-lock"
reading = "lock_error"
unit = "V"
"""

COLLECTOR = """[broker]
port = {port}
[collector]
interval = "2s"
reply_timeout = "1s"
data_dir = "data"
measurers = ["bench-table"]
[collector.sinks.history]
type = "sqlite"
path = "history.sqlite"
"""


# As installed on a Pi: pip writes bytecode at install time, so a run never compiles source (some shells
# here set PYTHONDONTWRITEBYTECODE, which would make every run compile every module).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(command: list[str], runs: int) -> float:
    """Return the median wall time of `command` over `runs` runs, after one warm-up run that writes bytecode."""
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=ENV)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=ENV)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def rss_mb(pid: int) -> float:
    """Return a process's resident set size in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def idle(port: int, workdir: Path, seconds: float) -> dict[str, tuple[float, list[str] | None]]:
    """Start the floor, a measurer and a collector; after `seconds` return each one's RSS and heavy modules."""
    (workdir / "measurer.toml").write_text(MEASURER.format(port=port))
    (workdir / "collector.toml").write_text(COLLECTOR.format(port=port))
    env = {**ENV, "LABMON_BENCH_HEAVY": json.dumps(HEAVY)}
    commands = {
        "paho floor": ([sys.executable, "-c", PAHO_FLOOR, str(port)], None),
        "sim measurer": ([sys.executable, "-c", WRAPPER, "labmon", "measurer", "measurer.toml"], "m.json"),
        "collector (sqlite)": ([sys.executable, "-c", WRAPPER, "labmon", "collector", "collector.toml"], "c.json"),
    }
    processes = {}
    for name, (command, dump) in commands.items():
        process_env = {**env, "LABMON_BENCH_MODULES": str(workdir / dump)} if dump else env
        processes[name] = subprocess.Popen(command, cwd=workdir, env=process_env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # the processes are meant to sit idle this long: that is the measurement
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        dead = [name for name, p in processes.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited early")
    found: dict[str, tuple[float, list[str] | None]] = {}
    for name, process in processes.items():
        found[name] = (rss_mb(process.pid), None)
        process.send_signal(signal.SIGTERM)
    for name, process in processes.items():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        dump = commands[name][1]
        if dump and (workdir / dump).exists():
            found[name] = (found[name][0], json.loads((workdir / dump).read_text()))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    labmon = str(Path(sys.executable).with_name("labmon"))
    floor = wall([sys.executable, "-c", "pass"], args.runs)
    helped = wall([labmon, "--help"], args.runs)
    probe = [sys.executable, "-c", WRAPPER, "labmon", "--help"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**ENV, "LABMON_BENCH_HEAVY": json.dumps(HEAVY), "LABMON_BENCH_MODULES": f"{tmp}/h.json"}
        subprocess.run(probe, env=env, stdout=subprocess.DEVNULL)
        help_heavy = json.loads(Path(f"{tmp}/h.json").read_text())
        with PrivateBroker() as broker:
            rest = idle(broker.port, Path(tmp), args.idle)
    print(f"{'what':<22} {'labmon':>10} {'floor':>10} {'ratio':>7}  goal      heavy modules imported")
    shown_help = help_heavy or "none"
    print(f"{'labmon --help':<22} {helped:>9.3f}s {floor:>9.3f}s {helped / floor:>6.1f}x  <= 0.25s  {shown_help}")
    floor_rss = rest["paho floor"][0]
    for name, goal in (("sim measurer", 35), ("collector (sqlite)", 40)):
        rss, heavy = rest[name]
        shown = "none" if heavy == [] else heavy if heavy else "(not recorded)"
        print(f"{name:<22} {rss:>8.1f}MB {floor_rss:>8.1f}MB {rss / floor_rss:>6.2f}x  <= {goal} MB  {shown}")


if __name__ == "__main__":
    main()
