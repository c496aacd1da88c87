"""Time one collector cycle against N simulated measurers through Mosquitto, beside a raw paho floor.

The floor is the same exchange with nothing of labmon in it: one paho client publishes N inquiries,
N paho clients answer each with a prepared payload the size of a labmon result, and the asker waits for
all N. Both sides use TCP_NODELAY and the same QoS as labmon's clients (the first inquiry at QoS 1, the
others at QoS 0, results at QoS 1), so the ratio is labmon's own cost. labmon's measurers read their
instruments for every inquiry (min_inquiry_interval = 0s; the bench checks that they did), and its
collector judges each cycle with five rules. The measurers and the raw responders run in child processes
of their own, at most --per-process (10) in each, as measurers run on other machines: a hundred clients
sharing one interpreter mostly measure their wait for its lock, the longer the more Python an answer runs;
both sides are split alike. The collector and the asker take turns in the bench's process. Floor and
labmon run alternately, round by round, against the same broker, so both see the same machine. Beside
the medians of wall time it prints each side's CPU per round: the asking process's (during that side's
rounds) + its answerers' processes'.
Run: .venv/bin/python bench/cycle.py [--rounds 100] [--sizes 1,10,100] [--per-process 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from labmon.broker import PrivateBroker
from labmon.config import load_config
from labmon.messages import encode_result
from labmon.models import Reading, Result
from labmon.mqtt import no_delay
from labmon.plugins import collect, get_plugin_manager
from labmon_collector.service import Collector
from labmon_measurer.service import Measurer

MEASURER = """
[broker]
port = {port}
[measurer]
name = "{name}"
min_inquiry_interval = "0s"
[measurer.instruments.laser]
type = "sim"
signal = "laser-lock"
reading = "lock_error"
unit = "V"
level = 0.05
noise = 0.01
[measurer.instruments.oven]
type = "sim"
signal = "sine"
reading = "temperature"
unit = "degC"
level = 350
"""

COLLECTOR = """
[broker]
port = {port}
[collector]
interval = "60s"
reply_timeout = "30s"
measurers = {names}
[collector.notifiers.console]
type = "console"
stream = "stderr"
[[collector.rules]]
name = "laser-unlocked"
select = "*/laser/lock_error"
above = 0.5
for = "2m"
[[collector.rules]]
name = "oven-band"
select = "*/oven/temperature"
outside = [200, 500]
[[collector.rules]]
name = "errors"
select = "*"
error = true
[[collector.rules]]
name = "stale"
select = "*"
stale = "10m"
[[collector.rules]]
name = "offline"
select = "*"
offline = true
"""

INQUIRY = b'{"labmon":1,"type":"inquiry","id":"x","sent_at":0}'
ANSWER = encode_result(
    Result(
        "0123456789abcdef",
        "bench000",
        1.7e9,
        (
            Reading("lock_error", 0.0512, "V", instrument="laser"),
            Reading("temperature", 351.25, "degC", instrument="oven"),
        ),
    )
)
"""The raw responders' answer: a labmon result of the same readings, so both move the same bytes."""


def start_measurers(port: int, names: range, workdir: Path) -> list[Measurer]:
    """Start the measurers numbered `names`, reading sim instruments; return them once connected."""
    registry = collect(get_plugin_manager())
    measurers = []
    for i in names:
        path = workdir / f"bench{i}.toml"
        path.write_text(MEASURER.format(port=port, name=f"bench{i}"))
        measurers.append(Measurer(load_config(path, registry)))
    for measurer in measurers:
        measurer.start()
    for measurer in measurers:
        measurer.client.connected.wait(30)
    return measurers


def start_responders(host: str, port: int, names: range) -> list[mqtt.Client]:
    """Start the bare paho clients numbered `names`, answering each inquiry with ANSWER; return them once subscribed."""
    responders = []
    for i in names:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-responder-{i}", protocol=mqtt.MQTTv5)
        subscribed = threading.Event()
        client.on_message = lambda c, _u, _m, i=i: c.publish(f"raw/{i}/results", ANSWER, qos=1)
        client.on_subscribe = lambda *_a, e=subscribed: e.set()
        client.on_connect = lambda c, *_a, i=i: c.subscribe(f"raw/{i}/inquiries", qos=1)
        client.on_socket_open = no_delay
        client.connect(host, port)
        client.loop_start()
        subscribed.wait(30)
        responders.append(client)
    return responders


def serve(kind: str, host: str, port: int, names: range) -> None:
    """A child process: measurers or raw responders; print their CPU time from "go" until stdin closes."""
    logging.basicConfig(level=logging.ERROR)  # "no inquiry yet" while the collector starts
    with tempfile.TemporaryDirectory() as workdir:
        measurers = start_measurers(port, names, Path(workdir)) if kind == "measurers" else []
        responders = start_responders(host, port, names) if kind == "responders" else []
        print("ready", flush=True)
        sys.stdin.readline()
        started = cpu_seconds()
        sys.stdin.read()
        spent = cpu_seconds() - started
        for client in responders:
            client.loop_stop()
            client.disconnect()
        for measurer in measurers:
            measurer.stop()
        print(json.dumps({"cpu": spent, "reads": sorted({measurer.reads for measurer in measurers})}), flush=True)


def cpu_seconds() -> float:
    """Return this process's CPU time so far, all threads, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LabmonSide:
    """The collector, with rules, asking N measurers."""

    def __init__(self, broker: PrivateBroker, n: int, workdir: Path) -> None:
        path = workdir / "collector.toml"
        names = [f"bench{i}" for i in range(n)]
        path.write_text(COLLECTOR.format(port=broker.port, names=names).replace("'", '"'))
        self.collector = Collector(load_config(path, collect(get_plugin_manager())))
        self.collector.start()
        self.collector.wait_connected(30)
        self.cycles = 0
        self.round()  # warm-up: instruments open on their first read

    def round(self) -> None:
        """Run one collector cycle; every measurer must have answered it."""
        self.cycles += 1
        batch = self.collector.run_cycle(self.cycles)
        assert not batch.missing, batch.missing

    def close(self) -> None:
        self.collector.stop()


class RawSide:
    """One bare paho client asking N raw responders: the floor."""

    def __init__(self, broker: PrivateBroker, n: int) -> None:
        self.n = n
        self.asker = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw-asker", protocol=mqtt.MQTTv5)
        self.received = threading.Semaphore(0)
        ready = threading.Event()
        self.asker.on_message = lambda *_a: self.received.release()
        self.asker.on_subscribe = lambda *_a: ready.set()
        self.asker.on_connect = lambda c, *_a: c.subscribe([(f"raw/{i}/results", 1) for i in range(n)])
        self.asker.on_socket_open = no_delay
        self.asker.connect(broker.host, broker.port)
        self.asker.loop_start()
        ready.wait(30)
        self.round()  # warm-up, as labmon's

    def round(self) -> None:
        """Ask every responder once, at labmon's QoS (see BrokerClient.publish_each), and wait for all the answers."""
        for i in range(self.n):
            self.asker.publish(f"raw/{i}/inquiries", INQUIRY, qos=1 if i == 0 else 0)
        for _ in range(self.n):
            assert self.received.acquire(timeout=30), "a raw responder did not answer"

    def close(self) -> None:
        self.asker.loop_stop()
        self.asker.disconnect()


@dataclass
class Times:
    """One side's wall time per round and its CPU time in all (the asking process's share, then its answerers')."""

    wall: list[float] = field(default_factory=list)
    cpu: float = 0.0
    answerers_cpu: float = 0.0


def alternate(raw: RawSide, ours: LabmonSide, rounds: int) -> tuple[Times, Times]:
    """Time each floor round and each labmon cycle, run alternately (order swapped each time)."""
    floor, labmon = Times(), Times()
    for number in range(rounds):
        pair = [(raw.round, floor), (ours.round, labmon)]
        for step, times in pair if number % 2 else reversed(pair):
            cpu, started = cpu_seconds(), time.perf_counter()
            step()
            times.wall.append(time.perf_counter() - started)
            times.cpu += cpu_seconds() - cpu
    return floor, labmon


class Answerers:
    """Child processes of measurers or raw responders, at most `per_process` in each."""

    def __init__(self, kind: str, broker: PrivateBroker, n: int, per_process: int) -> None:
        self.children: list[subprocess.Popen[str]] = []
        for first in range(0, n, per_process):
            names = [str(first), str(min(n, first + per_process))]
            argv = [sys.executable, __file__, "--serve", kind, broker.host, str(broker.port), *names]
            self.children.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for child in self.children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready", f"the {kind} did not start"

    def go(self) -> None:
        """Start counting their CPU time."""
        for child in self.children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()

    def stop(self) -> tuple[float, list[int]]:
        """Stop them; return their CPU time since `go`, all processes together, and the measurers' read counts."""
        cpu, reads = 0.0, set[int]()
        for child in self.children:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.close()
            spent = json.loads(child.stdout.readline())
            cpu += spent["cpu"]
            reads.update(spent["reads"])
        return cpu, sorted(reads)

    def wait(self) -> None:
        """Wait for the processes to end."""
        for child in self.children:
            child.wait(60)


def measure(broker: PrivateBroker, n: int, rounds: int, per_process: int, workdir: Path) -> tuple[Times, Times]:
    """Time floor and labmon with `n` answerers each, the measurers and the responders in processes of their own."""
    measurers = Answerers("measurers", broker, n, per_process)
    responders = Answerers("responders", broker, n, per_process)
    try:
        raw, ours = RawSide(broker, n), LabmonSide(broker, n, workdir)
        measurers.go()
        responders.go()
        try:
            floor, labmon = alternate(raw, ours, rounds)
        finally:
            raw.close()
            ours.close()
        labmon.answerers_cpu, reads = measurers.stop()
        floor.answerers_cpu, _ = responders.stop()
        assert reads == [ours.cycles], f"the measurers read {reads} times in {ours.cycles} cycles"
    finally:
        measurers.wait()
        responders.wait()
    return floor, labmon


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        kind, host, port, first, stop = sys.argv[2:7]
        serve(kind, host, int(port), range(int(first), int(stop)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # At 20 rounds the medians of rounds of about 1 ms swung by a third between runs minutes apart.
    parser.add_argument("--rounds", type=int, default=100, help="rounds of each side per size")
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--per-process", type=int, default=10, help="measurers (and responders) per child process")
    args = parser.parse_args()
    print(
        f"medians of {args.rounds} alternating rounds, at most {args.per_process} answerers per process;"
        " CPU per round: the asking process + the answerers'"
    )
    print(row("measurers", "labmon cycle", "raw paho", "ratio", "CPU labmon", "CPU raw paho"))
    with PrivateBroker() as broker, tempfile.TemporaryDirectory() as workdir:
        for n in (int(s) for s in args.sizes.split(",")):
            floor, labmon = measure(broker, n, args.rounds, args.per_process, Path(workdir))
            ours, raw = statistics.median(labmon.wall), statistics.median(floor.wall)
            cpu = [
                f"{t.cpu / args.rounds * 1000:.2f} + {t.answerers_cpu / args.rounds * 1000:.2f} ms"
                for t in (labmon, floor)
            ]
            print(row(str(n), f"{ours * 1000:.2f} ms", f"{raw * 1000:.2f} ms", f"{ours / raw:.2f}x", *cpu))


def row(*cells: str) -> str:
    """Return one line of the table, each cell right-aligned in its column."""
    return "  ".join(f"{cell:>{width}}" for cell, width in zip(cells, (9, 12, 9, 5, 19, 19), strict=True))


if __name__ == "__main__":
    main()
