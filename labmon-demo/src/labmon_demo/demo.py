"""`labmon demo`: a private broker, three simulated optical tables and a collector, as separate processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click
import tomli_w

from labmon.broker import BrokerUnavailable, PrivateBroker, free_port
from labmon.config import BrokerConfig
from labmon.messages import ONLINE, Topics
from labmon.mqtt import BrokerClient
from labmon.times import parse_duration

TABLES: dict[str, dict[str, dict[str, Any]]] = {
    "table1": {
        "laser1": {
            "type": "sim",
            "signal": "laser-lock",
            "reading": "lock_error",
            "unit": "V",
            "level": 0.05,
            "amplitude": 1.0,
            "noise": 0.01,
            "seed": 1,
            "unlock_every": "45s",
            "unlock_for": "15s",
        },
        "laser2": {
            "type": "sim",
            "signal": "laser-lock",
            "reading": "lock_error",
            "unit": "V",
            "level": 0.04,
            "noise": 0.01,
            "seed": 2,
        },
    },
    "table2": {
        "pump": {
            "type": "sim",
            "signal": "random-walk",
            "reading": "pressure",
            "unit": "Torr",
            "level": 1e-9,
            "amplitude": 2e-11,
            "seed": 3,
        },
        "oven": {
            "type": "sim",
            "signal": "sine",
            "reading": "temperature",
            "unit": "degC",
            "level": 350.0,
            "amplitude": 2.0,
            "period": "2m",
        },
    },
    "table3": {
        "cavity": {
            "type": "sim",
            "signal": "sine",
            "reading": "transmission",
            "unit": "V",
            "level": 1.0,
            "amplitude": 0.05,
            "period": "30s",
        },
        "thermocouple": {
            "type": "sim",
            "reading": "temperature",
            "unit": "degC",
            "level": 21.5,
            "noise": 0.05,
            "fail_every": 7,
            "seed": 4,
        },
    },
}


def page_port(preferred: int = 8080) -> int:
    """Return `preferred` if it is free on 127.0.0.1, else any free port (another lab may run there)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def demo_configs(
    port: int, workdir: Path, interval: str, scope_port: int | None, web_port: int = 8080
) -> dict[str, dict[str, Any]]:
    """Return the demo's node configs (as TOML-ready dicts) keyed by file stem."""
    seconds = parse_duration(interval)
    broker = {"host": "127.0.0.1", "port": port}
    tables = {name: dict(instruments) for name, instruments in TABLES.items()}
    if scope_port is not None:
        tables["table1"]["scope"] = {
            "type": "rigol",
            "resource": f"TCPIP0::127.0.0.1::{scope_port}::SOCKET",
            "metrics": ["peak_presence", "jitter", "peak_count"],
            "traces": 20,
            "min_presence": 0.1,  # unlocked, the peak is there in ~30% of traces: jitter stays a value to watch
        }
    configs: dict[str, dict[str, Any]] = {
        name: {"broker": broker, "measurer": {"name": name, "instruments": instruments}}
        for name, instruments in tables.items()
    }
    configs["collector"] = {
        "broker": broker,
        "collector": {
            "interval": interval,
            "reply_timeout": f"{min(2.0, seconds * 0.6):g}s",
            "data_dir": str(workdir / "data"),
            "measurers": list(TABLES),
            "sinks": {
                "history": {"type": "sqlite", "path": str(workdir / "history.sqlite")},
                "console": {"type": "console"},
            },
            "notifiers": {"console": {"type": "console"}},
            "web": {"listen": f"127.0.0.1:{web_port}"},
            "rules": [
                {
                    "name": "laser-unlocked",
                    "select": "*/laser*/lock_error",
                    "above": 0.5,
                    "for": f"{2 * seconds:g}s",
                    "severity": "critical",
                },
                {"name": "pump-pressure", "select": "table2/pump/pressure", "above": 5e-9, "for": "1m"},
                {"name": "oven-cold", "select": "table2/oven/temperature", "below": 340.0, "for": "1m"},
                {
                    "name": "scope-lock-jitter",
                    "select": "*/scope/ch1_jitter",
                    "above": 5e-8,
                    "for": f"{2 * seconds:g}s",
                    "severity": "critical",
                },
                {
                    "name": "scope-peak-lost",
                    "select": "*/scope/ch1_peak_presence",
                    "below": 0.9,
                    "for": f"{2 * seconds:g}s",
                    "severity": "critical",
                },
            ],
        },
    }
    return configs


def _wait_online(broker: PrivateBroker, measurers: list[str], timeout: float = 30.0) -> None:
    """Wait until every measurer has announced itself, so the first cycle is not a false alarm."""
    online = {name: threading.Event() for name in measurers}
    client = BrokerClient(BrokerConfig(host=broker.host, port=broker.port), "labmon-demo-watch")
    for name, event in online.items():

        def on_status(_topic: str, payload: bytes, event: threading.Event = event) -> None:
            if payload == ONLINE:
                event.set()

        client.subscribe(Topics("labmon", name).status, on_status)
    client.start()
    deadline = time.monotonic() + timeout
    for event in online.values():
        event.wait(max(0.0, deadline - time.monotonic()))
    client.stop()


def _start_scope(port: int) -> subprocess.Popen[bytes]:
    """Start the Rigol emulator (labmon-rigol's command) and return once it listens."""
    command = [sys.executable, "-m", "labmon", "rigol-emulator", "--port", str(port), "--unlock-every", "70s"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    assert process.stderr is not None
    process.stderr.readline()  # it says where it listens once it does
    return process


def run_demo(*, cycles: int | None, interval: str, with_scope: bool) -> int:
    """Run the demo until Ctrl-C or `cycles` collector cycles; return the collector's exit code.

    With labmon-rigol installed (`with_scope`), table1 also reads an emulated Rigol scope whose laser
    unlocks for 20 of every 70 seconds: the peak goes missing from most traces and wanders in the rest.
    """
    try:
        parse_duration(interval)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    workdir = Path(tempfile.mkdtemp(prefix="labmon-demo-"))
    try:
        broker = PrivateBroker().start()
    except BrokerUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    processes: list[subprocess.Popen[bytes]] = []
    scope_port = free_port() if with_scope else None
    web_port = page_port()
    try:
        if scope_port is not None:
            processes.append(_start_scope(scope_port))
        for stem, config in demo_configs(broker.port, workdir, interval, scope_port, web_port).items():
            path = workdir / f"{stem}.toml"
            path.write_text(tomli_w.dumps(config), encoding="utf-8")
            role = "collector" if stem == "collector" else "measurer"
            extra = ["--cycles", str(cycles)] if role == "collector" and cycles else []
            command = [sys.executable, "-m", "labmon", "--log-level", "warning", role, str(path), *extra]
            if role == "collector":
                _wait_online(broker, list(TABLES))
            processes.append(subprocess.Popen(command))
        click.echo(f"labmon demo: broker on 127.0.0.1:{broker.port}, configs and history in {workdir}; Ctrl-C stops")
        click.echo(f"labmon demo: the status page is at http://127.0.0.1:{web_port}/")
        return processes[-1].wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        broker.stop()
        click.echo(f"labmon demo: stopped; the readings are in {workdir / 'history.sqlite'}")
