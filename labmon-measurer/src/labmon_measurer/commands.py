"""The measurer's subcommands: `labmon measurer` and `labmon read`."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import asdict

import click

from labmon import hookimpl
from labmon.cli import load_node_config
from labmon.sampling import InstrumentRunner, read_all
from labmon_measurer.service import Measurer


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
def measurer(config: str) -> None:
    """Answer the collector's inquiries with the readings of CONFIG's instruments."""
    node = load_node_config(config, "measurer")
    service = Measurer(node)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    service.start()
    click.echo(
        f"measurer {service.name}: {len(service.runners)} instrument(s), listening on {service.topics.inquiries}",
        err=True,
    )
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per reading.")
def read(config: str, as_json: bool) -> None:
    """Read CONFIG's instruments once, here, without MQTT, and print the readings."""
    node = load_node_config(config, "measurer")
    assert node.measurer is not None
    runners = [InstrumentRunner(entry) for entry in node.measurer.instruments]
    readings = read_all(runners)
    for runner in runners:
        runner.close()
    for r in readings:
        if as_json:
            click.echo(json.dumps(asdict(r)))
        elif r.status == "ok":
            click.echo(f"{r.key:<30} {r.value:.6g} {r.unit}".rstrip())
        else:
            click.echo(f"{r.key:<30} ERROR {r.error}")
    if any(r.status == "error" for r in readings):
        raise SystemExit(1)


@hookimpl
def labmon_register_commands(cli: click.Group) -> None:
    cli.add_command(measurer)
    cli.add_command(read)
