"""Time one collector cycle against N simulated measurers through Mosquitto, beside a raw paho floor.

The floor is the same exchange with nothing of labmon in it: one paho client publishes N inquiries,
N paho clients answer each with a prepared result-sized payload, and the asker waits for all N. Both
sides use TCP_NODELAY, as labmon's clients do, so the ratio is labmon's own cost.
Run: .venv/bin/python bench/cycle.py [--rounds 20] [--sizes 1,10,100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from labmon.broker import PrivateBroker
from labmon.config import load_config
from labmon.mqtt import no_delay
from labmon.plugins import collect, get_plugin_manager
from labmon_collector.service import Collector
from labmon_measurer.service import Measurer

MEASURER = """
[broker]
port = {port}
[measurer]
name = "{name}"
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
"""


def labmon_cycles(broker: PrivateBroker, n: int, rounds: int, workdir: Path) -> list[float]:
    """Return the seconds each of `rounds` collector cycles took against `n` measurers."""
    registry = collect(get_plugin_manager())
    names = [f"bench{i}" for i in range(n)]
    measurers = []
    for name in names:
        path = workdir / f"{name}.toml"
        path.write_text(MEASURER.format(port=broker.port, name=name))
        measurers.append(Measurer(load_config(path, registry)))
    for measurer in measurers:
        measurer.start()
    for measurer in measurers:
        measurer.client.connected.wait(30)
    path = workdir / "collector.toml"
    path.write_text(COLLECTOR.format(port=broker.port, names=names).replace("'", '"'))
    collector = Collector(load_config(path, registry))
    collector.start()
    collector.wait_connected(30)
    collector.run_cycle(0)  # warm-up: instruments open on their first read
    took = []
    for number in range(1, rounds + 1):
        started = time.perf_counter()
        batch = collector.run_cycle(number)
        took.append(time.perf_counter() - started)
        assert not batch.missing, batch.missing
    collector.stop()
    for measurer in measurers:
        measurer.stop()
    return took


def raw_cycles(broker: PrivateBroker, n: int, rounds: int) -> list[float]:
    """Return the seconds each of `rounds` bare paho request/response rounds took with `n` responders."""
    answer = b'{"labmon":1,"type":"result","readings":[' + b"0" * 300 + b"]}"
    responders = []
    for i in range(n):
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-responder-{i}", protocol=mqtt.MQTTv5)
        subscribed = threading.Event()
        client.on_message = lambda c, _u, m, i=i: c.publish(f"raw/{i}/results", answer, qos=1)
        client.on_subscribe = lambda *_a, e=subscribed: e.set()
        client.on_connect = lambda c, *_a, i=i: c.subscribe(f"raw/{i}/inquiries", qos=1)
        client.on_socket_open = no_delay
        client.connect(broker.host, broker.port)
        client.loop_start()
        subscribed.wait(30)
        responders.append(client)
    asker = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw-asker", protocol=mqtt.MQTTv5)
    received = threading.Semaphore(0)
    asker_ready = threading.Event()
    asker.on_message = lambda *_a: received.release()
    asker.on_subscribe = lambda *_a: asker_ready.set()
    asker.on_connect = lambda c, *_a: c.subscribe([(f"raw/{i}/results", 1) for i in range(n)])
    asker.on_socket_open = no_delay
    asker.connect(broker.host, broker.port)
    asker.loop_start()
    asker_ready.wait(30)
    took = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        for i in range(n):
            asker.publish(f"raw/{i}/inquiries", b'{"labmon":1,"type":"inquiry","id":"x","sent_at":0}', qos=1)
        for _ in range(n):
            received.acquire(timeout=30)
        took.append(time.perf_counter() - started)
    for client in [*responders, asker]:
        client.loop_stop()
        client.disconnect()
    return took[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sizes", default="1,10,100")
    args = parser.parse_args()
    print(f"{'measurers':>9}  {'labmon cycle':>13}  {'raw paho':>10}  {'ratio':>6}   (medians of {args.rounds} rounds)")
    with PrivateBroker() as broker, tempfile.TemporaryDirectory() as workdir:
        for n in (int(s) for s in args.sizes.split(",")):
            floor = statistics.median(raw_cycles(broker, n, args.rounds))
            ours = statistics.median(labmon_cycles(broker, n, args.rounds, Path(workdir)))
            print(f"{n:>9}  {ours * 1000:>10.2f} ms  {floor * 1000:>7.2f} ms  {ours / floor:>5.1f}x")


if __name__ == "__main__":
    main()
