"""What one collector cycle costs as the lab grows: N measurers x 10 readings, 10 wildcard rules, the sqlite sink.

One responder process (a bare paho client on `labmon/+/inquiries`) answers every inquiry with a prepared
result for that measurer, so it stands in for N measurers and the collector's own cost is what is measured.
For N = 10, 100, 1000 it prints: cycle wall time, collector CPU per cycle (this process: the collector runs
in-process, the responder does not), readings per CPU-second, and the time the sqlite sink took to drain
the cycle's batch from the outbox. Goal: >= 50,000 readings per CPU-second (N = 1000 in <= 0.2 s), linear in N.
Run: .venv/bin/python bench/scale.py [--sizes 10,100,1000] [--cycles 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labmon.config import load_config
from labmon.plugins import collect, get_plugin_manager
from labmon.testing import PrivateBroker
from labmon_collector.service import Collector

READINGS = 10

# The responder: N measurers in one process. It answers with each measurer's prepared result, the
# inquiry id spliced in, and says "ready" once subscribed.
RESPONDER = """
import json, sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, n, readings = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def result(name):
    items = [{"instrument": f"i{k // 2}", "name": f"r{k % 2}", "value": 1.0 + k, "unit": "V", "status": "ok",
              "error": None} for k in range(readings)]
    body = json.dumps({"labmon": 1, "type": "result", "inquiry_id": "@ID@", "measurer": name,
                       "measured_at": 0.0, "readings": items}, separators=(",", ":"))
    return body.split("@ID@")
prepared = {f"m{i:04d}": result(f"m{i:04d}") for i in range(n)}
ready = threading.Event()
def on_connect(client, userdata, flags, reason, properties):
    client.subscribe("labmon/+/inquiries", qos=1)
def on_subscribe(client, userdata, mid, reasons, properties):
    print("ready", flush=True)
def on_message(client, userdata, message):
    name = message.topic.split("/")[1]
    inquiry = json.loads(message.payload)
    head, tail = prepared[name]
    client.publish(f"labmon/{name}/results", f"{head}{inquiry['id']}{tail}", qos=1)
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


def config(workdir: Path, port: int, n: int) -> Path:
    """Write a collector config polling N measurers; return its path."""
    names = ", ".join(f'"m{i:04d}"' for i in range(n))
    path = workdir / f"collector-{n}.toml"
    path.write_text(
        f"""[broker]
port = {port}
[collector]
interval = "60s"
reply_timeout = "30s"
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


def measure(broker: PrivateBroker, workdir: Path, n: int, cycles: int) -> tuple[float, float, float]:
    """Return the medians of cycle wall time, collector CPU per cycle and sink drain time for N measurers."""
    responder = subprocess.Popen(
        [sys.executable, "-c", RESPONDER, str(broker.port), str(n), str(READINGS)], stdout=subprocess.PIPE, text=True
    )
    assert responder.stdout is not None and responder.stdout.readline().strip() == "ready"
    collector = Collector(load_config(config(workdir, broker.port, n), collect(get_plugin_manager())))
    collector.start()
    courier = collector.couriers["sink:history"]
    walls, cpus, drains = [], [], []
    try:
        collector.wait_connected(10)
        for number in range(1, cycles + 2):
            wall, cpu = time.perf_counter(), time.process_time()
            batch = collector.run_cycle(number)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            assert not batch.missing, f"{len(batch.missing)} measurers missing: raise reply_timeout"
            drained = time.perf_counter()
            courier.idle.wait(60)
            drains.append(time.perf_counter() - drained)
    finally:
        collector.stop()
        responder.terminate()
        responder.wait()
    # the first cycle warms caches and creates tables: leave it out
    return statistics.median(walls[1:]), statistics.median(cpus[1:]), statistics.median(drains[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--cycles", type=int, default=5)
    args = parser.parse_args()
    columns = ("measurers", "readings", "cycle wall", "CPU/cycle", "readings/CPU-s", "sink drain")
    print(" ".join(f"{c:>{w}}" for c, w in zip(columns, (9, 9, 11, 10, 15, 11), strict=True)))
    with PrivateBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            wall, cpu, drain = measure(broker, Path(tmp), n, args.cycles)
            readings = n * READINGS
            print(f"{n:>9} {readings:>9} {wall:>10.3f}s {cpu:>9.3f}s {readings / cpu:>15,.0f} {drain:>10.3f}s")


if __name__ == "__main__":
    main()
