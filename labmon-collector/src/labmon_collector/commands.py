"""The collector's subcommands: `labmon collector` and `labmon status`."""

from __future__ import annotations

import signal
import threading
import time

import click

from labmon import hookimpl
from labmon.cli import load_node_config
from labmon.config import CollectorConfig
from labmon.models import Alert
from labmon.rule_config import SELECTOR_FIX, selector_problem
from labmon.times import format_duration, parse_duration
from labmon_collector.alertstore import AlertStore, Silence
from labmon_collector.bridge import bridge_config
from labmon_collector.events import recent_lines
from labmon_collector.outbox import Outbox


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--once", is_flag=True, help="Run one cycle; exit 1 if any measurer did not answer.")
@click.option("--cycles", type=click.IntRange(min=1), default=None, help="Stop after N cycles.")
def collector(config: str, once: bool, cycles: int | None) -> None:
    """Poll CONFIG's measurers every interval, store their readings and raise alerts."""
    from labmon_collector.service import Collector, PluginStartError  # paho and the engines: not for --help

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
    """Show delivery backlogs, the state of every alert that is not inactive, and the silences."""
    settings = _settings(config)
    now = time.time()
    outbox_path = settings.data_dir / "outbox.sqlite"
    if not outbox_path.exists():
        raise click.ClickException(f"no outbox at {outbox_path}: the collector has not run with this config yet")
    outbox = Outbox(outbox_path)
    click.echo("delivery")
    for target in outbox.status():
        age = format_duration(now - target.oldest) if target.oldest is not None else "-"
        state = f"PAUSED ({target.paused})" if target.paused else "delivering"
        click.echo(
            f"  {target.target:<26} backlog {target.backlog:>6}  oldest {age:>8}  delivered {target.delivered:>7}"
            f"  dropped {target.dropped:>5}  {state}"
        )
        if target.last_error:
            click.echo(f"      last error: {target.last_error}")
    outbox.close()
    store = AlertStore(settings.data_dir / "alerts.sqlite")
    states, _ = store.load()
    silences = store.silences(now)
    store.close()
    click.echo("alerts" if states else "alerts: none pending or firing")
    for (rule, series), alert in sorted(states.items(), key=lambda item: item[0]):
        value = "-" if alert.last_value is None else f"{alert.last_value:g} {alert.unit}".strip()
        silenced = " (silenced)" if any(s.covers(series) for s in silences) else ""
        click.echo(
            f"  {rule:<24} {series:<36} {alert.state.upper():<8} since {format_duration(now - alert.since):>6}"
            f"  last {value}{silenced}"
        )
    _print_silences(silences, now)
    for line in recent_lines(settings.data_dir):  # issue 11: the alert history
        click.echo(line)


def _settings(config: str) -> CollectorConfig:
    collector = load_node_config(config, "collector").collector
    assert collector is not None
    return collector


def _print_silences(silences: list[Silence], now: float) -> None:
    click.echo("silences" if silences else "silences: none")
    for s in silences:
        click.echo(f"  #{s.id:<4} {s.selector:<30} ends in {format_duration(s.ends - now):>6}  {s.comment}")


@click.group()
def silence() -> None:
    """Keep matching alerts from notifying for a while (they still show in `labmon status`)."""


CONFIG_OPTION = click.option(
    "-c", "--config", envvar="LABMON_CONFIG", required=True, type=click.Path(dir_okay=False),
    help="The collector config (or set LABMON_CONFIG).",
)  # fmt: skip


@silence.command("add")
@CONFIG_OPTION
@click.argument("selector")
@click.option("--for", "duration", required=True, help='How long, e.g. "2h".')
@click.option("--comment", default="", help="Why, for whoever reads `labmon status`.")
def silence_add(config: str, selector: str, duration: str, comment: str) -> None:
    """Silence alerts whose series match SELECTOR (measurer/instrument/reading, * wildcards)."""
    problem = selector_problem(selector)
    if problem:
        raise click.BadParameter(f"{problem} ({SELECTOR_FIX})", param_hint="SELECTOR")
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    store = AlertStore(_settings(config).data_dir / "alerts.sqlite")
    now = time.time()
    silence_id = store.add_silence(selector, now, now + seconds, comment)
    store.close()
    click.echo(f"silence #{silence_id}: {selector} for {format_duration(seconds)}")


@silence.command("list")
@CONFIG_OPTION
def silence_list(config: str) -> None:
    """List the silences in force."""
    store = AlertStore(_settings(config).data_dir / "alerts.sqlite")
    now = time.time()
    _print_silences(store.silences(now), now)
    store.close()


@silence.command("remove")
@CONFIG_OPTION
@click.argument("silence_id", type=int)
def silence_remove(config: str, silence_id: int) -> None:
    """End silence SILENCE_ID now."""
    store = AlertStore(_settings(config).data_dir / "alerts.sqlite")
    removed = store.remove_silence(silence_id)
    store.close()
    if not removed:
        raise click.ClickException(f"no silence #{silence_id}")
    click.echo(f"silence #{silence_id} removed")


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
            click.echo(f"{entry.name} ({entry.type_name}): FAILED: {exc}", err=True)
        else:
            click.echo(f"{entry.name} ({entry.type_name}): sent")
    if failed:
        raise click.ClickException(f"could not notify through {', '.join(failed)}")


@hookimpl
def labmon_register_commands(cli: click.Group) -> None:
    cli.add_command(collector)
    cli.add_command(status)
    cli.add_command(notify_test)
    cli.add_command(silence)
    cli.add_command(bridge_config)
