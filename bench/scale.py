"""What one collector cycle costs as the lab grows: N measurers x 10 readings, 10 wildcard rules, the sqlite sink.

One responder process (a bare paho client on `labmon/+/inquiries`) answers every inquiry with a prepared
result for that measurer, so it stands in for N measurers and the collector's own cost is what is measured.
For N = 10, 100, 1000 it prints: cycle wall time (median); the collector's CPU per cycle, from the inquiries
until the sqlite sink has stored the batch (this process, all threads: the collector runs in-process, the
responder does not): its mean, median and max, and max over median (the cycle that closes a history window
should cost little more than the others); readings per CPU-second (from the mean); the sink's drain time after
the cycle (median); and the floor: the CPU a bare paho client spends on the same exchange (N inquiries out at
QoS 0, N results in at QoS 1, each parsed with json.loads), run before and after the collector (median of
both), with the collector's ratio to it (mean over floor).
Goals: the collector at most 2x the floor at N = 1000, on a new history and a grown one (--warm 200: 2 M
readings), no cycle above 2x the median; and >= 50,000 readings per CPU-second (N = 1000 in <= 0.2 s), linear in N.
With `--inquire all` the collector asks everyone with one inquiry (and the floor client does the same).
The cycles run back to back, but their times are a minute apart (the collector's clock advances an interval
per cycle), so the history's ten-minute windows close every ten cycles as in a lab. With `--warm W`, W cycles
run first and are not counted: the history file grows as in a lab's first hours.
Run: .venv/bin/python bench/scale.py [--sizes 10,100,1000] [--cycles 10] [--inquire each|all] [--warm W]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from labmon.config import load_config
from labmon.mqtt import INQUIRY_QOS, QOS, no_delay
from labmon.plugins import collect, get_plugin_manager
from labmon.testing import PrivateBroker
from labmon_collector.service import Collector

READINGS = 10
INTERVAL = 60.0

# The responder: N measurers in one process. It answers with each measurer's prepared result, the
# inquiry id and its clock's time spliced in (a measured_at days off would raise the collector's clock
# alert), for all N at an inquiry to everyone, and says "ready" once subscribed.
RESPONDER = """
import json, sys, threading, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, n, readings = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def result(name):
    items = [{"instrument": f"i{k // 2}", "name": f"r{k % 2}", "value": 1.0 + k, "unit": "V", "status": "ok",
              "error": None} for k in range(readings)]
    body = json.dumps({"labmon": 1, "type": "result", "inquiry_id": "@ID@", "measurer": name,
                       "measured_at": "@AT@", "readings": items}, separators=(",", ":"))
    head, rest = body.split("@ID@")
    middle, tail = rest.split('"@AT@"')
    return head, middle, tail
prepared = {f"m{i:04d}": result(f"m{i:04d}") for i in range(n)}
ready = threading.Event()
def on_connect(client, userdata, flags, reason, properties):
    client.subscribe([("labmon/+/inquiries", 1), ("labmon/inquiries", 1)])
def on_subscribe(client, userdata, mid, reasons, properties):
    print("ready", flush=True)
def on_message(client, userdata, message):
    inquiry = json.loads(message.payload)
    asked = prepared if message.topic == "labmon/inquiries" else [message.topic.split("/")[1]]
    for name in asked:
        head, middle, tail = prepared[name]
        client.publish(f"labmon/{name}/results", f"{head}{inquiry['id']}{middle}{time.time()}{tail}", qos=1)
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-responder", protocol=mqtt.MQTTv5)
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect("127.0.0.1", port)
client.loop_forever()
"""

RULES = "\n".join(
    f"""[[collector.rules]]
name = "rule{k}"
select = "*/i{k % 5}/r{k % 2}"
above = {100 + k}
for = "1m"
"""
    for k in range(10)
)


def config(workdir: Path, port: int, n: int, inquire: str = "each") -> Path:
    """Write a collector config polling N measurers; return its path."""
    names = ", ".join(f'"m{i:04d}"' for i in range(n))
    path = workdir / f"collector-{n}.toml"
    path.write_text(
        f"""[broker]
port = {port}
[collector]
interval = "{INTERVAL:g}s"
reply_timeout = "30s"
inquire = "{inquire}"
data_dir = "data-{n}"
measurers = [{names}]
[collector.sinks.history]
type = "sqlite"
path = "history-{n}.sqlite"
[collector.notifiers.log]
type = "console"
stream = "stderr"
{RULES}"""
    )
    return path


def responder(broker: PrivateBroker, n: int) -> subprocess.Popen[str]:
    """Start the responder for N measurers and return it once it is subscribed."""
    process = subprocess.Popen(
        [sys.executable, "-c", RESPONDER, str(broker.port), str(n), str(READINGS)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def measure(
    broker: PrivateBroker, workdir: Path, n: int, cycles: int, inquire: str, warm: int = 0
) -> tuple[float, list[float], float]:
    """Return the median cycle wall time, the collector's CPU of each cycle (sink included), median sink drain time.

    The first `warm` cycles (and always the first) are run but not counted.
    """
    answering = responder(broker, n)
    # Cycle times a minute apart, as in a lab, though the cycles run back to back: the history's windows
    # close as they would, every ten cycles.
    ticks, start = itertools.count(), time.time()
    collector = Collector(
        load_config(config(workdir, broker.port, n, inquire), collect(get_plugin_manager())),
        clock=lambda: start + INTERVAL * next(ticks),
    )
    collector.start()
    courier = collector.couriers["sink:history"]
    walls, cpus, drains = [], [], []
    try:
        collector.wait_connected(10)
        for number in range(1, warm + cycles + 2):
            wall, cpu = time.perf_counter(), time.process_time()
            batch = collector.run_cycle(number)
            walls.append(time.perf_counter() - wall)
            assert not batch.missing, f"{len(batch.missing)} measurers missing: raise reply_timeout"
            drained = time.perf_counter()
            assert courier.idle.wait(60)
            drains.append(time.perf_counter() - drained)
            cpus.append(time.process_time() - cpu)
    finally:
        collector.stop()
        answering.terminate()
        answering.wait()
    # the first cycle warms caches and creates tables: leave it out
    kept = slice(warm + 1, None)
    return statistics.median(walls[kept]), cpus[kept], statistics.median(drains[kept])


def floor(broker: PrivateBroker, n: int, cycles: int, inquire: str) -> list[float]:
    """Return the CPU of each cycle of a bare paho client doing the collector's exchange (MQTT v5, its QoS each)."""
    answering = responder(broker, n)
    received: list[object] = []
    done, subscribed = threading.Event(), threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        received.append(json.loads(message.payload))
        if len(received) == n:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-floor", protocol=mqtt.MQTTv5)
    client.on_message, client.on_socket_open = on_message, no_delay
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    cpus = []
    try:
        client.subscribe("labmon/+/results", qos=QOS)
        assert subscribed.wait(10)
        for number in range(cycles + 1):
            received.clear()
            done.clear()
            cpu = time.process_time()
            inquiry = json.dumps({"labmon": 1, "type": "inquiry", "id": f"{number:032x}", "sent_at": time.time()})
            topics = ["labmon/inquiries"] if inquire == "all" else [f"labmon/m{i:04d}/inquiries" for i in range(n)]
            for topic in topics:
                client.publish(topic, inquiry, qos=INQUIRY_QOS)
            assert done.wait(60), f"{len(received)} of {n} results"
            cpus.append(time.process_time() - cpu)
    finally:
        client.disconnect()
        client.loop_stop()
        answering.terminate()
        answering.wait()
    return cpus[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--cycles", type=int, default=10, help="cycles counted (10: one ten-minute window)")
    parser.add_argument("--inquire", choices=("each", "all"), default="each", help="the collector's `inquire` setting")
    parser.add_argument("--warm", type=int, default=0, help="cycles run first and not counted (the history grows)")
    args = parser.parse_args()
    print(f"inquire = {args.inquire!r}" + (f"; {args.warm} cycles first, not counted" if args.warm else ""))
    columns = (
        "measurers", "readings", "cycle wall", "CPU mean", "median", "max", "max/med", "readings/CPU-s",
        "sink drain", "floor CPU", "ratio",
    )  # fmt: skip
    widths = (9, 9, 11, 9, 7, 7, 7, 15, 11, 10, 6)
    print(" ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    sizes = [int(s) for s in args.sizes.split(",")]
    # Mosquitto queues at most max_queued_messages (default 1000) for a client still busy with earlier ones,
    # and drops the rest: past about 1000 measurers answering at once, results are lost (see the README).
    queued = "" if max(sizes) <= 1000 else f"max_queued_messages {20 * max(sizes)}"
    if queued:
        print(f"broker: {queued} (Mosquitto's default of 1000 drops results of more measurers than that)")
    with PrivateBroker(extra_config=queued) as broker, tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            before = floor(broker, n, args.cycles, args.inquire)
            wall, cpus, drain = measure(broker, Path(tmp), n, args.cycles, args.inquire, args.warm)
            bare = statistics.median(before + floor(broker, n, args.cycles, args.inquire))
            readings = n * READINGS
            cpu, median, most = statistics.mean(cpus), statistics.median(cpus), max(cpus)
            print(
                f"{n:>9} {readings:>9} {wall:>10.3f}s {cpu:>8.3f}s {median:>6.3f}s {most:>6.3f}s {most / median:>6.1f}x"
                f" {readings / cpu:>15,.0f} {drain:>10.3f}s {bare:>9.3f}s {cpu / bare:>5.2f}x"
            )


if __name__ == "__main__":
    main()
