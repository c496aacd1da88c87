"""Time one collector cycle against N simulated measurers through Mosquitto, beside a raw paho floor.

The floor is the same exchange with nothing of labmon in it: one paho client publishes N inquiries,
N paho clients answer each with a prepared payload the size of a labmon result, and the asker waits for
all N. Both sides use TCP_NODELAY, as labmon's clients do, so the ratio is labmon's own cost. labmon's
measurers read their instruments for every inquiry (min_inquiry_interval = 0s; the bench checks that
they did), and its collector judges each cycle with five rules. The measurers and the raw responders
run in a child process, as measurers run on other machines: the collector's process holds only the
collector, the asker's only the asker. Floor and labmon run alternately, round by round, against the
same broker, so both see the same machine.
Run: .venv/bin/python bench/cycle.py [--rounds 20] [--sizes 1,10,100]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
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


def start_measurers(port: int, n: int, workdir: Path) -> list[Measurer]:
    """Start `n` measurers reading sim instruments; return them once connected."""
    registry = collect(get_plugin_manager())
    measurers = []
    for i in range(n):
        path = workdir / f"bench{i}.toml"
        path.write_text(MEASURER.format(port=port, name=f"bench{i}"))
        measurers.append(Measurer(load_config(path, registry)))
    for measurer in measurers:
        measurer.start()
    for measurer in measurers:
        measurer.client.connected.wait(30)
    return measurers


def start_responders(host: str, port: int, n: int) -> list[mqtt.Client]:
    """Start `n` bare paho clients that answer each inquiry with ANSWER; return them once subscribed."""
    responders = []
    for i in range(n):
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


def serve(host: str, port: int, n: int) -> None:
    """The child process: N measurers and N raw responders until stdin closes; then print the read counts."""
    logging.basicConfig(level=logging.ERROR)  # "no inquiry yet" while the collector starts
    with tempfile.TemporaryDirectory() as workdir:
        measurers = start_measurers(port, n, Path(workdir))
        responders = start_responders(host, port, n)
        print("ready", flush=True)
        sys.stdin.read()
        for client in responders:
            client.loop_stop()
            client.disconnect()
        for measurer in measurers:
            measurer.stop()
        print(json.dumps(sorted({measurer.reads for measurer in measurers})), flush=True)


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
        """Ask every responder once and wait for all the answers."""
        for i in range(self.n):
            self.asker.publish(f"raw/{i}/inquiries", INQUIRY, qos=1)
        for _ in range(self.n):
            assert self.received.acquire(timeout=30), "a raw responder did not answer"

    def close(self) -> None:
        self.asker.loop_stop()
        self.asker.disconnect()


def alternate(raw: RawSide, ours: LabmonSide, rounds: int) -> tuple[list[float], list[float]]:
    """Return the seconds of each floor round and each labmon cycle, run alternately (order swapped each time)."""
    floors, cycles = [], []
    for number in range(rounds):
        pair = [(raw.round, floors), (ours.round, cycles)]
        for step, times in pair if number % 2 else reversed(pair):
            started = time.perf_counter()
            step()
            times.append(time.perf_counter() - started)
    return floors, cycles


def measure(broker: PrivateBroker, n: int, rounds: int, workdir: Path) -> tuple[float, float]:
    """Return the median floor round and labmon cycle, in seconds, with `n` measurers in a child process."""
    argv = [sys.executable, __file__, "--serve", broker.host, str(broker.port), str(n)]
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready", "the measurers' process did not start"
        raw, ours = RawSide(broker, n), LabmonSide(broker, n, workdir)
        try:
            floors, cycles = alternate(raw, ours, rounds)
        finally:
            raw.close()
            ours.close()
        child.stdin.close()
        reads = json.loads(child.stdout.readline())
        assert reads == [ours.cycles], f"the measurers read {reads} times in {ours.cycles} cycles"
    finally:
        child.wait(60)
    return statistics.median(floors), statistics.median(cycles)


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        host, port, n = sys.argv[2:5]
        serve(host, int(port), int(n))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sizes", default="1,10,100")
    args = parser.parse_args()
    print(f"{'measurers':>9}  {'labmon cycle':>13}  {'raw paho':>10}  {'ratio':>6}   (medians of {args.rounds} rounds)")
    with PrivateBroker() as broker, tempfile.TemporaryDirectory() as workdir:
        for n in (int(s) for s in args.sizes.split(",")):
            floor, cycle = measure(broker, n, args.rounds, Path(workdir))
            print(f"{n:>9}  {cycle * 1000:>10.2f} ms  {floor * 1000:>7.2f} ms  {cycle / floor:>5.2f}x")


if __name__ == "__main__":
    main()
