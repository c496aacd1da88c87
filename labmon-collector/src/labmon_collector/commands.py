"""The collector's subcommands: `labmon collector` and `labmon status`."""

from __future__ import annotations

import signal
import threading
import time

import click

from labmon import hookimpl
from labmon.cli import load_node_config
from labmon.durations import format_duration
from labmon.models import Alert
from labmon.outbox import Outbox
from labmon_collector.service import Collector, PluginStartError


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--once", is_flag=True, help="Run one cycle; exit 1 if any measurer did not answer.")
@click.option("--cycles", type=click.IntRange(min=1), default=None, help="Stop after N cycles.")
def collector(config: str, once: bool, cycles: int | None) -> None:
    """Poll CONFIG's measurers every interval, store their readings and raise alerts."""
    node = load_node_config(config, "collector")
    try:
        service = Collector(node)
    except PluginStartError as exc:
        raise click.ClickException(str(exc)) from None
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    service.start()
    try:
        last = service.run(cycles=1 if once else cycles, stop=stopping)
    except KeyboardInterrupt:
        last = None
    finally:
        service.stop()
    if once and last is not None and last.missing:
        raise click.ClickException(f"no reply from {', '.join(last.missing)}")


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
def status(config: str) -> None:
    """Show each sink's and notifier's backlog, oldest pending item and last error."""
    node = load_node_config(config, "collector")
    assert node.collector is not None
    path = node.collector.data_dir / "outbox.sqlite"
    if not path.exists():
        raise click.ClickException(f"no outbox at {path}: the collector has not run with this config yet")
    outbox = Outbox(path)
    now = time.time()
    for target in outbox.status():
        age = format_duration(now - target.oldest) if target.oldest is not None else "-"
        state = f"PAUSED ({target.paused})" if target.paused else "delivering"
        click.echo(
            f"{target.target:<28} backlog {target.backlog:>6}  oldest {age:>8}  delivered {target.delivered:>7}"
            f"  dropped {target.dropped:>5}  {state}"
        )
        if target.last_error:
            click.echo(f"    last error: {target.last_error}")
    outbox.close()


@click.command("notify-test")
@click.argument("config", type=click.Path(dir_okay=False))
def notify_test(config: str) -> None:
    """Send a test alert through every notifier of CONFIG now (not through the outbox); exit 1 if any fails."""
    node = load_node_config(config, "collector")
    assert node.collector is not None
    if not node.collector.notifiers:
        raise click.ClickException(f"{config} configures no notifiers")
    now = time.time()
    alert = Alert(
        rule="labmon-test",
        state="firing",
        series="test/notifier/check",
        message="labmon test notification: if you can read this, alerts reach you",
        severity="info",
        since=now,
        at=now,
    )
    failed = []
    for entry in node.collector.notifiers:
        try:
            notifier = entry.cls(entry.config)
            notifier.notify(alert)
            notifier.close()
        except Exception as exc:
            failed.append(entry.name)
            click.echo(f"{entry.name} ({entry.type}): FAILED: {exc}", err=True)
        else:
            click.echo(f"{entry.name} ({entry.type}): sent")
    if failed:
        raise click.ClickException(f"could not notify through {', '.join(failed)}")


@hookimpl
def labmon_register_commands(cli: click.Group) -> None:
    cli.add_command(collector)
    cli.add_command(status)
    cli.add_command(notify_test)
